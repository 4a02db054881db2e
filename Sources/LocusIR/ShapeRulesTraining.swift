/// Shape rules of the training ops (DESIGN.md §7). Gradients have their primal's type, so most
/// rules check that the two operands agree and return it.
extension TrainingOp {
  func inferType(_ ops: [TensorType]) throws(ShapeError) -> TensorType {
    let x = ops[0]
    switch self {
    case .normalize:
      _ = try lastAxis(x, mnemonic)
      return x
    case .normalizeParamGrad:
      guard x.rank >= 1, x.batched else { throw ShapeError("normalize_param_grad needs batched tokens [..., C], got \(x)") }
      try expectSame(ops[1], x, "normalize_param_grad gradient")
      return TensorType([2, x.shape[x.rank - 1]], batched: false)
    case .batchNormalize(_, let last), .batchNormalizeGrad(_, let last), .batchNormalizeParamGrad(_, let last),
         .batchMoments(let last):
      guard x.rank >= 1, x.batched else {
        throw ShapeError("\(mnemonic) needs a batched channels-\(last ? "last" : "first") tensor, got \(x)")
      }
      let c = last ? x.shape[x.rank - 1] : x.shape[0]
      switch self {
      case .batchMoments: return TensorType([2, c], batched: false)
      case .batchNormalize:
        try expectShape(ops[1], [c], "batch_normalize weight")
        try expectShape(ops[2], [c], "batch_normalize bias")
        return x
      case .batchNormalizeGrad:
        try expectSame(ops[1], x, "batch_normalize_grad gradient")
        try expectShape(ops[2], [c], "batch_normalize_grad weight")
        return x
      default:
        try expectSame(ops[1], x, "batch_normalize_param_grad gradient")
        return TensorType([2, c], batched: false)
      }
    case .batchStatistics:
      guard x.rank >= 1, x.batched else { throw ShapeError("batch_statistics needs batched tokens [..., C], got \(x)") }
      return TensorType([3, x.shape[x.rank - 1]], batched: false)
    case .batchNormAct, .batchNormActParamGrad, .batchNormActGrad:
      guard x.rank >= 1, x.batched else { throw ShapeError("\(mnemonic) needs batched tokens [..., C], got \(x)") }
      let c = x.shape[x.rank - 1]
      var rest = 1  // the operands after x (and dz): statistics, weight, bias (and sums)
      if case .batchNormAct = self {} else {
        try expectSame(ops[1], x, "\(mnemonic) gradient")
        rest = 2
      }
      for (i, (shape, what)) in [([3, c], "statistics"), ([c], "weight"), ([c], "bias"), ([2, c], "sums")].enumerated()
      where rest + i < ops.count {
        try expectSame(ops[rest + i], TensorType(shape, batched: false), "\(mnemonic) \(what)")
      }
      if case .batchNormActParamGrad = self { return TensorType([2, c], batched: false) }
      return x
    case .normalizeGrad, .unaryGrad, .maxpoolGrad:
      if case .normalizeGrad = self, ops.count > 2 {
        try expectSame(ops[1], x, "normalize_grad gradient")
        try expectSame(ops[2], TensorType([x.shape.last ?? 1], batched: false), "normalize_grad weight")
        if ops.count > 3 { try expectSame(ops[3], TensorType(x.shape, batched: x.batched || ops[1].batched), "normalize_grad residual") }
      } else if case .maxpoolGrad(let k, let s, let p) = self {
        try expectSame(ops[1], try Op.maxpool(kernel: k, stride: s, padding: p).inferType([x]), "maxpool_grad dy")
      } else {
        try expectSame(ops[1], x, "\(mnemonic) gradient")
      }
      return TensorType(x.shape, batched: x.batched || ops[1].batched)
    case .softmaxGrad(let axis):
      guard normalizeAxis(axis, rank: x.rank) != nil else { throw axisError(axis, x, mnemonic) }
      try expectSame(ops[1], x, "softmax_grad gradient")
      return TensorType(x.shape, batched: x.batched || ops[1].batched)
    case .reduceSum(let axes, let batch):
      guard axes.allSatisfy({ (0..<x.rank).contains($0) }), Set(axes).count == axes.count else {
        throw ShapeError("reduce_sum axes \(axes) are not distinct axes of \(x)")
      }
      guard !batch || x.batched else { throw ShapeError("reduce_sum over the batch of the unbatched \(x)") }
      if ops.count > 1 { try expectSame(ops[1], x, "reduce_sum's second factor") }
      let kept = x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
      return TensorType(kept, batched: x.batched && !batch)
    case .mulAdd:
      return try broadcastTypes(try broadcastTypes(x, ops[1]), ops[2])
    case .expand(let shape):
      let b = try broadcastTypes(TensorType(x.shape, batched: x.batched), TensorType(shape, batched: x.batched))
      guard b.shape == shape else { throw ShapeError("cannot expand \(x) to \(shape)") }
      return b
    case .conv2dGradInput(let a, let h, let w):
      let weight = ops[1]
      guard weight.rank == 4, !weight.batched else { throw ShapeError("conv2d_grad_input weight must be an unbatched [Co, Ci/g, kh, kw], got \(weight)") }
      let input = TensorType([weight.shape[1] * a.groups, h, w], batched: x.batched)
      try expectSame(x, try Op.conv2d(a).inferType(a.hasBias ? [input, weight, TensorType([a.outChannels], batched: false)] : [input, weight]), "conv2d_grad_input dy")
      return input
    case .conv2dGradWeight(let a):
      let input = ops[1]
      try expectRank(input, 3, mnemonic, "an image [C, H, W]")
      let weight = TensorType([a.outChannels, input.shape[0] / max(a.groups, 1), a.kernel[0], a.kernel[1]], batched: false)
      try expectSame(x, try Op.conv2d(a).inferType(a.hasBias ? [input, weight, TensorType([a.outChannels], batched: false)] : [input, weight]), "conv2d_grad_weight dy")
      return weight
    case .linearGradWeight:
      let input = ops[1]
      guard x.rank >= 1, input.rank == x.rank, x.batched == input.batched, x.shape.dropLast() == input.shape.dropLast() else {
        throw ShapeError("linear_grad_weight needs dy [..., N] and x [..., K] with the same leading axes, got \(x) and \(input)")
      }
      return TensorType([x.shape[x.rank - 1], input.shape[input.rank - 1]], batched: false)
    case .tokenDWConvGradInput(let a):
      let weight = ops[1], c = weight.shape.first ?? 0
      let tokens = TensorType([a.height * a.width, c], batched: x.batched)
      try expectSame(x, try Op.tokenDWConv(TokenConvAttrs(a, bias: false)).inferType([tokens, weight]), "token_dwconv_grad_input dy")
      return tokens
    case .tokenDWConvGradWeight(let a):
      let tokens = ops[1]
      try expectRank(tokens, 2, mnemonic, "tokens [N, C]")
      let weight = TensorType([tokens.shape[1], 1, a.kernel[0], a.kernel[1]], batched: false)
      try expectSame(x, try Op.tokenDWConv(TokenConvAttrs(a, bias: false)).inferType([tokens, weight]), "token_dwconv_grad_weight dy")
      return weight
    case .matmulPermuted(let pa, let pb, let po):
      guard x.batched, ops[1].batched, pa.count == x.rank, pb.count == ops[1].rank, po.count == x.rank,
            let last = po.last, last >= x.rank - 2 else {
        throw ShapeError("matmul_permuted needs batched operands, a permutation of each one's axes and of the product's keeping one of its last two axes last, got \(x) \(pa), \(ops[1]) \(pb), \(po)")
      }
      let product = try Op.matmul.inferType([try Op.transpose(pa).inferType([x]), try Op.transpose(pb).inferType([ops[1]])])
      return try Op.transpose(po).inferType([product])
    case .sdpaGrad(let h, let hk):
      let out = try Op.sdpa(heads: h, kvHeads: hk).inferType(Array(ops.prefix(3)))
      try expectSame(ops[3], out, "sdpa_grad dout")
      guard ops[1].shape[0] == x.shape[0] else {
        throw ShapeError("sdpa_grad needs as many queries as keys (self-attention), got \(x) and \(ops[1])")
      }
      return TensorType([x.shape[0], x.shape[1] + 2 * ops[1].shape[1]], batched: out.batched)
    case .localAttentionGradQ(let h, let hk), .localAttentionGradKV(let h, let hk):
      let out = try Op.localAttention(heads: h, kvHeads: hk).inferType(Array(ops.prefix(3)))
      try expectSame(ops[3], out, "\(mnemonic) dout")
      if case .localAttentionGradQ = self { return x }
      let k = ops[1]
      return TensorType([k.shape[0], k.shape[1], 2 * k.shape[2]], batched: k.batched)
    case .circularPadGrad(let l, let r, let t, let b):
      try expectRank(x, 3, mnemonic, "[C, H, W]")
      let h = x.shape[1] - t - b, w = x.shape[2] - l - r
      guard h >= 1, w >= 1, max(t, b) <= h, max(l, r) <= w else { throw ShapeError("circular_pad_grad amounts do not fit \(x)") }
      return TensorType([x.shape[0], h, w], batched: x.batched)
    case .zeroPad(let axis, let before, let after):
      guard let a = normalizeAxis(axis, rank: x.rank), before >= 0, after >= 0 else { throw axisError(axis, x, mnemonic) }
      var shape = x.shape
      shape[a] += before + after
      let padded = TensorType(shape, batched: x.batched || (ops.count > 1 && ops[1].batched))
      if ops.count > 1 { try expectSame(ops[1], padded, "zero_pad base") }
      return padded
    case .crossEntropy, .crossEntropyGrad:
      guard x.rank == 1, x.batched else { throw ShapeError("\(mnemonic) needs batched logits [K], got \(x)") }
      try expectSame(ops[1], x, "\(mnemonic) targets")
      if case .crossEntropy = self { return TensorType([1], batched: false) }
      return x
    }
  }
}

private func expectSame(_ t: TensorType, _ expected: TensorType, _ what: String) throws(ShapeError) {
  guard t.shape == expected.shape, t.batched == expected.batched else {
    throw ShapeError("\(what) has type \(t), expected \(expected)")
  }
}
