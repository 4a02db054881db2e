import LocusIR

/// `channel-scale` (flag `se`): a per-channel scale x ⊙ s (s [C], usually per sample) whose only
/// reader is a projection of x moves into that projection: a `fused_linear` with an input scale.
/// The kernel folds s into the weights while its GEMM packs them, so x ⊙ s is never written.
/// This is the squeeze-excite gate of LocalViT's feed-forward (the mean of the convolved tokens →
/// two small projections → h-sigmoid → the gate times every token), which otherwise costs one
/// more read and write of the block's widest activation per block.
@Sendable func fuseChannelScales(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  for node in g.nodes {
    guard var a = projection(node.op), let (x, s) = channelScale(node.operands[0], r) else {
      r.copy(node)
      continue
    }
    a.hasInputScale = true
    var operands = node.operands.map(r.operand)
    operands[0] = r.operand(x)
    operands.insert(r.operand(s), at: a.hasBias ? 3 : 2)
    try r.replace(node, by: r.add(.fusedLinear(a), operands, like: node))
    notes.append(FusionNote(pass: "channel-scale", scope: node.scope, what: "channel scale fused into fused_linear"))
  }
  return eliminateDeadCode(r.finish())
}

/// A projection without input scale as a fused_linear's attributes (a plain `linear` when the
/// `epilogue` fusion is off).
private func projection(_ op: Op) -> FusedLinearAttrs? {
  switch op {
  case .linear(let hasBias): FusedLinearAttrs(hasBias: hasBias)
  case .fusedLinear(let a) where !a.hasInputScale: a
  default: nil
  }
}

/// (x, s) when `v` = x ⊙ s (either operand order) is read by one node, x is batched with `v`'s
/// type and s is one value per channel: [C], per sample or shared.
private func channelScale(_ v: ValueID, _ r: Rewriter) -> (ValueID, ValueID)? {
  let g = r.old
  let t = g[v].type
  guard r.users[v] == 1, case .binary(.mul) = g[v].op, t.batched, let c = t.shape.last else { return nil }
  let (p, q) = (g[v].operands[0], g[v].operands[1])
  for (x, s) in [(p, q), (q, p)] where g[x].type == t && g[s].type.shape == [c] {
    return (x, s)
  }
  return nil
}
