/// Ops that only training graphs contain (DESIGN.md §7): the train-mode forms of the norms, the
/// loss, and the gradient ops the autodiff emits. Kept apart from `Op`'s inference cases so every
/// inference switch stays as it was; `Op.training` wraps them.
///
/// Operand order is part of each case's contract (written after the case).
public enum TrainingOp: Hashable, Sendable {
  /// LayerNorm without the affine part, over the last axis (biased variance).
  case normalize(eps: Float)                         // (x [..., C])
  /// The input gradient of `normalize`. With a weight [C] it is an affine LayerNorm's,
  /// normalize_grad(x, dy ⊙ w), and a fourth operand of the result's type is added to it (the
  /// residual branch's gradient): `products` folds the `mul` and the `add` in.
  case normalizeGrad(eps: Float)                     // (x, dxhat) or (x, dy, w [C], residual?) -> dx
  /// An affine LayerNorm's weight and bias gradients from x (not from a stored x̂): unbatched
  /// [2, C] = (Σ dy ⊙ normalize(x), Σ dy) over every row of the batch. `layernorm-training` makes
  /// it, so the forward keeps `layernorm` in one pass and x̂ is never written.
  case normalizeParamGrad(eps: Float)                // (x [..., C], dy)
  /// BatchNorm in train mode: x̂·w + b, x̂ with the statistics per channel over the batch and every
  /// other axis (biased variance). The channels are the first axis of an image [C, ...], or the
  /// last of tokens [..., C] when `channelsLast` (the `token-layout` form).
  case batchNormalize(eps: Float, channelsLast: Bool)  // (x [C, ...] or [..., C], weight [C], bias [C])
  case batchNormalizeGrad(eps: Float, channelsLast: Bool) // (x, dy, weight) -> dx
  /// The gradients of BatchNorm's weight and bias: unbatched [2, C] = (Σ dy·x̂, Σ dy).
  case batchNormalizeParamGrad(eps: Float, channelsLast: Bool) // (x, dy)
  /// Per-channel batch mean and unbiased variance, for the running statistics: unbatched [2, C].
  case batchMoments(channelsLast: Bool)              // (x [C, ...] or [..., C])
  /// The batch moments of tokens [..., C] with the mean's rounding error as a third row, unbatched
  /// [3, C] = (mean, unbiased variance, mean − row 0): the first two rows are `batch_moments`, and
  /// row 0 + row 2 is the mean to double precision, which `batch_norm_act` subtracts in two parts.
  case batchStatistics                               // (x [..., C])
  /// BatchNorm over tokens [..., C] in train mode from the batch's statistics (computed once, for
  /// the running statistics too, instead of once per kernel), then an activation (`identity`:
  /// none): act(x̂·w + b). Made by `batchnorm-activation`.
  case batchNormAct(eps: Float, act: UnaryOp)        // (x [..., C], statistics [3, C], weight [C], bias [C])
  /// batch_norm_act's weight and bias gradients, unbatched [2, C] = (Σ dy·x̂, Σ dy), where
  /// dy = dz ⊙ act'(x̂·w + b) is recomputed from x (no pre-activation is stored).
  case batchNormActParamGrad(eps: Float, act: UnaryOp) // (x, dz, statistics, weight, bias)
  /// batch_norm_act's input gradient, from those sums: w·rstd·(dy − mean(dy) − x̂·mean(dy ⊙ x̂)).
  case batchNormActGrad(eps: Float, act: UnaryOp)    // (x, dz, statistics, weight, bias, sums) -> dx
  case unaryGrad(UnaryOp)                            // (x, dy) -> dy·f'(x)
  case softmaxGrad(axis: Int)                        // (y, dy) -> y ⊙ (dy − Σ dy ⊙ y)
  /// Sums the listed per-sample axes away, and the batch axis when `batch` (the result is then
  /// unbatched): how a gradient reaches a broadcast operand or a parameter. With a second operand
  /// of x's type it sums x ⊙ y without materialising the product (`products` makes it from
  /// `reduce_sum(mul(x, y))`: a LayerNorm weight's gradient, squeeze-excite's gate gradient).
  case reduceSum(axes: [Int], batch: Bool)           // (x) or (x, y)
  /// a·b + c with numpy broadcasting, in one pass: `add(mul(a, b), c)` made by `products` (a
  /// LayerNorm's affine part, squeeze-excite's input gradient).
  case mulAdd                                        // (a, b, c)
  /// Broadcasts x to `shape` (numpy rules on per-sample shapes; batchedness is kept).
  case expand([Int])                                 // (x)
  case conv2dGradInput(Conv2dAttrs, height: Int, width: Int) // (dy [Co, Ho, Wo], weight) -> [Ci, height, width]
  case conv2dGradWeight(Conv2dAttrs)                 // (dy [Co, Ho, Wo], x [Ci, Hh, Ww]) -> unbatched weight shape
  case linearGradWeight                              // (dy [..., N], x [..., K]) -> unbatched [N, K]
  /// transpose(matmul(transpose(a, permA), transpose(b, permB)), permOut) with no transpose
  /// materialised: the GEMM reads each operand and writes its result through strides (attention's
  /// head splits and merges, and the swapped operands of its gradients). permOut keeps one of the
  /// product's last two axes last.
  case matmulPermuted(a: [Int], b: [Int], out: [Int]) // (a, b), both batched, of the result's rank
  /// The gradients of `sdpa` with respect to q, k and v, side by side along the last axis:
  /// [N, H·D + 2·Hk·D] = [dq | dk | dv], the layout of a fused qkv projection's output (so its
  /// gradient needs no concat). Queries and keys must be as many (self-attention).
  case sdpaGrad(heads: Int, kvHeads: Int)            // (q [N, H·D], k, v [N, Hk·D], dout [N, H·D])
  /// The gradients of `local_attention` (q [N, H·D], k, v [T, N, Hk·D], dout [N, H·D]): with
  /// respect to q ([N, H·D]), and with respect to k and v side by side along the last axis
  /// ([T, N, 2·Hk·D] = [dk | dv], the layout of a fused K/V projection's output, so its gradient
  /// needs no concat). Each recomputes the attention weights from q and k.
  case localAttentionGradQ(heads: Int, kvHeads: Int)  // (q, k, v, dout) -> [N, H·D]
  case localAttentionGradKV(heads: Int, kvHeads: Int) // (q, k, v, dout) -> [T, N, 2·Hk·D]
  /// The gradients of `token_dwconv` (without activation) with respect to its input and weight.
  case tokenDWConvGradInput(TokenConvAttrs)          // (dy [Ho·Wo, C], weight [C, 1, kh, kw]) -> [height·width, C]
  case tokenDWConvGradWeight(TokenConvAttrs)         // (dy [Ho·Wo, C], x [height·width, C]) -> unbatched [C, 1, kh, kw]
  case maxpoolGrad(kernel: [Int], stride: [Int], padding: [Int]) // (x, dy) -> dx
  case circularPadGrad(left: Int, right: Int, top: Int, bottom: Int) // (dy) -> [C, H, W]
  /// The gradient of `slice`: x placed at `before` along `axis`, zeros around it.
  /// x with `before` and `after` zeros along `axis` (a slice's or an index's adjoint); with a
  /// second operand of the result's type, that operand plus the padded x: `products` makes it
  /// from `add(base, zero_pad(x))`, which then touches only x's part of base (in place).
  case zeroPad(axis: Int, before: Int, after: Int)   // (x) or (x, base)
  /// Mean over the batch of softmax cross-entropy with soft targets: unbatched [1].
  case crossEntropy                                  // (logits [K], targets [K])
  case crossEntropyGrad                              // (logits, targets) -> (softmax − targets) / B

  public var mnemonic: String {
    switch self {
    case .normalize: "normalize"
    case .normalizeGrad: "normalize_grad"
    case .normalizeParamGrad: "normalize_param_grad"
    case .batchNormalize: "batch_normalize"
    case .batchNormalizeGrad: "batch_normalize_grad"
    case .batchNormalizeParamGrad: "batch_normalize_param_grad"
    case .batchMoments: "batch_moments"
    case .batchStatistics: "batch_statistics"
    case .batchNormAct: "batch_norm_act"
    case .batchNormActParamGrad: "batch_norm_act_param_grad"
    case .batchNormActGrad: "batch_norm_act_grad"
    case .unaryGrad(let u): "\(u.rawValue)_grad"
    case .softmaxGrad: "softmax_grad"
    case .reduceSum: "reduce_sum"
    case .mulAdd: "mul_add"
    case .expand: "expand"
    case .conv2dGradInput: "conv2d_grad_input"
    case .conv2dGradWeight: "conv2d_grad_weight"
    case .linearGradWeight: "linear_grad_weight"
    case .matmulPermuted: "matmul_permuted"
    case .sdpaGrad: "sdpa_grad"
    case .localAttentionGradQ: "local_attention_grad_q"
    case .localAttentionGradKV: "local_attention_grad_kv"
    case .tokenDWConvGradInput: "token_dwconv_grad_input"
    case .tokenDWConvGradWeight: "token_dwconv_grad_weight"
    case .maxpoolGrad: "maxpool_grad"
    case .circularPadGrad: "circular_pad_grad"
    case .zeroPad: "zero_pad"
    case .crossEntropy: "cross_entropy"
    case .crossEntropyGrad: "cross_entropy_grad"
    }
  }

  public var attributeText: String {
    func list(_ xs: [Int]) -> String { "[" + xs.map(String.init).joined(separator: ", ") + "]" }
    switch self {
    case .normalize(let eps), .normalizeGrad(let eps), .normalizeParamGrad(let eps):
      return "eps \(eps)"
    case .batchNormalize(let eps, let last), .batchNormalizeGrad(let eps, let last), .batchNormalizeParamGrad(let eps, let last):
      return "eps \(eps)" + (last ? ", channels last" : "")
    case .batchMoments(let last): return last ? "channels last" : ""
    case .batchNormAct(let eps, let act), .batchNormActParamGrad(let eps, let act), .batchNormActGrad(let eps, let act):
      return "eps \(eps)" + (act == .identity ? "" : ", act \(act.rawValue)")
    case .tokenDWConvGradInput(let a), .tokenDWConvGradWeight(let a):
      return "image [\(a.height), \(a.width)], kernel \(list(a.kernel)), stride \(list(a.stride)), padding \(list(a.padding))"
    case .softmaxGrad(let axis): return "axis \(axis)"
    case .reduceSum(let axes, let batch): return "axes \(list(axes))" + (batch ? ", batch" : "")
    case .expand(let shape): return "shape \(list(shape))"
    case .conv2dGradInput(let a, let h, let w):
      return "out \(a.outChannels), kernel \(list(a.kernel)), stride \(list(a.stride)), padding \(list(a.padding)), groups \(a.groups), image [\(h), \(w)]"
    case .conv2dGradWeight(let a):
      return "out \(a.outChannels), kernel \(list(a.kernel)), stride \(list(a.stride)), padding \(list(a.padding)), groups \(a.groups)"
    case .maxpoolGrad(let k, let s, let p): return "kernel \(list(k)), stride \(list(s)), padding \(list(p))"
    case .circularPadGrad(let l, let r, let t, let b): return "left \(l), right \(r), top \(t), bottom \(b)"
    case .zeroPad(let axis, let before, let after): return "axis \(axis), before \(before), after \(after)"
    case .unaryGrad, .linearGradWeight, .crossEntropy, .crossEntropyGrad, .batchStatistics, .mulAdd: return ""
    case .matmulPermuted(let a, let b, let out): return "a perm \(list(a)), b perm \(list(b)), out perm \(list(out))"
    case .sdpaGrad(let h, let hk), .localAttentionGradQ(let h, let hk), .localAttentionGradKV(let h, let hk):
      return "heads \(h), kv_heads \(hk)"
    }
  }

  /// Ops whose unbatched result sums (or averages) over the batch of a batched operand.
  public var reducesBatch: Bool {
    switch self {
    case .batchMoments, .batchStatistics, .batchNormalizeParamGrad, .batchNormActParamGrad, .normalizeParamGrad, .conv2dGradWeight,
         .linearGradWeight, .tokenDWConvGradWeight, .crossEntropy: true
    case .reduceSum(_, let batch): batch
    default: false
    }
  }

  public var arity: ClosedRange<Int> {
    switch self {
    case .normalize, .batchMoments, .batchStatistics, .expand, .circularPadGrad: 1...1
    case .reduceSum, .zeroPad: 1...2
    case .normalizeGrad: 2...4
    case .batchNormalize, .batchNormalizeGrad, .mulAdd: 3...3
    case .sdpaGrad, .localAttentionGradQ, .localAttentionGradKV, .batchNormAct: 4...4
    case .batchNormActParamGrad: 5...5
    case .batchNormActGrad: 6...6
    default: 2...2
    }
  }
}

extension Op {
  /// A batched operand may meet an unbatched result only in these ops (DESIGN.md §7).
  public var reducesBatch: Bool {
    if case .training(let t) = self { return t.reducesBatch }
    return false
  }
}
