import LocusIR

/// `matmul-views` (training graphs, after differentiation): the transposes around a `matmul` are
/// folded into it (`matmul_permuted`), which reads its operands and writes its result through
/// strides, so attention's head splits ([N, H, D] → [H, N, D]), its kᵀ, its head merge, and the
/// swapped operands of its gradients (dy·bᵀ, aᵀ·dy) are never copied:
/// - an operand made by a chain of transposes is read from the chain's source, the permutations
///   composed;
/// - a product read only by one transpose that leaves one of its last two axes last is written in
///   that transpose's layout.
/// Only products whose operands both carry the batch and have the result's rank are rewritten
/// (every product of the attention lowering and its gradients). A transpose with other readers
/// stays for them.
@Sendable func foldTransposesIntoMatmuls(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  var folded: [ValueID: ValueID] = [:]  // old transpose of a product → the new permuted product
  for node in g.nodes {
    if let product = folded[node.id] {
      try r.replace(node, by: product)
      continue
    }
    guard case .matmul = node.op, node.type.batched,
          node.operands.allSatisfy({ g[$0].type.batched && g[$0].type.rank == node.type.rank })
    else {
      r.copy(node)
      continue
    }
    let rank = node.type.rank, identity = Array(0..<rank)
    let read = node.operands.map { v -> (ValueID, [Int]) in
      var (source, perm) = (v, identity)
      while case .transpose(let p) = g[source].op {  // transpose(p)(s) read as perm: s read as p∘perm
        perm = perm.map { p[$0] }
        source = g[source].operands[0]
      }
      return (source, perm)
    }
    var out = identity, result = node.id
    if let reader = r.soleUser(of: node.id), case .transpose(let p) = reader.op, let last = p.last, last >= rank - 2 {
      (out, result) = (p, reader.id)
    }
    guard read.contains(where: { $0.1 != identity }) || out != identity else {
      r.copy(node)
      continue
    }
    let op = Op.training(.matmulPermuted(a: read[0].1, b: read[1].1, out: out))
    let product = try r.add(op, read.map { r.operand($0.0) }, like: g[result])
    if result == node.id {
      try r.replace(node, by: product)
    } else {
      folded[result] = product
    }
    notes.append(FusionNote(pass: "matmul-views", scope: node.scope, what: "transposes read and written in place by the matmul"))
  }
  return eliminateDeadCode(r.finish())
}
