/// Shape rules of the ops that compute (convolutions, projections, attention).
extension Op {
  func conv2dType(_ a: Conv2dAttrs, _ ops: [TensorType]) throws(ShapeError) -> TensorType {
    let x = ops[0]
    try expectRank(x, 3, "conv2d", "an image [C, H, W]")
    try checkWindow(kernel: a.kernel, stride: a.stride, padding: a.padding, "conv2d")
    let ci = x.shape[0]
    guard a.groups >= 1, ci % a.groups == 0, a.outChannels % a.groups == 0 else {
      throw ShapeError("conv2d groups \(a.groups) must divide both the input channels \(ci) and the output channels \(a.outChannels)")
    }
    try expectShape(ops[1], [a.outChannels, ci / a.groups, a.kernel[0], a.kernel[1]], "conv2d weight")
    if a.hasBias { try expectShape(ops[2], [a.outChannels], "conv2d bias") }
    let ho = (x.shape[1] + 2 * a.padding[0] - a.kernel[0]) / a.stride[0] + 1
    let wo = (x.shape[2] + 2 * a.padding[1] - a.kernel[1]) / a.stride[1] + 1
    guard x.shape[1] + 2 * a.padding[0] >= a.kernel[0], x.shape[2] + 2 * a.padding[1] >= a.kernel[1] else {
      throw ShapeError("conv2d kernel \(a.kernel) is larger than the padded input \(x)")
    }
    return TensorType([a.outChannels, ho, wo], batched: x.batched)
  }

  func linearType(_ hasBias: Bool, _ ops: [TensorType]) throws(ShapeError) -> TensorType {
    let x = ops[0], w = ops[1]
    let k = try lastAxis(x, "linear")
    guard w.rank == 2, w.shape[1] == k else {
      throw ShapeError("linear weight \(w.shape) does not match the input's last axis \(k) (input \(x))")
    }
    if hasBias { try expectShape(ops[2], [w.shape[0]], "linear bias") }
    return TensorType(x.shape.dropLast() + [w.shape[0]], batched: x.batched)
  }

  func matmulType(_ a: TensorType, _ b: TensorType) throws(ShapeError) -> TensorType {
    guard a.rank >= 2, b.rank >= 2 else { throw ShapeError("matmul needs matrices, got \(a) and \(b)") }
    guard a.shape[a.rank - 1] == b.shape[b.rank - 2] else {
      throw ShapeError("matmul inner sizes differ: \(a) × \(b)", hint: "the last axis of the left operand must equal the second-to-last of the right")
    }
    let lead = try broadcastTypes(
      TensorType(Array(a.shape.dropLast(2)), batched: a.batched),
      TensorType(Array(b.shape.dropLast(2)), batched: b.batched))
    return TensorType(lead.shape + [a.shape[a.rank - 2], b.shape[b.rank - 1]], batched: lead.batched)
  }

  func maxpoolType(_ x: TensorType, _ k: [Int], _ s: [Int], _ p: [Int]) throws(ShapeError) -> TensorType {
    try expectRank(x, 3, "maxpool", "an image [C, H, W]")
    try checkWindow(kernel: k, stride: s, padding: p, "maxpool")
    guard p[0] * 2 <= k[0], p[1] * 2 <= k[1] else {
      throw ShapeError("maxpool padding \(p) must be at most half the kernel \(k)")
    }
    let ho = (x.shape[1] + 2 * p[0] - k[0]) / s[0] + 1
    let wo = (x.shape[2] + 2 * p[1] - k[1]) / s[1] + 1
    guard ho >= 1, wo >= 1 else { throw ShapeError("maxpool kernel \(k) is larger than the input \(x)") }
    return TensorType([x.shape[0], ho, wo], batched: x.batched)
  }

  func concatType(_ ops: [TensorType], axis: Int, stacking: Bool) throws(ShapeError) -> TensorType {
    let rank = ops.map { $0.batched ? $0.rank : Int.max }.min() ?? ops[0].rank
    let target = rank == Int.max ? ops[0].rank : rank
    let shapes = ops.map { squeezedForBatch($0, toRank: target) }
    let r = shapes[0].count
    guard let a = normalizeAxis(axis, rank: stacking ? r + 1 : r) else { throw axisError(axis, ops[0], mnemonic) }
    for (i, s) in shapes.enumerated() where s.count != r || (stacking ? s != shapes[0] : !sameExcept(s, shapes[0], a)) {
      throw ShapeError("\(mnemonic) operand \(i + 1) has shape \(ops[i]) but operand 1 has \(ops[0])",
        hint: stacking ? "stacked tensors must have equal shapes" : "all axes but the concatenated one must match")
    }
    var out = shapes[0]
    if stacking { out.insert(ops.count, at: a) } else { out[a] = shapes.reduce(0) { $0 + $1[a] } }
    return TensorType(out, batched: ops.contains { $0.batched })
  }

  func sdpaType(_ ops: [TensorType], heads: Int, kvHeads: Int) throws(ShapeError) -> TensorType {
    let (q, k, v) = (ops[0], ops[1], ops[2])
    for (t, name) in [(q, "query"), (k, "key"), (v, "value")] { try expectRank(t, 2, "sdpa \(name)", "tokens [N, C]") }
    let d = try headDim(q.shape[1], heads: heads, kvWidth: k.shape[1], kvHeads: kvHeads)
    guard k.shape == v.shape, k.shape[1] == kvHeads * d else {
      throw ShapeError("sdpa key \(k) and value \(v) must both be [Nk, \(kvHeads * d)]")
    }
    return TensorType(q.shape, batched: ops.contains { $0.batched })
  }

  func localAttentionType(_ ops: [TensorType], heads: Int, kvHeads: Int) throws(ShapeError) -> TensorType {
    let (q, k, v) = (ops[0], ops[1], ops[2])
    try expectRank(q, 2, "local_attention query", "tokens [N, C]")
    try expectRank(k, 3, "local_attention key", "variants [T, N, C]")
    let d = try headDim(q.shape[1], heads: heads, kvWidth: k.shape[2], kvHeads: kvHeads)
    guard k.shape == v.shape, k.shape[1] == q.shape[0], k.shape[2] == kvHeads * d else {
      throw ShapeError("local_attention key \(k) and value \(v) must both be [T, \(q.shape[0]), \(kvHeads * d)] for query \(q)")
    }
    return TensorType(q.shape, batched: ops.contains { $0.batched })
  }

  private func headDim(_ width: Int, heads: Int, kvWidth: Int, kvHeads: Int) throws(ShapeError) -> Int {
    guard heads >= 1, kvHeads >= 1, width % heads == 0, heads % kvHeads == 0 else {
      throw ShapeError("\(heads) heads must divide the query width \(width), and \(kvHeads) kv heads must divide the heads")
    }
    return width / heads
  }
}

/// Kernel and stride at least 1, padding at least 0, two of each (height, width).
func checkWindow(kernel: [Int], stride: [Int], padding: [Int], _ op: String) throws(ShapeError) {
  guard kernel.count == 2, stride.count == 2, padding.count == 2 else {
    throw ShapeError("\(op) needs kernel, stride and padding for height and width")
  }
  guard kernel.allSatisfy({ $0 >= 1 }), stride.allSatisfy({ $0 >= 1 }), padding.allSatisfy({ $0 >= 0 }) else {
    throw ShapeError("\(op) needs kernel and stride of at least 1 and padding of at least 0, got kernel \(kernel), stride \(stride), padding \(padding)")
  }
}

private func sameExcept(_ a: [Int], _ b: [Int], _ axis: Int) -> Bool {
  a.indices.allSatisfy { $0 == axis || a[$0] == b[$0] }
}
