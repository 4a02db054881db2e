/// Shape inference: one rule per op. The frontend calls these while elaborating a spec (so a
/// mismatch is reported at the offending call) and the verifier calls them again after every pass.
extension Op {
  public func inferType(_ operands: [TensorType]) throws(ShapeError) -> TensorType {
    try checkArity(operands.count)
    try checkWeightsUnbatched(operands)
    let x = operands.first ?? TensorType([], batched: false)
    switch self {
    case .input, .parameter:
      throw ShapeError("'\(mnemonic)' nodes carry their type; it is not inferred")
    case .conv2d(let a): return try conv2dType(a, operands)
    case .linear(let hasBias): return try linearType(hasBias, operands)
    case .layernorm:
      let c = try lastAxis(x, "layernorm")
      try expectShape(operands[1], [c], "layernorm weight")
      try expectShape(operands[2], [c], "layernorm bias")
      return x
    case .batchnorm:
      guard x.rank >= 1 else { throw ShapeError("batchnorm needs a channels-first tensor, got \(x)") }
      for (i, what) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
        try expectShape(operands[i + 1], [x.shape[0]], "batchnorm \(what)")
      }
      return x
    case .unary: return x
    case .softmax(let axis):
      guard normalizeAxis(axis, rank: x.rank) != nil else { throw axisError(axis, x, "softmax") }
      return x
    case .matmul: return try matmulType(operands[0], operands[1])
    case .binary: return try broadcastTypes(operands[0], operands[1])
    case .scalar: return x
    case .gap:
      try expectRank(x, 3, "gap", "[C, H, W]")
      return TensorType([x.shape[0]], batched: x.batched)
    case .maxpool(let k, let s, let p): return try maxpoolType(x, k, s, p)
    case .mean(let axis):
      guard let a = normalizeAxis(axis, rank: x.rank) else { throw axisError(axis, x, "mean") }
      var shape = x.shape
      shape.remove(at: a)
      return TensorType(shape, batched: x.batched)
    case .roll:
      try expectRank(x, 3, "roll", "[C, H, W]")
      return x
    case .circularPad(let l, let r, let t, let b):
      try expectRank(x, 3, "circular_pad", "[C, H, W]")
      guard l >= 0, r >= 0, t >= 0, b >= 0, max(l, r) <= x.shape[2], max(t, b) <= x.shape[1] else {
        throw ShapeError("circular_pad amounts (left \(l), right \(r), top \(t), bottom \(b)) must be between 0 and the image size of \(x)")
      }
      return TensorType([x.shape[0], x.shape[1] + t + b, x.shape[2] + l + r], batched: x.batched)
    case .concat(let axis): return try concatType(operands, axis: axis, stacking: false)
    case .stack(let axis): return try concatType(operands, axis: axis, stacking: true)
    case .slice(let axis, let start, let length):
      guard let a = normalizeAxis(axis, rank: x.rank) else { throw axisError(axis, x, "slice") }
      guard start >= 0, length >= 1, start + length <= x.shape[a] else {
        throw ShapeError("slice [\(start) ..< \(start + length)] is outside axis \(a) of \(x)")
      }
      var shape = x.shape
      shape[a] = length
      return TensorType(shape, batched: x.batched)
    case .index(let axis, let at):
      guard let a = normalizeAxis(axis, rank: x.rank) else { throw axisError(axis, x, "index") }
      guard (0..<x.shape[a]).contains(at) else { throw ShapeError("index \(at) is outside axis \(a) of \(x)") }
      var shape = x.shape
      shape.remove(at: a)
      return TensorType(shape, batched: x.batched)
    case .seq2img(let h):
      try expectRank(x, 2, "seq2img", "tokens [N, C]")
      guard h >= 1, x.shape[0] % h == 0 else {
        throw ShapeError("seq2img cannot arrange \(x.shape[0]) tokens in \(h) rows", hint: "the token count must be height × width; split off the class token first")
      }
      return TensorType([x.shape[1], h, x.shape[0] / h], batched: x.batched)
    case .img2seq:
      try expectRank(x, 3, "img2seq", "an image [C, H, W]")
      return TensorType([x.shape[1] * x.shape[2], x.shape[0]], batched: x.batched)
    case .im2col(let k, let s, let p):
      try expectRank(x, 3, "im2col", "an image [C, H, W]")
      try checkWindow(kernel: k, stride: s, padding: p, "im2col")
      let ho = (x.shape[1] + 2 * p[0] - k[0]) / s[0] + 1
      let wo = (x.shape[2] + 2 * p[1] - k[1]) / s[1] + 1
      guard ho >= 1, wo >= 1 else { throw ShapeError("im2col kernel \(k) is larger than the padded input \(x)") }
      return TensorType([ho * wo, x.shape[0] * k[0] * k[1]], batched: x.batched)
    case .reshape(let shape):
      guard shape.allSatisfy({ $0 >= 1 }), shape.reduce(1, *) == x.count else {
        throw ShapeError("cannot reshape \(x) (\(x.count) elements per sample) to \(shape)")
      }
      return TensorType(shape, batched: x.batched)
    case .transpose(let perm):
      guard perm.sorted() == Array(0..<x.rank) else {
        throw ShapeError("transpose permutation \(perm) does not permute the \(x.rank) axes of \(x)")
      }
      return TensorType(perm.map { x.shape[$0] }, batched: x.batched)
    case .fusedLinear(let a): return try fusedLinearType(a, operands)
    case .tokenDWConv(let a): return try tokenDWConvType(a, operands)
    case .shiftedLocalAttention(let a): return try shiftedAttentionType(a, operands)
    case .sdpa(let h, let hk): return try sdpaType(operands, heads: h, kvHeads: hk)
    case .localAttention(let h, let hk): return try localAttentionType(operands, heads: h, kvHeads: hk)
    case .training(let t): return try t.inferType(operands)
    }
  }

  /// The number of operands each op takes (`nil`: any number ≥ 1).
  public var arity: ClosedRange<Int>? {
    switch self {
    case .input, .parameter: 0...0
    case .conv2d(let a): a.hasBias ? 3...3 : 2...2
    case .linear(let b): b ? 3...3 : 2...2
    case .layernorm: 3...3
    case .batchnorm: 5...5
    case .matmul, .binary: 2...2
    case .sdpa, .localAttention: 3...3
    case .fusedLinear(let a): a.operandCount...a.operandCount
    case .tokenDWConv(let a): a.hasBias ? 3...3 : 2...2
    case .shiftedLocalAttention(let a): (2 + 2 * a.variants + 5)...(2 + 2 * a.variants + 5)
    case .concat, .stack: nil
    case .training(let t): t.arity
    default: 1...1
    }
  }

  /// Weights (every operand after the first of a layer) are per-model, never per-sample: kernels
  /// read them once for the whole batch.
  private func checkWeightsUnbatched(_ operands: [TensorType]) throws(ShapeError) {
    switch self {
    case .conv2d, .linear, .layernorm, .batchnorm, .tokenDWConv:
      if operands.dropFirst().contains(where: \.batched) {
        throw ShapeError("'\(mnemonic)' takes its weights from parameters, not from values that vary per sample")
      }
    case .fusedLinear(let a):
      if operands[1..<(a.hasBias ? 3 : 2)].contains(where: \.batched) {
        throw ShapeError("'\(mnemonic)' takes its weights from parameters, not from values that vary per sample")
      }
    default: return
    }
  }

  private func checkArity(_ n: Int) throws(ShapeError) {
    if let r = arity, !r.contains(n) {
      throw ShapeError("'\(mnemonic)' takes \(r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r)") operands, got \(n)")
    }
    if arity == nil, n < 1 { throw ShapeError("'\(mnemonic)' needs at least one operand") }
  }
}

// MARK: - Rules shared by several ops

func expectShape(_ t: TensorType, _ shape: [Int], _ what: String) throws(ShapeError) {
  guard t.shape == shape else {
    throw ShapeError("\(what) has shape \(t.shape), expected \(shape)")
  }
}

func expectRank(_ t: TensorType, _ rank: Int, _ op: String, _ layout: String) throws(ShapeError) {
  guard t.rank == rank else { throw ShapeError("\(op) expects \(layout), got \(t)") }
}

func lastAxis(_ t: TensorType, _ op: String) throws(ShapeError) -> Int {
  guard let c = t.shape.last else { throw ShapeError("\(op) needs at least one axis, got a scalar") }
  return c
}

func axisError(_ axis: Int, _ t: TensorType, _ op: String) -> ShapeError {
  ShapeError("\(op): axis \(axis) is out of range for \(t) (axes count per sample, without the batch)")
}

/// Numpy broadcasting on per-sample shapes. An unbatched operand (a parameter) first drops leading
/// size-1 axes beyond the other operand's rank, so `pos_embed [1, 197, 192]` meets tokens `[197, 192]`.
public func broadcastTypes(_ a: TensorType, _ b: TensorType) throws(ShapeError) -> TensorType {
  let sa = squeezedForBatch(a, toRank: b.rank), sb = squeezedForBatch(b, toRank: a.rank)
  let rank = max(sa.count, sb.count)
  let pa = Array(repeating: 1, count: rank - sa.count) + sa
  let pb = Array(repeating: 1, count: rank - sb.count) + sb
  var out: [Int] = []
  for (x, y) in zip(pa, pb) {
    guard x == y || x == 1 || y == 1 else {
      throw ShapeError("shapes \(a) and \(b) do not broadcast", hint: "axes are aligned from the right and must be equal or 1")
    }
    out.append(max(x, y))
  }
  return TensorType(out, batched: a.batched || b.batched)
}

/// The per-sample shape an operand takes when it meets a tensor of rank `rank`.
public func squeezedForBatch(_ t: TensorType, toRank rank: Int) -> [Int] {
  var s = t.shape
  if !t.batched { while s.count > rank, s.first == 1 { s.removeFirst() } }
  return s
}
