import LocusIR

/// `patch-embedding` (flag `patch`): a ViT patch embedding, `img2seq(conv2d(x))` with the kernel
/// equal to the stride, no padding and one group, is a linear map of each patch. It becomes
///
///     linear(reshape(transpose(reshape(x, [C, Ho, kh, Wo, kw]), [1, 3, 0, 2, 4]), [Ho·Wo, C·kh·kw]),
///            reshape(W, [Co, C·kh·kw]), b)
///
/// one copy that lays the patches out as rows (the image's pixels move once, kw at a time), then a
/// GEMM that writes the tokens [Ho·Wo, Co] directly. The convolution computed the transposed
/// product, [Co, Ho·Wo] (N = 196, an odd edge tile), through an im2col copy of the same size,
/// and `img2seq` then transposed it. The `epilogues` pass, which runs after, makes it a
/// `fused_linear`.
///
/// An overlapping convolution of an image no parameter reaches (the model's input, rolled or
/// padded: SAG's 18 shifted 3×3 embeddings) with few columns C·kh·kw ≤ 2·Co becomes
///
///     linear(im2col(x), reshape(W, [Co, C·kh·kw]), b)
///
/// The patch rows cost at most the two token-sized passes of `img2seq` they replace, and in
/// training the backward is the linear's (weight gradient and bias sum over tokens) instead of
/// `seq2img` and `conv2d_grad_weight`. No gradient flows into im2col (it has no adjoint), hence the
/// condition on its input. The pass runs on inference graphs and on training forwards.
@Sendable func embedPatchesAsLinear(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  let constant = imagesNoParameterReaches(g)
  for node in g.nodes {
    guard case .img2seq = node.op else {
      r.copy(node)
      continue
    }
    // The patch rows [Ho·Wo, C·kh·kw] by one of the two routes; the linear after is the same.
    let conv: Node, a: Conv2dAttrs, rows: ValueID, what: String
    if let (found, attrs) = overlappingConvolution(node.operands[0], r, constant: constant) {
      (conv, a) = (found, attrs)
      rows = try r.add(.im2col(kernel: a.kernel, stride: a.stride, padding: a.padding), [r.operand(conv.operands[0])], like: conv)
      what = "\(a.kernel[0])×\(a.kernel[1]) conv2d + img2seq → im2col rows + linear"
    } else if let (found, attrs) = patchConvolution(node.operands[0], r) {
      (conv, a) = (found, attrs)
      let x = g[conv.operands[0]].type.shape
      let (c, kh, kw) = (x[0], a.kernel[0], a.kernel[1])
      let (ho, wo) = (x[1] / kh, x[2] / kw)
      let split = try r.add(.reshape([c, ho, kh, wo, kw]), [r.operand(conv.operands[0])], like: conv)
      let patches = try r.add(.transpose([1, 3, 0, 2, 4]), [split], like: conv)
      rows = try r.add(.reshape([ho * wo, c * kh * kw]), [patches], like: conv)
      what = "\(kh)×\(kw) patch conv2d + img2seq → patch rows + linear"
    } else {
      r.copy(node)
      continue
    }
    let weight = try r.add(.reshape([a.outChannels, r.new[rows].type.shape[1]]), [r.operand(conv.operands[1])], like: conv)
    let bias = a.hasBias ? [r.operand(conv.operands[2])] : []
    try r.replace(node, by: r.add(.linear(hasBias: a.hasBias), [rows, weight] + bias, like: conv))
    notes.append(FusionNote(pass: "patch-embedding", scope: conv.scope, what: what))
  }
  return eliminateDeadCode(r.finish())
}

/// The convolution and its attributes when `v` is a non-overlapping patch convolution that only
/// the img2seq reads: kernel = stride, no padding, one group, and the image tiles exactly.
private func patchConvolution(_ v: ValueID, _ r: Rewriter) -> (Node, Conv2dAttrs)? {
  let g = r.old
  guard r.users[v] == 1, case .conv2d(let a) = g[v].op, a.groups == 1, a.kernel == a.stride,
        a.padding.allSatisfy({ $0 == 0 }) else { return nil }
  let x = g[g[v].operands[0]].type
  guard x.rank == 3, !g[g[v].operands[1]].type.batched, x.shape[1] % a.kernel[0] == 0, x.shape[2] % a.kernel[1] == 0
  else { return nil }
  return (g[v], a)
}

/// The convolution and its attributes when `v` is any other one-group convolution that only the
/// img2seq reads, of an image in `constant`, with at most twice as many columns C·kh·kw as output
/// channels.
private func overlappingConvolution(_ v: ValueID, _ r: Rewriter, constant: Set<ValueID>) -> (Node, Conv2dAttrs)? {
  let g = r.old
  guard r.users[v] == 1, case .conv2d(let a) = g[v].op, a.groups == 1, !g[g[v].operands[1]].type.batched,
        constant.contains(g[v].operands[0]) else { return nil }
  let x = g[g[v].operands[0]].type
  guard x.rank == 3, x.shape[0] * a.kernel[0] * a.kernel[1] <= 2 * a.outChannels else { return nil }
  return (g[v], a)
}

/// Values computed from the graph's inputs alone: no parameter reaches them, so no gradient flows
/// into them.
private func imagesNoParameterReaches(_ g: Graph) -> Set<ValueID> {
  var constant = Set<ValueID>()
  for node in g.nodes {
    switch node.op {
    case .input: constant.insert(node.id)
    case .parameter: continue
    default: if !node.operands.isEmpty, node.operands.allSatisfy(constant.contains) { constant.insert(node.id) }
    }
  }
  return constant
}
