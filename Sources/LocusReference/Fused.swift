import LocusIR

/// The fused ops, each written as the composition of the plain ops it replaces: the reference
/// states what a fusion must compute, in the unfused terms a reader already trusts.
extension Interpreter {
  /// act((x ⊙ s)·Wᵀ + b) + residual. Operands: x, weight, bias?, scale?, residual?.
  static func fusedLinear(_ xs: [Tensor], _ a: FusedLinearAttrs) -> Tensor {
    let x = a.scaleOperand.map { binary(.mul, xs[0], xs[$0]) } ?? xs[0]
    var y = linear(x, weight: xs[1], bias: a.hasBias ? xs[2] : nil)
    if let act = a.activation { y = unary(act, y) }
    if a.hasResidual { y = binary(.add, y, xs[xs.count - 1]) }
    return y
  }

  /// seq2img → depth-wise conv2d → img2seq → act. Operands: x [N, C], weight, bias?.
  static func tokenDWConv(_ xs: [Tensor], _ a: TokenConvAttrs) -> Tensor {
    let c = xs[0].shape[1]
    let conv = Conv2dAttrs(outChannels: c, kernel: a.kernel, stride: a.stride, padding: a.padding, groups: c, hasBias: a.hasBias)
    var y = img2seq(conv2d(seq2img(xs[0], height: a.height), weight: xs[1], bias: a.hasBias ? xs[2] : nil, conv))
    if let act = a.activation { y = unary(act, y) }
    return y
  }

  /// For each variant: shift the image, convolve, add its positions, LayerNorm, project to K/V;
  /// then attention over the variants at each location. Operands: image, q, T × (weight, bias),
  /// pos, ln weight, ln bias, W_kv, b_kv.
  static func shiftedLocalAttention(_ xs: [Tensor], _ a: ShiftedAttentionAttrs) -> Tensor {
    let (image, q) = (xs[0], xs[1])
    let t = a.variants
    let pos = xs[2 + 2 * t], lnW = xs[3 + 2 * t], lnB = xs[4 + 2 * t], wkv = xs[5 + 2 * t], bkv = xs[6 + 2 * t]
    let c = pos.shape[2]
    let half = wkv.shape[0] / 2
    var keys: [Tensor] = [], values: [Tensor] = []
    for v in 0..<t {
      let shifted: Tensor
      switch v == 0 ? Shift.roll(dy: 0, dx: 0) : a.shifts[v - 1] {
      case .roll(let dy, let dx): shifted = roll(image, dy: dy, dx: dx)
      case .pad(let l, let r, let top, let bottom): shifted = circularPad(image, left: l, right: r, top: top, bottom: bottom)
      }
      let conv = Conv2dAttrs(outChannels: c, kernel: a.kernel, stride: a.stride, padding: a.padding, groups: 1, hasBias: true)
      let e = binary(.add, img2seq(conv2d(shifted, weight: xs[2 + 2 * v], bias: xs[3 + 2 * v], conv)), index(pos, axis: 0, at: v))
      let kv = linear(layerNorm(e, weight: lnW, bias: lnB, eps: a.eps), weight: wkv, bias: bkv)
      keys.append(slice(kv, axis: 1, start: 0, length: half))
      values.append(slice(kv, axis: 1, start: half, length: half))
    }
    return localAttention(q: q, k: stack(keys, axis: 0), v: stack(values, axis: 0), heads: a.heads, kvHeads: a.kvHeads)
  }
}
