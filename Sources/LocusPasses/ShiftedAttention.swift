import LocusIR

/// Locally-SAG's stage 1 (ARCH_NOTES §3): T shifted variants of the image, each embedded by its
/// own convolution, stacked, plus per-variant positions, LayerNorm, K/V projection, and attention
/// over the variants at each location. Unfused, that materialises several (B, T, N, C) tensors.
/// This pass replaces the chain ending at `local_attention` with one `shifted_local_attention`
/// node, whose kernel computes the variants' K/V tile by tile with the shifts as index arithmetic;
/// the unshifted tokens the rest of the block needs (`index(p, 0)`) become `e₀ + pos[0]`.
@Sendable func fuseShiftedAttention(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  let matches = g.nodes.compactMap { ShiftedAttentionMatch(g, $0) }
  guard !matches.isEmpty else { return g }
  var r = Rewriter(g)
  let byAttention = Dictionary(uniqueKeysWithValues: matches.map { ($0.attention, $0) })
  let byPositioned = Dictionary(uniqueKeysWithValues: matches.map { ($0.positioned, $0) })
  for node in g.nodes {
    if let m = byAttention[node.id] {
      let operands = [r.operand(m.image), r.operand(node.operands[0])]
        + m.convs.flatMap { [r.operand($0.weight), r.operand($0.bias)] }
        + [m.pos, m.lnWeight, m.lnBias, m.kvWeight, m.kvBias].map(r.operand)
      r.map[node.id] = try r.add(.shiftedLocalAttention(m.attrs), operands, like: node)
      notes.append(FusionNote(pass: "shifted-attention", scope: node.scope,
                              what: "\(m.attrs.variants) variant embeddings + positions + layernorm + K/V projection + local attention → shifted_local_attention (no T×N×C tensor)"))
    } else if case .index(0, 0) = node.op, let m = byPositioned[node.operands[0]] {
      // x = p[0] = e₀ + pos[0]: the unshifted tokens, without the stack.
      let pos0 = try r.add(.index(axis: 0, at: 0), [r.operand(m.pos)], like: node)
      r.map[node.id] = try r.add(.binary(.add), [r.operand(m.convs[0].embedded), pos0], like: node)
    } else {
      r.copy(node)
    }
  }
  return r.finish()
}

/// The matched chain, found from its `local_attention` node.
struct ShiftedAttentionMatch {
  struct Variant {
    var weight: ValueID, bias: ValueID
    /// `img2seq(conv2d(variant))`: variant 0's is reused for the unshifted tokens.
    var embedded: ValueID
  }

  var attention: ValueID
  var image: ValueID
  var convs: [Variant]
  var positioned: ValueID
  var pos: ValueID, lnWeight: ValueID, lnBias: ValueID, kvWeight: ValueID, kvBias: ValueID
  var attrs: ShiftedAttentionAttrs

  init?(_ g: Graph, _ node: Node) {
    guard case .localAttention(let heads, let kvHeads) = node.op else { return nil }
    // k and v: the two halves of one K/V projection along the last axis.
    let (k, v) = (g[node.operands[1]], g[node.operands[2]])
    guard case .slice(2, 0, let half) = k.op, case .slice(2, half, half) = v.op, k.operands == v.operands else { return nil }
    let kv = g[k.operands[0]]
    guard case .linear(true) = kv.op else { return nil }
    let ln = g[kv.operands[0]]
    guard case .layernorm(let eps) = ln.op else { return nil }
    let p = g[ln.operands[0]]
    guard case .binary(.add) = p.op else { return nil }
    let (a, b) = (g[p.operands[0]], g[p.operands[1]])
    guard let (stack, pos) = Self.stackAndParameter(a, b) ?? Self.stackAndParameter(b, a) else { return nil }
    guard case .stack(0) = stack.op else { return nil }

    var variants: [Variant] = [], shifts: [Shift] = [], conv: Conv2dAttrs?
    var image: ValueID?
    for (t, e) in stack.operands.enumerated() {
      let embed = g[e]
      guard case .img2seq = embed.op, case .conv2d(let c) = g[embed.operands[0]].op, c.hasBias, c.groups == 1 else { return nil }
      guard conv == nil || conv == c else { return nil }
      conv = c
      let convNode = g[embed.operands[0]]
      let source = g[convNode.operands[0]]
      switch (t, source.op) {
      case (0, _): image = source.id
      case (_, .roll(let dy, let dx)) where source.operands[0] == image: shifts.append(.roll(dy: dy, dx: dx))
      case (_, .circularPad(let l, let r, let top, let bottom)) where source.operands[0] == image:
        shifts.append(.pad(left: l, right: r, top: top, bottom: bottom))
      default: return nil
      }
      variants.append(Variant(weight: convNode.operands[1], bias: convNode.operands[2], embedded: e))
    }
    guard let image, let conv, shifts.count == variants.count - 1 else { return nil }
    // Every reader of p must be this layernorm or `index(p, 0)`, or p would still be needed.
    for user in g.nodes where user.operands.contains(p.id) {
      switch user.op {
      case .layernorm where user.id == ln.id: continue
      case .index(0, 0): continue
      default: return nil
      }
    }
    guard !g.outputs.contains(where: { [p.id, ln.id, kv.id].contains($0.value) }) else { return nil }
    attention = node.id
    self.image = image
    convs = variants
    positioned = p.id
    self.pos = pos.id
    (lnWeight, lnBias) = (ln.operands[1], ln.operands[2])
    (kvWeight, kvBias) = (kv.operands[1], kv.operands[2])
    attrs = ShiftedAttentionAttrs(shifts: shifts, kernel: conv.kernel, stride: conv.stride, padding: conv.padding,
                                  heads: heads, kvHeads: kvHeads, eps: eps)
  }

  /// (the stack, the positions) when `a` is a stack and `b` a parameter of the same shape.
  static func stackAndParameter(_ a: Node, _ b: Node) -> (Node, Node)? {
    guard case .stack = a.op, case .parameter = b.op, a.type.shape == b.type.shape else { return nil }
    return (a, b)
  }
}
