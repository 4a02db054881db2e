import LocusIR

/// Which strided views each node's kernel can read and write: the memory planner asks before it
/// turns a `slice` into a view or places a value straight into another's rows (`planViews`).
/// The default, `none`, makes no strided views (only reshapes share storage).
public struct ViewRules {
  /// Operand `i` of the node may have rows further apart than its columns (a column slice).
  public var readsStridedRows: (Node, Int) -> Bool
  /// Operand `i` may be a view whose samples are dense but further apart than their size (the
  /// node then runs one sample at a time).
  public var readsSampleStrided: (Node, Int) -> Bool
  /// The node may write its result through such a view (one sample at a time).
  public var writesSampleStrided: (Node) -> Bool
  /// The node's result may share its bytes, element for element, with operand `i` (an in-place
  /// residual add reads each element before it writes it): the planner then writes it there when
  /// nothing reads that operand afterwards.
  public var writesOver: (Node, Int) -> Bool

  public init(
    readsStridedRows: @escaping (Node, Int) -> Bool, readsSampleStrided: @escaping (Node, Int) -> Bool,
    writesSampleStrided: @escaping (Node) -> Bool, writesOver: @escaping (Node, Int) -> Bool
  ) {
    self.readsStridedRows = readsStridedRows
    self.readsSampleStrided = readsSampleStrided
    self.writesSampleStrided = writesSampleStrided
    self.writesOver = writesOver
  }

  public static var none: ViewRules {
    ViewRules(readsStridedRows: { _, _ in false }, readsSampleStrided: { _, _ in false },
              writesSampleStrided: { _ in false }, writesOver: { _, _ in false })
  }
}

extension MemoryPlan {
  /// Where a strided view of a per-sample [rows, columns] value sits in its root: each row's
  /// columns are contiguous.
  public struct Layout: Hashable, Sendable {
    /// Floats from the start of the root's first sample to the view's first element.
    public var offset: Int
    /// Floats between the starts of consecutive rows (the columns when rows are dense).
    public var rowStride: Int
    /// Floats between the starts of consecutive samples.
    public var sampleStride: Int

    /// Whether rows of `t` sit further apart than its columns (a column slice). A vector [C] (one
    /// row taken by `index`) has one row.
    public func stridesRows(_ t: TensorType) -> Bool { t.rank == 2 && rowStride != t.shape[1] }
    /// Whether samples of `t` sit further apart than its rows span (a row slice): kernels that
    /// assume one for the other run one sample at a time.
    public func stridesSamples(_ t: TensorType) -> Bool { sampleStride != (t.rank == 2 ? t.shape[0] : 1) * rowStride }
  }
}

/// The views `planMemory` makes beyond reshapes, decided before any lifetime is computed.
struct ViewPlan {
  var root: [ValueID: ValueID] = [:]
  var layout: [ValueID: MemoryPlan.Layout] = [:]
  var placed: Set<ValueID> = []
  /// Per concat, the operands that already sit in its rows: it copies only the others.
  var inPlaceOperands: [ValueID: Set<Int>] = [:]
}

/// Strided views of per-sample rank-2 token values [N, C] (and of their rows):
/// - a `concat` along axis 0 that rebuilds exactly the rows of a buffer x —
///   `concat(slice(x, 0, 0, L), p)` with p the remaining rows — writes nowhere new: p's producer
///   writes straight into x's rows L..<N, the concat is x, provided nothing reads those rows of x
///   after p is written (p itself may, where its kernel writes over that operand in place);
/// - any other `concat` along axis 0, or `stack` along axis 0 of token values, is a buffer of its
///   own, and each operand whose producer can write a per-sample view is computed straight into
///   its rows (the concat then copies only the others). An operand that is itself such a concat
///   moves into the outer one with everything placed in it, so a chain `concat(concat(a, b), c)` is
///   one buffer that a, b and c write;
/// - a `slice` (or an `index` of one row) is a view (pointer + offset, row and sample strides)
///   when every reader can read that layout, or is itself a slice that becomes a view, or is a
///   concat made in place.
/// Roots are computed batched values in the transient arena, never inputs, parameters or
/// persistent values, and a strided view is never a graph output.
func planViews(_ graph: Graph, rules: ViewRules, eligible: (Node) -> Bool) -> ViewPlan {
  var readers: [ValueID: [(node: Node, operand: Int)]] = [:]
  for node in graph.nodes { for (i, o) in node.operands.enumerated() { readers[o, default: []].append((node, i)) } }
  let outputs = Set(graph.outputs.map(\.value))
  var plan = ViewPlan()

  func tokens(_ v: ValueID) -> Bool { graph[v].type.batched && graph[v].type.rank == 2 }
  /// The part of its operand a `slice`, or an `index` (one row or column, the axis dropped), selects.
  func slice(_ node: Node) -> (axis: Int, start: Int, length: Int)? {
    switch node.op {
    case .slice(let axis, let start, let length):
      return normalizeAxis(axis, rank: node.type.rank).map { ($0, start, length) }
    case .index(let axis, let at):
      return normalizeAxis(axis, rank: node.type.rank + 1).map { ($0, at, 1) }
    default:
      return nil
    }
  }

  /// Whether nothing reads rows `rows` of x (directly, or through slices and reshapes of it, or
  /// through the values already placed in it) after p writes them, except p itself through an
  /// operand it may write over; and nothing placed in those rows is written after p.
  func safeToWrite(rows: Range<Int>, of x: Node, by p: Node, until c: Node) -> Bool {
    let columns = x.type.shape[1]
    var family: [(ValueID, Range<Int>)] = [(x.id, 0..<x.type.shape[0])]
    for (w, r) in plan.root where r == x.id {
      let span = plan.layout[w].map { $0.offset / columns..<$0.offset / columns + graph[w].type.count / columns } ?? 0..<x.type.shape[0]
      if plan.placed.contains(w), w.raw > p.id.raw, span.overlaps(rows) { return false }
      family.append((w, span))
    }
    var i = 0
    while i < family.count {
      let (v, span) = family[i]
      i += 1
      if outputs.contains(v), span.overlaps(rows) { return false }
      for (reader, operand) in readers[v] ?? [] where reader.id != c.id && span.overlaps(rows) {
        if reader.id.raw > p.id.raw { return false }
        let exact = span == rows && v != x.id
        if reader.id == p.id, !(exact && rules.writesOver(p, operand) && graph[v].type == p.type) { return false }
        if let s = slice(reader), s.axis == 0, v == x.id {
          family.append((reader.id, s.start..<s.start + s.length))
        } else if reader.op.isView || slice(reader) != nil {
          family.append((reader.id, span))
        }
      }
    }
    return true
  }

  /// `concat(slice(x, 0, 0, L), p)` rebuilding x: p is placed into x's rows L… and c is x.
  func rebuildInPlace(_ c: Node) -> Bool {
    guard c.operands.count == 2 else { return false }
    let (a, p) = (graph[c.operands[0]], graph[c.operands[1]])
    guard case .slice = a.op, let s = slice(a), s.axis == 0, s.start == 0, a.operands[0] != p.id else { return false }
    let x = graph[a.operands[0]]
    guard x.type == c.type, eligible(x), plan.root[x.id] == nil, eligible(p), p.id.raw > x.id.raw, plan.root[p.id] == nil,
          !plan.root.values.contains(p.id), !outputs.contains(p.id), readers[p.id]?.count == 1, rules.writesSampleStrided(p)
    else { return false }
    guard safeToWrite(rows: s.length..<x.type.shape[0], of: x, by: p, until: c) else { return false }
    let columns = x.type.shape[1]
    plan.root[p.id] = x.id
    plan.layout[p.id] = MemoryPlan.Layout(offset: s.length * columns, rowStride: columns, sampleStride: x.type.count)
    plan.placed.insert(p.id)
    plan.root[c.id] = x.id
    plan.inPlaceOperands[c.id] = [0, 1]
    return true
  }

  /// Whether `v` can be computed straight into rows of `c` (which reads it once): it is a
  /// computed token value that nothing else places and that places nothing but its own operands
  /// (a concat), its kernel writes a per-sample view (or it writes nothing: a concat whose every
  /// operand is in place), and every other reader reads one.
  func placeable(_ v: Node, into c: Node) -> Bool {
    guard eligible(v), tokens(v.id), v.type.shape[1] == c.type.shape.last, plan.root[v.id] == nil, !outputs.contains(v.id),
          c.operands.filter({ $0 == v.id }).count == 1 else { return false }
    let hosts = plan.inPlaceOperands[v.id]
    guard hosts != nil || !plan.root.values.contains(v.id) else { return false }
    guard hosts?.count == v.operands.count || rules.writesSampleStrided(v) else { return false }
    return (readers[v.id] ?? []).allSatisfy { $0.node.id == c.id || rules.readsSampleStrided($0.node, $0.operand) }
  }

  /// Any other concat c (or stack of token values): a buffer of its own, each placeable operand
  /// computed into its rows.
  func placeOperands(_ c: Node) {
    guard eligible(c), let columns = c.type.shape.last else { return }
    var row = 0
    for (i, v) in c.operands.enumerated() {
      defer { row += graph[v].type.count / columns }
      guard placeable(graph[v], into: c) else { continue }
      let l = MemoryPlan.Layout(offset: row * columns, rowStride: columns, sampleStride: c.type.count)
      for (w, r) in plan.root where r == v {  // what v holds moves with it
        var inner = plan.layout[w] ?? MemoryPlan.Layout(offset: 0, rowStride: columns, sampleStride: graph[v].type.count)
        inner.offset += l.offset
        inner.sampleStride = l.sampleStride
        plan.root[w] = c.id
        plan.layout[w] = inner
      }
      plan.root[v] = c.id
      plan.layout[v] = l
      if plan.inPlaceOperands[v]?.count != graph[v].operands.count { plan.placed.insert(v) }
      plan.inPlaceOperands[c.id, default: []].insert(i)
    }
  }

  // Concats, in graph order (a concat may hold an earlier one).
  var inPlace: Set<ValueID> = []
  for c in graph.nodes {
    switch c.op {
    case .concat(let axis) where normalizeAxis(axis, rank: c.type.rank) == 0 && tokens(c.id):
      if rebuildInPlace(c) { inPlace.insert(c.id) } else { placeOperands(c) }
    case .stack(let axis) where normalizeAxis(axis, rank: c.type.rank) == 0 && c.type.batched && c.operands.allSatisfy(tokens):
      // Stacking tokens [N, C] along a new axis 0 lays them out as their concat along axis 0.
      placeOperands(c)
    default:
      continue
    }
  }

  /// The layout a slice of `v` would have, when v is (a view of) an eligible root.
  func layout(of node: Node) -> (ValueID, MemoryPlan.Layout)? {
    guard let s = slice(node), tokens(node.operands[0]), tokens(node.id) || s.axis == 0 else { return nil }
    let v = node.operands[0]
    let source: (ValueID, MemoryPlan.Layout)
    if let l = plan.layout[v], let r = plan.root[v], !plan.placed.contains(v) {
      source = (r, l)
    } else if plan.root[v] == nil, eligible(graph[v]), tokens(v) {
      source = (v, MemoryPlan.Layout(offset: 0, rowStride: graph[v].type.shape[1], sampleStride: graph[v].type.count))
    } else if inPlace.contains(v), let r = plan.root[v] {
      source = (r, MemoryPlan.Layout(offset: 0, rowStride: graph[v].type.shape[1], sampleStride: graph[v].type.count))
    } else {
      return nil
    }
    var l = source.1
    l.offset += s.axis == 0 ? s.start * l.rowStride : s.start
    return (source.0, l)
  }

  /// Whether every reader of `v`, a view with layout `l`, can read it.
  func accepted(_ v: Node, _ l: MemoryPlan.Layout) -> Bool {
    guard !outputs.contains(v.id) else { return false }
    for (reader, operand) in readers[v.id] ?? [] {
      if inPlace.contains(reader.id), operand == 0 { continue }
      if slice(reader) != nil {
        guard let (_, inner) = withView(v.id, l, { layout(of: reader) }), accepted(reader, inner) else { return false }
        continue
      }
      if l.stridesRows(v.type), !rules.readsStridedRows(reader, operand) { return false }
      if l.stridesSamples(v.type), !rules.readsSampleStrided(reader, operand) { return false }
    }
    return true
  }

  /// `body` as if `v` were already a view with layout `l`.
  func withView<T>(_ v: ValueID, _ l: MemoryPlan.Layout, _ body: () -> T) -> T {
    let saved = plan
    plan.root[v] = layout(of: graph[v])?.0
    plan.layout[v] = l
    defer { plan = saved }
    return body()
  }

  let roots = Set(plan.root.values)
  for node in graph.nodes where !roots.contains(node.id) && plan.root[node.id] == nil {
    guard let (r, l) = layout(of: node), accepted(node, l) else { continue }
    plan.root[node.id] = r
    plan.layout[node.id] = l
  }
  return plan
}
