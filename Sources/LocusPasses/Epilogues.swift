import LocusIR

/// `epilogues` (flag `epilogue`): what follows a projection or a token convolution runs inside it,
/// on the output tile still in registers, instead of as a separate pass over memory:
/// - every plain `linear` becomes a `fused_linear`;
/// - `fused_linear` / `token_dwconv` without activation (and without residual), whose only reader
///   is an activation (gelu, relu, relu6, hswish, hsigmoid, sigmoid) → that op's `activation`;
/// - `fused_linear` without residual whose only reader is an `add` with a batched operand of the
///   same per-sample shape → `has_residual` with that operand. The op applies the activation
///   first, then adds the residual, so an activation after a residual is never fused.
@Sendable func fuseEpilogues(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  for node in g.nodes {
    if case .linear(let hasBias) = node.op {
      try r.replace(node, by: r.add(.fusedLinear(FusedLinearAttrs(hasBias: hasBias)), node.operands.map(r.operand), like: node))
    } else if case .unary(let f) = node.op, let (producer, op) = withActivation(f, node.operands[0], r) {
      try r.replace(node, by: r.add(op, r.new[r.operand(producer)].operands, like: g[producer]))
      notes.append(FusionNote(pass: "epilogues", scope: g[producer].scope, what: "\(f.rawValue) fused into \(op.mnemonic)"))
    } else if let (producer, residual, op) = residualAdd(node, r) {
      try r.replace(node, by: r.add(op, r.new[r.operand(producer)].operands + [r.operand(residual)], like: g[producer]))
      notes.append(FusionNote(pass: "epilogues", scope: g[producer].scope, what: "residual add fused into fused_linear"))
    } else {
      r.copy(node)
    }
  }
  return eliminateDeadCode(r.finish())
}

/// The activations a `fused_linear`, `token_dwconv` or `batch_norm_act` can apply (the kernels'
/// LK_ACT_* codes: not `identity`, not `rsqrt`).
let epilogueActivations: Set<UnaryOp> = [.gelu, .relu, .relu6, .hswish, .hsigmoid, .sigmoid]

/// (the producer, its op with activation `f`) when `v` is read only by the activation and its new
/// node is a `fused_linear` / `token_dwconv` without activation or residual.
private func withActivation(_ f: UnaryOp, _ v: ValueID, _ r: Rewriter) -> (ValueID, Op)? {
  guard epilogueActivations.contains(f), r.users[v] == 1 else { return nil }
  switch r.new[r.operand(v)].op {
  case .fusedLinear(var a) where a.activation == nil && !a.hasResidual:
    a.activation = f
    return (v, .fusedLinear(a))
  case .tokenDWConv(var a) where a.activation == nil:
    a.activation = f
    return (v, .tokenDWConv(a))
  default:
    return nil
  }
}

/// (the projection, the residual, the projection's op with a residual) when `node` adds a batched
/// value of its own shape to a `fused_linear` without residual that nothing else reads.
private func residualAdd(_ node: Node, _ r: Rewriter) -> (ValueID, ValueID, Op)? {
  let g = r.old
  guard case .binary(.add) = node.op else { return nil }
  for (p, residual) in [(node.operands[1], node.operands[0]), (node.operands[0], node.operands[1])] {
    guard r.users[p] == 1, case .fusedLinear(var a) = r.new[r.operand(p)].op, !a.hasResidual,
          g[p].type.shape == node.type.shape, g[residual].type.batched, g[residual].type.shape == node.type.shape
    else { continue }
    a.hasResidual = true
    return (p, residual, .fusedLinear(a))
  }
  return nil
}
