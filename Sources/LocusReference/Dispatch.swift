import LocusIR

/// The op → kernel table. Kernels see per-sample tensors (no batch axis); `perSample` feeds them.
/// Shapes were already checked against the op's shape rule, so kernels only compute.
extension Interpreter {
  static func compute(_ op: Op, _ xs: [Tensor], _ types: [TensorType], batch: Int, result: TensorType) throws(ReferenceError) -> Tensor {
    func each(_ operands: [Tensor], _ kernel: ([Tensor]) -> Tensor) -> Tensor {
      perSample(operands, types, batch: batch, batched: result.batched, kernel)
    }
    switch op {
    case .input, .parameter:
      throw .unsupported(op: op.mnemonic, reason: "its value is an argument of `run`, not computed")
    case .conv2d(let a):
      return each(xs) { conv2d($0[0], weight: $0[1], bias: a.hasBias ? $0[2] : nil, a) }
    case .linear(let hasBias):
      return each(xs) { linear($0[0], weight: $0[1], bias: hasBias ? $0[2] : nil) }
    case .layernorm(let eps):
      return each(xs) { layerNorm($0[0], weight: $0[1], bias: $0[2], eps: eps) }
    case .batchnorm(let eps):
      return each(xs) { batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: $0[3], runningVar: $0[4], eps: eps) }
    case .unary(let u):
      return each(xs) { unary(u, $0[0]) }
    case .softmax(let axis):
      return each(xs) { softmax($0[0], axis: axis) }
    case .matmul:
      // Leading (matrix-batch) axes broadcast like `binary`; an unbatched operand drops extra leading 1s.
      let leads = types.map { TensorType(Array($0.shape.dropLast(2)), batched: $0.batched) }
      let a = squeezed(xs[0], types[0], lead: leads[0], toRank: leads[1].rank)
      let b = squeezed(xs[1], types[1], lead: leads[1], toRank: leads[0].rank)
      return each([a, b]) { matmul($0[0], $0[1]) }
    case .binary(let f):
      let a = squeezed(xs[0], types[0], lead: types[0], toRank: types[1].rank)
      let b = squeezed(xs[1], types[1], lead: types[1], toRank: types[0].rank)
      return each([a, b]) { binary(f, $0[0], $0[1]) }
    case .scalar(let f, let s, let scalarFirst):
      return each(xs) { scalar(f, $0[0], s, scalarFirst: scalarFirst) }
    case .gap:
      return each(xs) { gap($0[0]) }
    case .maxpool(let kernel, let stride, let padding):
      return each(xs) { maxpool($0[0], kernel: kernel, stride: stride, padding: padding) }
    case .mean(let axis):
      return each(xs) { mean($0[0], axis: axis) }
    case .roll(let dy, let dx):
      return each(xs) { roll($0[0], dy: dy, dx: dx) }
    case .circularPad(let left, let right, let top, let bottom):
      return each(xs) { circularPad($0[0], left: left, right: right, top: top, bottom: bottom) }
    case .concat(let axis):
      let parts = zip(xs, types).map { squeezed($0, $1, lead: $1, toRank: result.rank) }
      return each(parts) { concat($0, axis: axis) }
    case .stack(let axis):
      let parts = zip(xs, types).map { squeezed($0, $1, lead: $1, toRank: result.rank - 1) }
      return each(parts) { stack($0, axis: axis) }
    case .slice(let axis, let start, let length):
      return each(xs) { slice($0[0], axis: axis, start: start, length: length) }
    case .index(let axis, let at):
      return each(xs) { index($0[0], axis: axis, at: at) }
    case .seq2img(let height):
      return each(xs) { seq2img($0[0], height: height) }
    case .img2seq:
      return each(xs) { img2seq($0[0]) }
    case .im2col(let kernel, let stride, let padding):
      return each(xs) { im2col($0[0], kernel: kernel, stride: stride, padding: padding) }
    case .reshape(let shape):
      return each(xs) { $0[0].reshaped(shape) }
    case .transpose(let perm):
      return each(xs) { transpose($0[0], perm: perm) }
    case .sdpa(let heads, let kvHeads):
      return each(xs) { sdpa(q: $0[0], k: $0[1], v: $0[2], heads: heads, kvHeads: kvHeads) }
    case .localAttention(let heads, let kvHeads):
      return each(xs) { localAttention(q: $0[0], k: $0[1], v: $0[2], heads: heads, kvHeads: kvHeads) }
    case .fusedLinear(let a):
      return each(xs) { fusedLinear($0, a) }
    case .tokenDWConv(let a):
      return each(xs) { tokenDWConv($0, a) }
    case .shiftedLocalAttention(let a):
      return each(xs) { shiftedLocalAttention($0, a) }
    case .training(let t):
      return training(t, xs, types, batch: batch, result: result)
    }
  }

  /// An unbatched operand meeting a value of rank `rank` loses its extra leading size-1 axes
  /// (`squeezedForBatch`, DESIGN §2). `lead` is the part of its type the rule applies to: the
  /// whole type, or for `matmul` the axes before the matrix. Batched operands are returned as is.
  static func squeezed(_ x: Tensor, _ type: TensorType, lead: TensorType, toRank rank: Int) -> Tensor {
    guard !type.batched else { return x }
    let tail = type.shape.dropFirst(lead.rank)
    return x.reshaped(squeezedForBatch(lead, toRank: rank) + tail)
  }
}
