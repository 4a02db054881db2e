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
  /// residual add reads each element before it writes it).
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

    /// Whether rows of `t` sit further apart than its columns (a column slice).
    public func stridesRows(_ t: TensorType) -> Bool { rowStride != t.shape[1] }
    /// Whether samples of `t` sit further apart than its rows span (a row slice): kernels that
    /// assume one for the other run one sample at a time.
    public func stridesSamples(_ t: TensorType) -> Bool { sampleStride != t.shape[0] * rowStride }
  }
}

/// The views `planMemory` makes beyond reshapes, decided before any lifetime is computed.
struct ViewPlan {
  var root: [ValueID: ValueID] = [:]
  var layout: [ValueID: MemoryPlan.Layout] = [:]
  var placed: Set<ValueID> = []
}

/// Two kinds of strided view (issue 3), both of per-sample rank-2 token values [N, C]:
/// - a `concat` along axis 0 that rebuilds exactly the rows of a buffer x —
///   `concat(slice(x, 0, 0, L), p)` with p the remaining rows — writes nowhere new: p's producer
///   writes straight into x's rows L..<N, the concat is x, provided nothing reads those rows of x
///   after p is written (p itself may, where its kernel writes over that operand in place);
/// - a `slice` is a view (pointer + offset, row and sample strides) when every reader can read
///   that layout, or is itself a slice that becomes a view, or is a concat made in place.
/// Roots are computed batched values in the transient arena, never inputs, parameters or
/// persistent values, and a strided view is never a graph output.
func planViews(_ graph: Graph, rules: ViewRules, eligible: (Node) -> Bool) -> ViewPlan {
  var readers: [ValueID: [(node: Node, operand: Int)]] = [:]
  for node in graph.nodes { for (i, o) in node.operands.enumerated() { readers[o, default: []].append((node, i)) } }
  let outputs = Set(graph.outputs.map(\.value))
  var plan = ViewPlan()

  func tokens(_ v: ValueID) -> Bool { graph[v].type.batched && graph[v].type.rank == 2 }
  func slice(_ node: Node) -> (axis: Int, start: Int, length: Int)? {
    guard case .slice(let axis, let start, let length) = node.op, let a = normalizeAxis(axis, rank: node.type.rank) else { return nil }
    return (a, start, length)
  }

  /// Whether nothing reads rows `rows` of x (directly, or through slices and reshapes of it)
  /// after p writes them, except p itself through an operand it may write over.
  func safeToWrite(rows: Range<Int>, of x: Node, by p: Node, until c: Node) -> Bool {
    var family: [(ValueID, Range<Int>)] = [(x.id, 0..<x.type.shape[0])]
    var i = 0
    while i < family.count {
      let (v, span) = family[i]
      i += 1
      if outputs.contains(v), span.overlaps(rows) { return false }
      for (reader, operand) in readers[v] ?? [] where reader.id != c.id && span.overlaps(rows) {
        if reader.id.raw > p.id.raw { return false }
        let exact = span == rows && v != x.id
        if reader.id == p.id, !(exact && rules.writesOver(p, operand)) { return false }
        if let s = slice(reader), s.axis == 0, v == x.id {
          family.append((reader.id, s.start..<s.start + s.length))
        } else if reader.op.isView || slice(reader) != nil {
          family.append((reader.id, span))
        }
      }
    }
    return true
  }

  // Concats made in place, and the value each places.
  var inPlace: Set<ValueID> = []
  for c in graph.nodes {
    guard case .concat(let axis) = c.op, normalizeAxis(axis, rank: c.type.rank) == 0, tokens(c.id), c.operands.count == 2 else { continue }
    let (a, p) = (graph[c.operands[0]], graph[c.operands[1]])
    guard let s = slice(a), s.axis == 0, s.start == 0, a.operands[0] != p.id else { continue }
    let x = graph[a.operands[0]]
    guard x.type == c.type, eligible(x), plan.root[x.id] == nil, eligible(p), p.id.raw > x.id.raw,
          !outputs.contains(p.id), readers[p.id]?.count == 1, rules.writesSampleStrided(p) else { continue }
    guard safeToWrite(rows: s.length..<x.type.shape[0], of: x, by: p, until: c) else { continue }
    let columns = x.type.shape[1]
    plan.root[p.id] = x.id
    plan.layout[p.id] = MemoryPlan.Layout(offset: s.length * columns, rowStride: columns, sampleStride: x.type.count)
    plan.placed.insert(p.id)
    plan.root[c.id] = x.id
    inPlace.insert(c.id)
  }

  /// The layout a slice of `v` would have, when v is (a view of) an eligible root.
  func layout(of node: Node) -> (ValueID, MemoryPlan.Layout)? {
    guard let s = slice(node), tokens(node.id) else { return nil }
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
  for node in graph.nodes where !roots.contains(node.id) {
    guard let (r, l) = layout(of: node), accepted(node, l) else { continue }
    plan.root[node.id] = r
    plan.layout[node.id] = l
  }
  return plan
}
