import LocusIR

/// `broadcast-operands` (training graphs, after differentiation): the gradient of a mean or a global
/// average pool is its output gradient spread over the reduced axis, `expand` then a scale by
/// 1/n, and it usually meets the other contribution to the same value in an `add`. The scale is
/// moved before the expand (onto the small tensor), and an expand read only by an elementwise op
/// whose other operand already has the result's shape is dropped: the op broadcasts the small
/// operand itself. For localvit_fmnist's squeeze-excite that is two passes over [B, 49, 256] per
/// block fewer (the expanded copy and its scaled copy).
@Sendable func readBroadcastOperands(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  var spread: [ValueID: ValueID] = [:]  // old value that is an expand → the new value it broadcasts
  for node in g.nodes {
    switch node.op {
    case .training(.expand):
      r.copy(node)
      spread[node.id] = r.operand(node.operands[0])
    case .scalar(let f, let s, let first) where spread[node.operands[0]] != nil && r.users[node.operands[0]] == 1:
      // scalar(expand(x)) → expand(scalar(x)): the scale runs on the small tensor.
      let small = try r.add(.scalar(f, s, scalarFirst: first), [spread[node.operands[0]]!], like: node)
      try r.replace(node, by: try r.add(.training(.expand(node.type.shape)), [small], like: node))
      spread[node.id] = small
      notes.append(FusionNote(pass: "broadcast-operands", scope: node.scope, what: "\(node.op.mnemonic) before the expand"))
    case .binary(let f):
      // binary(a, expand(x)) → binary(a, x) (either side), when a has the result's type.
      guard let i = (0..<2).first(where: { i in
        spread[node.operands[i]] != nil && r.users[node.operands[i]] == 1 && g[node.operands[1 - i]].type == node.type
      }) else {
        r.copy(node)
        continue
      }
      var operands = node.operands.map(r.operand)
      operands[i] = spread[node.operands[i]]!
      try r.replace(node, by: try r.add(.binary(f), operands, like: node))
      notes.append(FusionNote(pass: "broadcast-operands", scope: node.scope, what: "\(node.op.mnemonic) broadcasts its operand (no expand)"))
    default:
      r.copy(node)
    }
  }
  return eliminateDeadCode(r.finish())
}
