import LocusIR

/// `sink-row-selection` (flag `dead-ffn`): moves `index`/`slice` along the token axis of a value
/// [N, C] above the row-wise ops that produce it, so they compute only the selected rows. The
/// class token bypasses LocalViT's and CeiT's feed-forward (`concat(cls, ffn(p))`), so once the
/// head's `index(…, 0)` has moved into the `cls` operand of that concat, the last block's
/// feed-forward has no reader left and dead-code elimination removes it.
///
/// The pass is a backward demand analysis, then a forward rewrite. Each value is needed whole, or
/// only for one row selection (every reader wants the same rows), or not at all. A value needed
/// for rows only, whose op is row-wise, is rebuilt from the selected rows of its operands; other
/// values are copied, and a selection on them is emitted where a reader needs it. Nothing is
/// computed twice: a value some reader needs whole is never rebuilt for rows.
@Sendable func sinkRowSelection(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  let demand = rowDemand(g)
  var r = Rewriter(g)
  var rows: [ValueID: ValueID] = [:]  // value needed for rows only → the new value of those rows
  var emitted: [SelectionKey: ValueID] = [:]

  /// The new value of rows `s` of old value `v`.
  func selected(_ v: ValueID, _ s: RowSelection, like node: Node) throws -> ValueID {
    if demand[v] == .rows(s) { return rows[v]! }
    let key = SelectionKey(value: v, selection: s)
    if let done = emitted[key] { return done }
    let value = try r.add(s.op(axis: g[v].type.rank - 2), [r.operand(v)], like: node)
    emitted[key] = value
    return value
  }

  for node in g.nodes {
    switch demand[node.id] {
    case nil:  // read by nothing live; inputs stay, as part of the interface
      if case .input = node.op { r.copy(node) }
    case .all:
      if let s = RowSelection(node, in: g) {
        r.map[node.id] = try selected(node.operands[0], s, like: node)
        let producer = g[node.operands[0]]
        if demand[producer.id] == .rows(s), s.length < producer.type.shape[0] {
          let what = "\(s) moved above \(producer.op.mnemonic): the row-wise ops before it compute "
            + "\(s.length) of \(producer.type.shape[0]) rows"
          notes.append(FusionNote(pass: "sink-row-selection", scope: producer.scope, what: what))
        }
      } else {
        r.copy(node)
      }
    case .rows(let s):
      let plan = RowPlan(node, s, in: g)!
      let operands = try plan.operands.map { use in
        switch use.selection {
        case nil: r.operand(use.value)
        case let t?: try selected(use.value, t, like: node)
        }
      }
      var value = try plan.op.map { try r.add($0, operands, like: node) } ?? operands[0]
      if let shape = plan.viewShape { value = try r.add(.reshape(shape), [value], like: node) }
      let expected = s.type(of: node.type)
      guard r.new[value].type == expected else {
        throw RewriteError("\(s) of \(node.id) \(node.op.mnemonic) was rebuilt as \(r.new[value].type), not \(expected)")
      }
      rows[node.id] = value
    }
  }
  return r.finish()
}

/// Rows of a token value [N, C]: `index` (one row, the axis removed) or `slice`.
struct RowSelection: Hashable, CustomStringConvertible {
  var start: Int, length: Int
  var dropsAxis: Bool

  /// The selection `node` makes, when it is an `index`/`slice` on axis 0 of an activation [N, C].
  init?(_ node: Node, in g: Graph) {
    guard let x = node.operands.first, g[x].type.batched, g[x].type.rank == 2 else { return nil }
    switch node.op {
    case .index(let axis, let at) where normalizeAxis(axis, rank: 2) == 0: self.init(start: at, length: 1, dropsAxis: true)
    case .slice(let axis, let start, let length) where normalizeAxis(axis, rank: 2) == 0:
      self.init(start: start, length: length, dropsAxis: false)
    default: return nil
    }
  }

  init(start: Int, length: Int, dropsAxis: Bool) {
    self.start = start
    self.length = length
    self.dropsAxis = dropsAxis
  }

  /// The same rows counted from `offset` rows earlier (a slice that starts there, a concat operand).
  func shifted(by offset: Int) -> RowSelection { RowSelection(start: start + offset, length: length, dropsAxis: dropsAxis) }

  /// The rows as a slice, keeping the axis (what `sdpa` needs for its queries).
  var keepingAxis: RowSelection { RowSelection(start: start, length: length, dropsAxis: false) }

  /// The op that selects these rows from a value whose row axis is `axis`.
  func op(axis: Int) -> Op { dropsAxis ? .index(axis: axis, at: start) : .slice(axis: axis, start: start, length: length) }

  /// The type of these rows of a token value `t` [N, C].
  func type(of t: TensorType) -> TensorType {
    TensorType(dropsAxis ? [t.shape[1]] : [length, t.shape[1]], batched: t.batched, dtype: t.dtype)
  }

  var description: String { dropsAxis ? "index {at \(start)}" : "slice {start \(start), length \(length)}" }
}

/// How much of a value the live graph reads.
enum RowDemand: Hashable {
  case all
  case rows(RowSelection)
}

struct SelectionKey: Hashable {
  var value: ValueID
  var selection: RowSelection
}

/// How rows `s` of a row-wise node are computed from its operands.
struct RowPlan {
  struct Use {
    var value: ValueID
    /// nil: the operand is read whole (weights, keys and values, row-broadcast operands).
    var selection: RowSelection?
  }

  /// The op applied to the operands, or nil when the rows are the (single) operand's rows.
  var op: Op?
  var operands: [Use]
  /// A view applied to the result (`sdpa` computes one query row with its axis, `index` drops it).
  var viewShape: [Int]?

  /// nil when `node` is not row-wise in a way this pass knows, or not an activation [N, C].
  init?(_ node: Node, _ s: RowSelection, in g: Graph) {
    guard node.type.batched, node.type.rank == 2 else { return nil }
    let rowsOf = { (v: ValueID) in Use(value: v, selection: s) }
    let whole = { (v: ValueID) in Use(value: v, selection: nil) }
    op = node.op
    switch node.op {
    case .layernorm, .linear, .unary, .scalar:
      operands = [rowsOf(node.operands[0])] + node.operands.dropFirst().map(whole)
    case .fusedLinear(let a):
      operands = [rowsOf(node.operands[0])] + node.operands.dropFirst().map(whole)
      if a.hasResidual { operands[operands.count - 1] = rowsOf(node.operands[operands.count - 1]) }
    case .binary:
      var uses: [Use] = []
      for v in node.operands {
        guard let use = Self.rowAligned(v, s, rows: node.type.shape[0], in: g) else { return nil }
        uses.append(use)
      }
      operands = uses
    case .sdpa:
      // Output row i reads query row i and every key and value.
      operands = [Use(value: node.operands[0], selection: s.keepingAxis)] + node.operands.dropFirst().map(whole)
      if s.dropsAxis { viewShape = [node.type.shape[1]] }
    case .concat(let axis) where normalizeAxis(axis, rank: 2) == 0:
      var offset = 0
      var found: Use?
      for v in node.operands {
        let n = squeezedForBatch(g[v].type, toRank: 2)[0]
        if offset <= s.start, s.start + s.length <= offset + n, g[v].type.batched, g[v].type.rank == 2 {
          found = Use(value: v, selection: s.shifted(by: -offset))
        }
        offset += n
      }
      guard let found else { return nil }
      op = nil
      operands = [found]
    case .slice(let axis, let start, let length):
      switch normalizeAxis(axis, rank: 2) {
      case 0:
        op = nil
        operands = [Use(value: node.operands[0], selection: s.shifted(by: start))]
      default:  // a column range: row-wise; after an `index` the columns are axis 0
        op = .slice(axis: s.dropsAxis ? 0 : 1, start: start, length: length)
        operands = [rowsOf(node.operands[0])]
      }
    default:
      return nil
    }
  }

  /// How an operand of an elementwise op on [N, C] meets rows `s`: an operand [N, C] (or an
  /// unbatched [1, N, C]) gives the same rows; one that broadcasts along the rows ([C], [1, C]) is
  /// read whole, or, when `index` removes the row axis, its single row. nil: it does not broadcast
  /// that way.
  static func rowAligned(_ v: ValueID, _ s: RowSelection, rows n: Int, in g: Graph) -> Use? {
    let shape = squeezedForBatch(g[v].type, toRank: 2)
    switch shape.count {
    case 0, 1: return Use(value: v, selection: nil)
    case 2 where shape[0] == n: return Use(value: v, selection: s)
    case 2 where shape[0] == 1: return Use(value: v, selection: s.dropsAxis ? RowSelection(start: 0, length: 1, dropsAxis: true) : nil)
    default: return nil
    }
  }
}

/// The demand on every value the outputs depend on, computed from the readers backwards (every
/// reader of a value comes after it, so a value's demand is final when its node is reached).
func rowDemand(_ g: Graph) -> [ValueID: RowDemand] {
  var demand: [ValueID: RowDemand] = [:]
  func require(_ v: ValueID, _ wanted: RowDemand) {
    var d = wanted
    if case .rows(let s) = d, RowPlan(g[v], s, in: g) == nil { d = .all }  // not row-wise: computed whole
    if let old = demand[v], old != d { d = .all }
    demand[v] = d
  }
  for (_, v) in g.outputs { require(v, .all) }
  for node in g.nodes.reversed() {
    switch demand[node.id] {
    case nil: continue
    case .all:
      if let s = RowSelection(node, in: g) {
        require(node.operands[0], .rows(s))
      } else {
        for v in node.operands { require(v, .all) }
      }
    case .rows(let s):
      for use in RowPlan(node, s, in: g)!.operands { require(use.value, use.selection.map(RowDemand.rows) ?? .all) }
    }
  }
  return demand
}
