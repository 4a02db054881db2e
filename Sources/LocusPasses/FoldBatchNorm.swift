import LocusIR

/// `fold-batchnorm` (flag `bn-fold`): a per-channel affine right after a projection or a
/// convolution is folded into the producer's weight and bias, W' = W·s (per output channel) and
/// b' = b·s + t (t without a bias). The folded weights are unbatched nodes computed from the
/// parameters only, so `prepare` computes them once; the forward pass runs the producer alone.
///
/// Matched: `add(mul(P, s), t)` (either operand order), s and t unbatched [C], where P is a
/// `fused_linear` without activation or residual, or a `token_dwconv` without activation (what
/// `token-layout` makes of conv → BatchNorm); and `batchnorm(conv2d(…))` in image layout (CeiT's
/// stem, or any feed-forward when `token-layout` is off). P and the `mul` must have no other
/// reader, or the unfolded values would still be needed.
@Sendable func foldBatchNorm(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  for node in g.nodes {
    if let (producer, scale, shift) = affineAfterProducer(node, r) {
      let folded = try fold(g[producer], scale: r.operand(scale), shift: r.operand(shift), &r)
      try r.replace(node, by: folded)
      notes.append(FusionNote(pass: "fold-batchnorm", scope: g[producer].scope,
                              what: "per-channel affine folded into \(g[producer].op.mnemonic) weight and bias"))
    } else if case .batchnorm = node.op, case .conv2d = g[node.operands[0]].op, r.users[node.operands[0]] == 1 {
      let (scale, shift) = try r.batchNormAffine(node)
      try r.replace(node, by: fold(g[node.operands[0]], scale: scale, shift: shift, &r))
      notes.append(FusionNote(pass: "fold-batchnorm", scope: node.scope, what: "batchnorm folded into conv2d weight and bias"))
    } else {
      r.copy(node)
    }
  }
  return eliminateDeadCode(r.finish())
}

/// (P, s, t) when `node` is `add(mul(P, s), t)` with P a foldable single-reader producer and s, t
/// unbatched [C] (old ids).
private func affineAfterProducer(_ node: Node, _ r: Rewriter) -> (ValueID, ValueID, ValueID)? {
  let g = r.old
  guard case .binary(.add) = node.op else { return nil }
  for (m, t) in [(node.operands[0], node.operands[1]), (node.operands[1], node.operands[0])] {
    guard case .binary(.mul) = g[m].op, r.users[m] == 1 else { continue }
    for (p, s) in [(g[m].operands[0], g[m].operands[1]), (g[m].operands[1], g[m].operands[0])] {
      guard isFoldable(g[p]), r.users[p] == 1, g[p].type == node.type, let c = g[p].type.shape.last,
            [s, t].allSatisfy({ !g[$0].type.batched && g[$0].type.shape == [c] }) else { continue }
      return (p, s, t)
    }
  }
  return nil
}

private func isFoldable(_ node: Node) -> Bool {
  switch node.op {
  case .fusedLinear(let a): a.activation == nil && !a.hasResidual
  case .tokenDWConv(let a): a.activation == nil
  default: false
  }
}

/// `producer` (old node: fused_linear, token_dwconv or conv2d) with its weight scaled per output
/// channel by `scale` and its bias b·scale + shift (new values), as a new node.
private func fold(_ producer: Node, scale: ValueID, shift: ValueID, _ r: inout Rewriter) throws -> ValueID {
  let weight = r.operand(producer.operands[1])
  let channels = r.new[weight].type.shape[0]
  let perRow = [channels] + Array(repeating: 1, count: r.new[weight].type.rank - 1)  // [Co, 1] or [Co, 1, 1, 1]
  let scaledWeight = try r.add(.binary(.mul), [weight, r.add(.reshape(perRow), [scale], like: producer)], like: producer)
  let hasBias: Bool
  let op: Op
  switch producer.op {
  case .fusedLinear(var a):
    (hasBias, a.hasBias) = (a.hasBias, true)
    op = .fusedLinear(a)
  case .tokenDWConv(var a):
    (hasBias, a.hasBias) = (a.hasBias, true)
    op = .tokenDWConv(a)
  case .conv2d(var a):
    (hasBias, a.hasBias) = (a.hasBias, true)
    op = .conv2d(a)
  default:
    throw RewriteError("\(producer.id) \(producer.op.mnemonic) has no weight to fold into")
  }
  let bias = hasBias
    ? try r.add(.binary(.add), [r.add(.binary(.mul), [r.operand(producer.operands[2]), scale], like: producer), shift], like: producer)
    : shift
  return try r.add(op, [r.operand(producer.operands[0]), scaledWeight, bias], like: producer)
}
