/// Elementwise functions of one tensor. GELU is the exact (erf) form, as `nn.GELU()`.
public enum UnaryOp: String, CaseIterable, Hashable, Sendable {
  case gelu, relu, relu6, hswish, hsigmoid, sigmoid, identity
  /// 1/√x: only in constants computed by `prepare` (BatchNorm folding).
  case rsqrt
}

/// Elementwise functions of two tensors, with numpy broadcasting (see `broadcastTypes`).
public enum BinaryOp: String, CaseIterable, Hashable, Sendable {
  case add, sub, mul, div
}

/// Convolution attributes; kernel, stride and padding are (height, width).
public struct Conv2dAttrs: Hashable, Sendable {
  public var outChannels: Int
  public var kernel: [Int]
  public var stride: [Int]
  public var padding: [Int]
  public var groups: Int
  public var hasBias: Bool
  public init(outChannels: Int, kernel: [Int], stride: [Int], padding: [Int], groups: Int, hasBias: Bool) {
    self.outChannels = outChannels
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    self.groups = groups
    self.hasBias = hasBias
  }
}

/// `fused_linear`: y = act((x ⊙ s)·Wᵀ + b) + residual, the projection with its epilogue, and an
/// optional per-input-channel scale s (a squeeze-excite gate, `channel-scale`). Operands, in this
/// order: x, weight, bias?, scale?, residual?.
public struct FusedLinearAttrs: Hashable, Sendable {
  public var hasBias: Bool
  public var activation: UnaryOp?
  public var hasResidual: Bool
  public var hasInputScale: Bool
  public init(hasBias: Bool, activation: UnaryOp? = nil, hasResidual: Bool = false, hasInputScale: Bool = false) {
    self.hasBias = hasBias
    self.activation = activation
    self.hasResidual = hasResidual
    self.hasInputScale = hasInputScale
  }
  /// The scale's operand index, when there is one.
  public var scaleOperand: Int? { hasInputScale ? (hasBias ? 3 : 2) : nil }
  public var operandCount: Int { 2 + (hasBias ? 1 : 0) + (hasInputScale ? 1 : 0) + (hasResidual ? 1 : 0) }
}

/// `token_dwconv`: a depth-wise convolution of tokens read as a channels-last image.
public struct TokenConvAttrs: Hashable, Sendable {
  public var height: Int, width: Int
  public var kernel: [Int], stride: [Int], padding: [Int]
  public var hasBias: Bool
  public var activation: UnaryOp?
  public init(height: Int, width: Int, kernel: [Int], stride: [Int], padding: [Int], hasBias: Bool, activation: UnaryOp? = nil) {
    self.height = height
    self.width = width
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    self.hasBias = hasBias
    self.activation = activation
  }
  /// The same convolution with or without a bias, and no activation (what its gradients see).
  public init(_ a: TokenConvAttrs, bias: Bool) {
    self.init(height: a.height, width: a.width, kernel: a.kernel, stride: a.stride, padding: a.padding, hasBias: bias)
  }
  public var outHeight: Int { (height + 2 * padding[0] - kernel[0]) / stride[0] + 1 }
  public var outWidth: Int { (width + 2 * padding[1] - kernel[1]) / stride[1] + 1 }
}

/// How Locally-SAG makes variant t of the image: a roll by (dy, dx), or a one-sided circular pad
/// (left, right, top, bottom). Variant 0 is the image itself.
public enum Shift: Hashable, Sendable {
  case roll(dy: Int, dx: Int)
  case pad(left: Int, right: Int, top: Int, bottom: Int)
}

/// `shifted_local_attention`: Locally-SAG's variant embeddings, positions, LayerNorm, K/V
/// projection and local attention in one node.
public struct ShiftedAttentionAttrs: Hashable, Sendable {
  /// One per variant after the first (the image itself).
  public var shifts: [Shift]
  public var kernel: [Int], stride: [Int], padding: [Int]
  public var heads: Int, kvHeads: Int
  public var eps: Float
  public init(shifts: [Shift], kernel: [Int], stride: [Int], padding: [Int], heads: Int, kvHeads: Int, eps: Float) {
    self.shifts = shifts
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    self.heads = heads
    self.kvHeads = kvHeads
    self.eps = eps
  }
  public var variants: Int { shifts.count + 1 }
}

/// Every operation of the IR. Each node has exactly one result; multi-result spec primitives
/// (`split`, `split_cls`) lower to several `slice` nodes, so passes never juggle tuples.
///
/// Operand order is part of each case's contract (written after the case). Weights are ordinary
/// operands that come from `.parameter` nodes.
public enum Op: Hashable, Sendable {
  case input(name: String)                        // ()
  case parameter(name: String)                    // ()
  case conv2d(Conv2dAttrs)                        // (x [Ci,H,W], weight [Co,Ci/g,kh,kw], bias [Co]?)
  case linear(hasBias: Bool)                      // (x [..., K], weight [N, K], bias [N]?)
  case layernorm(eps: Float)                      // (x [..., C], weight [C], bias [C])
  case batchnorm(eps: Float)                      // (x [C, ...], weight, bias, running_mean, running_var)
  case unary(UnaryOp)                             // (x)
  case softmax(axis: Int)                         // (x)
  case matmul                                     // (a [..., M, K], b [..., K, N])
  case binary(BinaryOp)                           // (a, b)
  case scalar(BinaryOp, Float, scalarFirst: Bool) // (x): x op s, or s op x when scalarFirst
  case gap                                        // (x [C, H, W]) -> [C]
  case maxpool(kernel: [Int], stride: [Int], padding: [Int]) // (x [C, H, W])
  case mean(axis: Int)                            // (x)
  case roll(dy: Int, dx: Int)                     // (x [C, H, W])
  case circularPad(left: Int, right: Int, top: Int, bottom: Int) // (x [C, H, W])
  case concat(axis: Int)                          // (a, b, ...)
  case stack(axis: Int)                           // (a, b, ...)
  case slice(axis: Int, start: Int, length: Int)  // (x); start is already non-negative
  case index(axis: Int, at: Int)                  // (x)
  case seq2img(height: Int)                       // (x [N, C]) -> [C, height, N/height]
  case img2seq                                    // (x [C, H, W]) -> [H*W, C]
  case im2col(kernel: [Int], stride: [Int], padding: [Int]) // (x [C, H, W]) -> [Ho*Wo, C*kh*kw], zero padding
  case reshape([Int])                             // (x): a view
  case transpose([Int])                           // (x): perm over per-sample axes
  case sdpa(heads: Int, kvHeads: Int)             // (q [Nq, H*D], k [Nk, Hk*D], v [Nk, Hk*D])
  case localAttention(heads: Int, kvHeads: Int)   // (q [N, H*D], k [T, N, Hk*D], v [T, N, Hk*D])

  // Fused ops, made by the passes (DESIGN.md §6), never written in a spec.
  case fusedLinear(FusedLinearAttrs)              // (x [..., K], weight [N, K], bias [N]?, residual [..., N]?)
  case tokenDWConv(TokenConvAttrs)                // (x [N, C], weight [C, 1, kh, kw], bias [C]?)
  case shiftedLocalAttention(ShiftedAttentionAttrs) // (image, q, T × (conv weight, conv bias), pos [T, N, C], ln w, ln b, W_kv, b_kv)

  // Training graphs only (DESIGN.md §7): train-mode norms, the loss, gradients.
  case training(TrainingOp)
}

extension Op {
  /// The mnemonic used by the printer and in diagnostics.
  public var mnemonic: String {
    switch self {
    case .input: "input"
    case .parameter: "param"
    case .conv2d: "conv2d"
    case .linear: "linear"
    case .layernorm: "layernorm"
    case .batchnorm: "batchnorm"
    case .unary(let u): u.rawValue
    case .softmax: "softmax"
    case .matmul: "matmul"
    case .binary(let b): b.rawValue
    case .scalar(let b, _, _): "\(b.rawValue)_scalar"
    case .gap: "gap"
    case .maxpool: "maxpool"
    case .mean: "mean"
    case .roll: "roll"
    case .circularPad: "circular_pad"
    case .concat: "concat"
    case .stack: "stack"
    case .slice: "slice"
    case .index: "index"
    case .seq2img: "seq2img"
    case .img2seq: "img2seq"
    case .im2col: "im2col"
    case .reshape: "reshape"
    case .transpose: "transpose"
    case .sdpa: "sdpa"
    case .localAttention: "local_attention"
    case .fusedLinear: "fused_linear"
    case .tokenDWConv: "token_dwconv"
    case .shiftedLocalAttention: "shifted_local_attention"
    case .training(let t): t.mnemonic
    }
  }

  /// Attributes rendered for the printer, in a fixed order (deterministic dumps).
  public var attributeText: String {
    func list(_ xs: [Int]) -> String { "[" + xs.map(String.init).joined(separator: ", ") + "]" }
    switch self {
    case .input(let n): return "\"\(n)\""
    case .parameter(let n): return "\"\(n)\""
    case .conv2d(let a):
      return "out \(a.outChannels), kernel \(list(a.kernel)), stride \(list(a.stride)), padding \(list(a.padding)), groups \(a.groups)"
    case .linear, .matmul, .gap, .img2seq, .unary, .binary: return ""
    case .layernorm(let eps), .batchnorm(let eps): return "eps \(eps)"
    case .softmax(let axis), .mean(let axis), .concat(let axis), .stack(let axis): return "axis \(axis)"
    case .scalar(_, let s, let first): return first ? "\(s) op x" : "x op \(s)"
    case .maxpool(let k, let s, let p), .im2col(let k, let s, let p):
      return "kernel \(list(k)), stride \(list(s)), padding \(list(p))"
    case .roll(let dy, let dx): return "dy \(dy), dx \(dx)"
    case .circularPad(let l, let r, let t, let b): return "left \(l), right \(r), top \(t), bottom \(b)"
    case .slice(let axis, let start, let length): return "axis \(axis), start \(start), length \(length)"
    case .index(let axis, let at): return "axis \(axis), at \(at)"
    case .seq2img(let h): return "height \(h)"
    case .reshape(let s): return "shape \(list(s))"
    case .transpose(let p): return "perm \(list(p))"
    case .sdpa(let h, let hk), .localAttention(let h, let hk): return "heads \(h), kv_heads \(hk)"
    case .fusedLinear(let a):
      return [a.hasInputScale ? "input_scale" : nil, a.activation.map { "act \($0.rawValue)" }, a.hasResidual ? "residual" : nil]
        .compactMap { $0 }.joined(separator: ", ")
    case .tokenDWConv(let a):
      return "image [\(a.height), \(a.width)], kernel \(list(a.kernel)), stride \(list(a.stride)), padding \(list(a.padding))"
        + (a.activation.map { ", act \($0.rawValue)" } ?? "")
    case .shiftedLocalAttention(let a):
      let shifts = a.shifts.map { s -> String in
        switch s {
        case .roll(let dy, let dx): "roll(\(dy), \(dx))"
        case .pad(let l, let r, let t, let b): "pad(\(l), \(r), \(t), \(b))"
        }
      }
      return "T \(a.variants), shifts [\(shifts.joined(separator: ", "))], kernel \(list(a.kernel)), stride \(list(a.stride)), padding \(list(a.padding)), heads \(a.heads), kv_heads \(a.kvHeads), eps \(a.eps)"
    case .training(let t): return t.attributeText
    }
  }

  /// Ops whose result shares its operand's storage (no kernel runs).
  public var isView: Bool {
    if case .reshape = self { return true }
    return false
  }
}
