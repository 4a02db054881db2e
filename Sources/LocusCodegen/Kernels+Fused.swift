import LocusIR

/// Emission of the ops the fusion passes make (DESIGN.md §6): a projection with its epilogue,
/// a depth-wise convolution of tokens, and Locally-SAG's shifted local attention.
extension KernelTable {
  /// fused_linear.c: `y = act(x·Wᵀ + b) + residual`, rows as `lk_linear` (every leading axis and
  /// the batch fold into the GEMM's rows); the residual has y's layout.
  static func emitFusedLinear(_ k: inout KernelContext) throws(CodegenError) {
    guard case .fusedLinear(let a) = k.node.op else { return }
    let x = k.operand(0)
    let kk = x.shape.last ?? 1, n = k.result.shape.last ?? 1
    let rows = k.count(Array(x.shape.dropLast()), batched: x.batched)
    let bias = a.hasBias ? try k.arg(2) : "NULL"
    let residual = a.hasResidual ? try k.arg(k.node.operands.count - 1) : "NULL"
    let act = try activationCode(a.activation, &k)
    if a.scaleOperand != nil, !x.batched {
      throw k.unsupported("an input scale on a projection of a value shared by every sample")
    }
    if x.batched, a.scaleOperand != nil || k.stridesSamples {
      // Per sample, each operand at its own sample stride: views (tokens 1... of each sample),
      // and an input scale s_b [K] per sample (stride 0: one s for every sample).
      let ops = k.node.operands
      let perSample = k.count(Array(x.shape.dropLast()), batched: false)
      func stride(_ i: Int) -> String { k.operand(i).batched ? "\(k.sampleStride(ops[i]))" : "0" }
      var scale = "NULL", scaleStride = "0"
      if let s = a.scaleOperand { (scale, scaleStride) = (try k.arg(s), stride(s)) }
      let args = [k.batch(), perSample, "\(kk)", "\(n)", try k.arg(0), stride(0), try k.arg(1), bias, scale, scaleStride,
                  act, residual, a.hasResidual ? stride(ops.count - 1) : "0", try k.out(), "\(k.sampleStride(k.node.id))"]
      k.call("lk_fused_linear_strided", args, from: "fused_linear.c")
      return
    }
    let args = [rows, "\(kk)", "\(n)", try k.arg(0), try k.arg(1), bias, act, residual, try k.out()]
    k.call("lk_fused_linear", args, from: "fused_linear.c")
  }

  /// The operands of a fused_linear applied to every sample: the weight, and the bias if any
  /// (x and the residual carry the batch).
  @Sendable static func fusedLinearWeights(_ node: Node) -> [Int] {
    guard case .fusedLinear(let a) = node.op else { return [] }
    return a.hasBias ? [1, 2] : [1]
  }

  /// token_dwconv.c: tokens [Hh·Ww, C] read as a channels-last image.
  static func emitTokenDWConv(_ k: inout KernelContext) throws(CodegenError) {
    guard case .tokenDWConv(let a) = k.node.op else { return }
    let c = k.operand(0).shape[1]
    let geometry = [a.height, a.width, c, a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1]]
    let args = [k.batch()] + geometry.map(String.init)
      + [try k.arg(0), try k.arg(1), try k.optionalArg(2), try activationCode(a.activation, &k), try k.out()]
    k.call("lk_token_dwconv", args, from: "token_dwconv.c")
  }

  /// shifted_attention.c. Operands: image [Ci, Hh, Ww], q [N, H·D], T × (conv weight, conv bias),
  /// pos [T, N, C], LN weight, LN bias, W_kv [2·Hk·D, C], b_kv. The T convolutions go as two
  /// arrays of pointers, the shifts as an int [T][4] array (variant 0, the image itself, first).
  static func emitShiftedLocalAttention(_ k: inout KernelContext) throws(CodegenError) {
    guard case .shiftedLocalAttention(let a) = k.node.op else { return }
    let image = k.operand(0).shape, q = k.operand(1).shape
    let t = a.variants
    let c = k.operand(2 + 2 * t).shape[2]
    let d = q[1] / a.heads
    let (mode, shifts) = try shiftTable(a, &k)
    try checkVariantSizes(a, image: image, tokens: q[0], &k)
    var weights: [String] = [], biases: [String] = []
    for v in 0..<t {
      weights.append(try k.arg(2 + 2 * v))
      biases.append(try k.arg(3 + 2 * v))
    }
    let geometry = [image[0], image[1], image[2], t]
    let conv = [c, a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.heads, a.kvHeads, d]
    var args = [k.batch()] + geometry.map(String.init) + [mode, KernelContext.ints(shifts)] + conv.map(String.init)
    args += [try k.arg(0), try k.arg(1), pointers(weights), pointers(biases)]
    args += [try k.arg(2 + 2 * t), try k.arg(3 + 2 * t), try k.arg(4 + 2 * t), cFloat(a.eps)]
    args += [try k.arg(5 + 2 * t), try k.arg(6 + 2 * t), cFloat(inverseSquareRoot(d)), try k.out()]
    k.checkedCall("lk_shifted_local_attention", args, from: "shifted_attention.c")
  }

  /// The kernel takes one kind of shift for all variants: rolls `{dy, dx, 0, 0}` or one-sided
  /// circular pads `{l, r, top, bottom}`. A roll by (0, 0) is the image itself in either kind.
  static func shiftTable(_ a: ShiftedAttentionAttrs, _ k: inout KernelContext) throws(CodegenError) -> (String, [Int]) {
    let padding = a.shifts.contains { if case .pad = $0 { true } else { false } }
    var table = [0, 0, 0, 0]
    for shift in a.shifts {
      switch shift {
      case .roll(0, 0): table += [0, 0, 0, 0]
      case .roll(let dy, let dx) where !padding: table += [dy, dx, 0, 0]
      case .pad(let l, let r, let top, let bottom): table += [l, r, top, bottom]
      case .roll: throw k.unsupported("rolls and pads in one node; the kernel takes one kind of shift")
      }
    }
    return (padding ? "LK_SHIFT_PAD" : "LK_SHIFT_ROLL", table)
  }

  /// Every variant's convolution must give the N tokens of q (as `lk__sla_setup` checks in C,
  /// where a mismatch would leave the output unwritten).
  static func checkVariantSizes(_ a: ShiftedAttentionAttrs, image: [Int], tokens: Int, _ k: inout KernelContext) throws(CodegenError) {
    for shift in [Shift.roll(dy: 0, dx: 0)] + a.shifts {
      var (h, w) = (image[1], image[2])
      if case .pad(let l, let r, let top, let bottom) = shift { (h, w) = (h + top + bottom, w + l + r) }
      let ho = (h + 2 * a.padding[0] - a.kernel[0]) / a.stride[0] + 1, wo = (w + 2 * a.padding[1] - a.kernel[1]) / a.stride[1] + 1
      guard h + 2 * a.padding[0] >= a.kernel[0], w + 2 * a.padding[1] >= a.kernel[1], ho * wo == tokens else {
        throw k.unsupported("variant \(shift) of the \(h)×\(w) image does not convolve to the \(tokens) tokens of q")
      }
    }
  }

  /// `(const float *const[]){params[3], params[5]}`: a C99 compound literal of pointers.
  static func pointers(_ xs: [String]) -> String { "(const float *const[]){" + xs.joined(separator: ", ") + "}" }

  /// The `LK_ACT_*` code of prologue.h for a fused activation.
  static func activationCode(_ f: UnaryOp?, _ k: inout KernelContext) throws(CodegenError) -> String {
    switch f {
    case nil, .identity?: return "LK_ACT_NONE"
    case .rsqrt?: throw k.unsupported("rsqrt is not an activation the fused kernels apply")
    case let f?: return "LK_ACT_" + f.rawValue.uppercased()
    }
  }
}
