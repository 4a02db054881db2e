import LocusIR

/// Builds a new graph from an old one node by node, so a pass can replace a node (or a pattern
/// ending at it) by other nodes. Nodes not replaced are copied with their operands remapped; the
/// replaced originals stay behind only until dead-code elimination.
struct Rewriter {
  let old: Graph
  var new: Graph
  /// Old value → the new value that stands for it.
  var map: [ValueID: ValueID] = [:]
  /// How many nodes read each old value (outputs count as readers).
  let users: [ValueID: Int]
  /// Outputs a pass adds (new values), after the old ones.
  var extraOutputs: [(name: String, value: ValueID)] = []

  init(_ graph: Graph) {
    old = graph
    new = graph.emptyCopy()
    var users: [ValueID: Int] = [:]
    for node in graph.nodes { for o in node.operands { users[o, default: 0] += 1 } }
    for (_, v) in graph.outputs { users[v, default: 0] += 1 }
    self.users = users
  }

  /// The new value of an old operand.
  func operand(_ v: ValueID) -> ValueID { map[v]! }

  /// Copies `node` with its operands remapped.
  mutating func copy(_ node: Node) {
    map[node.id] = new.append(node.op, node.operands.map(operand), type: node.type, scope: node.scope, origin: node.origin)
  }

  /// Adds a new node (operands already new values), typed by its shape rule.
  mutating func add(_ op: Op, _ operands: [ValueID], like node: Node) throws -> ValueID {
    try new.add(op, operands, scope: node.scope, origin: node.origin)
  }

  /// The graph with outputs remapped.
  func finish() -> Graph {
    var g = new
    g.outputs = old.outputs.map { ($0.name, map[$0.value]!) } + extraOutputs
    return g
  }

  /// The old node that reads `v`, when exactly one does.
  func soleUser(of v: ValueID) -> Node? {
    guard users[v] == 1 else { return nil }
    return old.nodes.first { $0.operands.contains(v) }
  }

  func isUnbatched(_ v: ValueID) -> Bool { !old[v].type.batched }
}
