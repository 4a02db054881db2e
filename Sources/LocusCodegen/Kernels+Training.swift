import LocusIR

/// Emission of the training ops (DESIGN.md §7) from grad.c, loss.c, layout.c and token_dwconv.c. Ops that sum or
/// normalise over the batch are `.strided` rows: they never run one sample at a time and their
/// operands are never sample-strided views, so `B` always means the whole batch.
extension KernelTable {
  static var trainingEntries: [String: KernelEntry] {
    var table: [String: KernelEntry] = [
      "normalize": KernelEntry(batch: .together, emit: emitNormalize),
      "normalize_grad": KernelEntry(batch: .shared([2]), emit: emitNormalize),  // the weight (affine form)
      "normalize_param_grad": KernelEntry(batch: .strided, emit: emitNormalize),
      "batch_normalize": KernelEntry(batch: .strided, emit: emitBatchNormalize),
      "batch_normalize_grad": KernelEntry(batch: .strided, emit: emitBatchNormalize),
      "batch_normalize_param_grad": KernelEntry(batch: .strided, emit: emitBatchNormalize),
      "batch_moments": KernelEntry(batch: .strided, emit: emitBatchNormalize),
      "batch_statistics": KernelEntry(batch: .strided, emit: emitBatchNormAct),
      "batch_norm_act": KernelEntry(batch: .strided, emit: emitBatchNormAct, workspace: batchNormActWorkspace),
      "batch_norm_act_param_grad": KernelEntry(batch: .strided, emit: emitBatchNormAct, workspace: batchNormActWorkspace),
      "batch_norm_act_grad": KernelEntry(batch: .strided, emit: emitBatchNormAct, workspace: batchNormActWorkspace),
      "softmax_grad": KernelEntry(batch: .together, emit: emitSoftmaxGrad, workspace: softmaxGradWorkspace),
      "sdpa_grad": KernelEntry(batch: .together, emit: emitSDPAGrad),
      "local_attention_grad_q": KernelEntry(batch: .together, emit: emitLocalAttentionGrad),
      "local_attention_grad_kv": KernelEntry(batch: .together, emit: emitLocalAttentionGrad),
      "reduce_sum": KernelEntry(batch: .strided, emit: emitReduceSum),
      "mul_add": KernelEntry(batch: .strided, emit: emitMulAdd, runsPerSample: true),
      "expand": KernelEntry(batch: .together, emit: emitExpand),
      "conv2d_grad_input": KernelEntry(batch: .shared([1]), emit: emitConvGrad),
      "conv2d_grad_weight": KernelEntry(batch: .strided, emit: emitConvGrad),
      "linear_grad_weight": KernelEntry(batch: .strided, emit: emitLinearGradWeight),
      "matmul_permuted": KernelEntry(batch: .strided, emit: emitMatmulPermuted),
      "token_dwconv_grad_input": KernelEntry(batch: .shared([1]), emit: emitTokenDWConvGrad),
      "token_dwconv_grad_weight": KernelEntry(batch: .strided, emit: emitTokenDWConvGrad),
      "maxpool_grad": KernelEntry(batch: .together, emit: emitMaxpoolGrad),
      "circular_pad_grad": KernelEntry(batch: .together, emit: emitCircularPadGrad),
      "zero_pad": KernelEntry(batch: .together, emit: emitZeroPad),
      "cross_entropy": KernelEntry(batch: .strided, emit: emitCrossEntropy),
      "cross_entropy_grad": KernelEntry(batch: .strided, emit: emitCrossEntropy),
    ]
    for u in UnaryOp.allCases { table["\(u.rawValue)_grad"] = KernelEntry(batch: .together, emit: emitUnaryGrad) }
    return table
  }

  /// attention_grad.c: q, k, v and dout each with its own row stride (q, k and v are usually column
  /// views of one qkv buffer); the result [N, H·D + 2·Hk·D] is written as its three column ranges.
  static func emitSDPAGrad(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.sdpaGrad(let h, let hk)) = k.node.op else { return }
    let q = k.operand(0).shape, kv = k.operand(1).shape, rs = k.result.shape[1]
    let d = q[1] / h, out = try k.out()
    var args = [k.batch(), "\(q[0])", "\(kv[0])", "\(h)", "\(hk)", "\(d)"]
    for i in 0..<4 { args += [try k.arg(i), "\(k.rowStride(i))"] }
    args += [out, "\(rs)", "\(out) + \(q[1])", "\(rs)", "\(out) + \(q[1] + kv[1])", "\(rs)", cFloat(inverseSquareRoot(d))]
    k.call("lk_sdpa_grad", args, from: "attention_grad.c")
  }

  /// attention_grad.c: q [N, H·D], k, v [T, N, Hk·D] and dout, each with its own row stride; the
  /// result is dq, or [dk | dv] written as its two column ranges (NULL for the other part).
  static func emitLocalAttentionGrad(_ k: inout KernelContext) throws(CodegenError) {
    let h: Int, hk: Int, query: Bool
    switch k.node.op {
    case .training(.localAttentionGradQ(let a, let b)): (h, hk, query) = (a, b, true)
    case .training(.localAttentionGradKV(let a, let b)): (h, hk, query) = (a, b, false)
    default: return
    }
    let q = k.operand(0).shape, kv = k.operand(1).shape, out = try k.out()
    var args = [k.batch(), "\(kv[0])", "\(q[0])", "\(h)", "\(hk)", "\(q[1] / h)"]
    for i in 0..<4 { args += [try k.arg(i), "\(k.rowStride(i))"] }
    if query {
      args += [out, "\(q[1])", "NULL", "0", "NULL", "0"]
    } else {
      args += ["NULL", "0", out, "\(2 * kv[2])", "\(out) + \(kv[2])", "\(2 * kv[2])"]
    }
    args.append(cFloat(inverseSquareRoot(q[1] / h)))
    k.call("lk_local_attention_grad", args, from: "attention_grad.c")
  }

  /// Ops of whole batches must see every operand batched (a parameter never reaches them).
  private static func requireBatched(_ k: KernelContext) throws(CodegenError) {
    guard k.node.operands.indices.allSatisfy({ k.operand($0).batched }) else {
      throw k.unsupported("every operand must carry the batch")
    }
  }

  static func emitNormalize(_ k: inout KernelContext) throws(CodegenError) {
    let x = k.operand(0).shape
    let rows = k.count(Array(x.dropLast()), batched: k.result.batched), c = "\(x.last ?? 1)"
    switch k.node.op {
    case .training(.normalize(let eps)):
      k.call("lk_normalize", [rows, c, try k.arg(0), cFloat(eps), try k.out()], from: "grad.c")
    case .training(.normalizeGrad(let eps)) where k.node.operands.count > 2:
      let residual = k.node.operands.count > 3 ? try k.arg(3) : "NULL"
      k.call("lk_layernorm_grad", [rows, c, try k.arg(0), try k.arg(1), try k.arg(2), residual, cFloat(eps), try k.out()], from: "grad.c")
    case .training(.normalizeGrad(let eps)):
      k.call("lk_normalize_grad", [rows, c, try k.arg(0), try k.arg(1), cFloat(eps), try k.out()], from: "grad.c")
    case .training(.normalizeParamGrad(let eps)):
      // Sums over the whole batch: rows count every sample's.
      try requireBatchedFirst(2, k)
      k.call("lk_layernorm_param_grad", tokenRows(&k) + [try k.arg(0), try k.arg(1), cFloat(eps), try k.out()], from: "grad.c")
    default: return
    }
  }

  /// x as [B, C, S]: statistics per channel over the batch and the S positions; channels last, x
  /// as [rows, C] with rows = B·N (`_cl`). x (and dy) carry the batch, the weight and bias do not.
  static func emitBatchNormalize(_ k: inout KernelContext) throws(CodegenError) {
    let last: Bool, batchedOperands: Int
    switch k.node.op {
    case .training(.batchNormalize(_, let l)), .training(.batchMoments(let l)): (last, batchedOperands) = (l, 1)
    case .training(.batchNormalizeGrad(_, let l)), .training(.batchNormalizeParamGrad(_, let l)): (last, batchedOperands) = (l, 2)
    default: return
    }
    try requireBatchedFirst(batchedOperands, k)
    let x = k.operand(0).shape
    let geometry = last ? tokenRows(&k) : [k.operandBatch(), "\(x[0])", "\(x.dropFirst().reduce(1, *))"]
    let suffix = last ? "_cl" : ""
    switch k.node.op {
    case .training(.batchNormalize(let eps, _)):
      k.call("lk_batch_normalize" + suffix, geometry + [try k.arg(0), try k.arg(1), try k.arg(2), cFloat(eps), try k.out()], from: "grad.c")
    case .training(.batchNormalizeGrad(let eps, _)):
      k.call("lk_batch_normalize_grad" + suffix, geometry + [try k.arg(0), try k.arg(1), try k.arg(2), cFloat(eps), try k.out()],
             from: "grad.c")
    case .training(.batchNormalizeParamGrad(let eps, _)):
      k.call("lk_batch_normalize_param_grad" + suffix, geometry + [try k.arg(0), try k.arg(1), cFloat(eps), try k.out()], from: "grad.c")
    default:
      k.call("lk_batch_moments" + suffix, geometry + [try k.arg(0), try k.out()], from: "grad.c")
    }
  }

  /// grad.c's BatchNorm over tokens from the batch statistics: x (and dz) [rows, C] with rows =
  /// B·N, then the unbatched statistics, weight and bias (and sums), the LK_ACT_* code and the
  /// workspace (`batchNormActWorkspace`).
  static func emitBatchNormAct(_ k: inout KernelContext) throws(CodegenError) {
    let name: String, eps: Float, act: UnaryOp, batched: Int  // batched: x, or x and dz
    switch k.node.op {
    case .training(.batchStatistics):
      try requireBatchedFirst(1, k)
      k.call("lk_batch_statistics_cl", tokenRows(&k) + [try k.arg(0), try k.out()], from: "grad.c")
      return
    case .training(.batchNormAct(let e, let a)): (name, eps, act, batched) = ("lk_batch_norm_act_cl", e, a, 1)
    case .training(.batchNormActParamGrad(let e, let a)): (name, eps, act, batched) = ("lk_batch_norm_act_param_grad_cl", e, a, 2)
    case .training(.batchNormActGrad(let e, let a)): (name, eps, act, batched) = ("lk_batch_norm_act_grad_cl", e, a, 2)
    default: return
    }
    try requireBatchedFirst(batched, k)
    let args = try k.node.operands.indices.map { i throws(CodegenError) in try k.arg(i) }
    k.call(name, tokenRows(&k) + args + [cFloat(eps), try activationCode(act, &k), k.workspace(), try k.out()], from: "grad.c")
  }

  /// The first `count` operands (x, and dy or dz) carry the batch, the rest (statistics, weight,
  /// bias, sums) do not: these kernels take the whole batch, never a parameter in x's place.
  private static func requireBatchedFirst(_ count: Int, _ k: KernelContext) throws(CodegenError) {
    guard k.node.operands.indices.allSatisfy({ k.operand($0).batched == ($0 < count) }) else {
      throw k.unsupported("x\(count > 1 ? " and its gradient" : "") must carry the batch, the other operands must not")
    }
  }

  /// Tokens [..., C] as the C kernels' (rows, C): rows = B·N over the whole batch.
  private static func tokenRows(_ k: inout KernelContext) -> [String] {
    let x = k.operand(0).shape
    return [([k.operandBatch()] + x.dropLast().filter { $0 != 1 }.map(String.init)).joined(separator: " * "), "\(x.last ?? 1)"]
  }

  /// grad.c's workspace for the batch_norm_act kernels, in floats, with C padded to 16 (the widest
  /// vector): 5·Cp for the forward, 7·Cp for the input gradient, 2·⌈rows/64⌉·Cp + 5·Cp for the sums
  /// (LK__BNCL_ROWS = 64 rows per block of partial sums).
  static func batchNormActWorkspace(_ node: Node, _ graph: Graph, _ samples: Int) -> Int {
    let x = graph[node.operands[0]].type, c = x.shape.last ?? 1, cp = (c + 15) / 16 * 16
    switch node.op {
    case .training(.batchNormAct): return 5 * cp
    case .training(.batchNormActGrad): return 7 * cp
    case .training(.batchNormActParamGrad):
      let rows = samples * (x.count / c)
      return 2 * ((rows + 63) / 64) * cp + 5 * cp
    default: return 0
    }
  }

  /// token_dwconv.c's gradients: the forward's geometry, then (dy, w) or (dy, x).
  static func emitTokenDWConvGrad(_ k: inout KernelContext) throws(CodegenError) {
    let (a, name, batch): (TokenConvAttrs, String, String)
    switch k.node.op {
    case .training(.tokenDWConvGradInput(let attrs)): (a, name, batch) = (attrs, "lk_token_dwconv_grad_input", k.batch())
    case .training(.tokenDWConvGradWeight(let attrs)):
      try requireBatched(k)
      (a, name, batch) = (attrs, "lk_token_dwconv_grad_weight", k.operandBatch())
    default: return
    }
    let c = k.operand(0).shape[1]
    let geometry = [a.height, a.width, c, a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1]]
    k.call(name, [batch] + geometry.map(String.init) + [try k.arg(0), try k.arg(1), try k.out()], from: "token_dwconv.c")
  }

  static func emitUnaryGrad(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.unaryGrad(let f)) = k.node.op else { return }
    k.call("lk_unary_grad", [try activationCode(f, &k), k.resultCount(), try k.arg(0), try k.arg(1), try k.out()], from: "grad.c")
  }

  /// Rows over the last axis; over another axis, y and dy are first copied with that axis moved
  /// last (into the node's workspace) and the result copied back, as `emitSoftmax` does.
  static func emitSoftmaxGrad(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.softmaxGrad(let axis)) = k.node.op else { return }
    let (outer, l, inner) = split(k.result.shape, at: normalizeAxis(axis, rank: k.result.rank) ?? 0)
    let rows = k.count([outer], batched: k.result.batched)
    if inner == 1 {
      k.call("lk_softmax_grad", [rows, "\(l)", try k.arg(0), try k.arg(1), try k.out()], from: "grad.c")
      return
    }
    // Three transposed copies side by side in the workspace: y, dy, then dx.
    let ws = k.workspace(), n = "(long)" + k.count([outer * l * inner], batched: k.result.batched)
    let y = ws, dy = "\(ws) + \(n)", dx = "\(ws) + 2 * \(n)"
    let shape = KernelContext.longs([rows, "\(inner)", "\(l)"])
    let axisMajor = KernelContext.longs([l * inner, 1, inner]), axisLast = KernelContext.longs([inner * l, l, 1])
    k.call("lk_copy_strided", ["3", shape, try k.arg(0), axisMajor, y, axisLast], from: "layout.c")
    k.call("lk_copy_strided", ["3", shape, try k.arg(1), axisMajor, dy, axisLast], from: "layout.c")
    k.call("lk_softmax_grad", [k.count([outer, inner], batched: k.result.batched), "\(l)", y, dy, dx], from: "grad.c")
    k.call("lk_copy_strided", ["3", shape, dx, axisLast, try k.out(), axisMajor], from: "layout.c")
  }

  static func softmaxGradWorkspace(_ node: Node, _ graph: Graph, _ samples: Int) -> Int {
    guard case .training(.softmaxGrad(let axis)) = node.op, let a = normalizeAxis(axis, rank: node.type.rank), a < node.type.rank - 1
    else { return 0 }
    return 3 * samples * node.type.count
  }

  static func emitReduceSum(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.reduceSum(let axes, let overBatch)) = k.node.op else { return }
    let x = k.operand(0)
    var shape = x.shape.map(String.init), mask = x.shape.indices.map { axes.contains($0) ? 1 : 0 }
    if x.batched {
      shape.insert(k.operandBatch(), at: 0)
      mask.insert(overBatch ? 1 : 0, at: 0)
    }
    if shape.isEmpty { (shape, mask) = (["1"], [0]) }
    guard shape.count <= 8 else { throw k.unsupported("rank \(shape.count) with the batch; the kernel takes at most 8") }
    let reduce = "(const unsigned char[]){" + mask.map(String.init).joined(separator: ", ") + "}"
    let product = k.node.operands.count > 1  // Σ x ⊙ y
    var args = ["\(shape.count)", KernelContext.longs(shape), reduce, try k.arg(0)]
    if product { args.append(try k.arg(1)) }
    k.call(product ? "lk_reduce_sum_product" : "lk_reduce_sum", args + [try k.out()], from: "grad.c")
  }

  /// A copy whose source strides are 0 along the broadcast axes.
  static func emitExpand(_ k: inout KernelContext) throws(CodegenError) {
    let x = k.operand(0), y = k.result.shape
    let padded = Array(repeating: 1, count: y.count - x.rank) + x.shape
    var stride = 1, sx = Array(repeating: 0, count: y.count)
    for i in padded.indices.reversed() {
      sx[i] = padded[i] == 1 ? 0 : stride
      stride *= padded[i]
    }
    var shape = y.map(String.init), sy = y.indices.map { y[($0 + 1)...].reduce(1, *) }
    if k.result.batched, k.batch() == "B" {
      shape.insert("B", at: 0)
      sx.insert(x.count, at: 0)
      sy.insert(k.result.count, at: 0)
    }
    guard shape.count <= 8 else { throw k.unsupported("rank \(shape.count) with the batch; the copy takes at most 8") }
    k.call("lk_copy_strided", ["\(shape.count)", KernelContext.longs(shape), try k.arg(0), KernelContext.longs(sx), try k.out(),
                               KernelContext.longs(sy)], from: "layout.c")
  }

  /// The same geometry arguments as `lk_conv2d`; the weight gradient sums over the whole batch.
  static func emitConvGrad(_ k: inout KernelContext) throws(CodegenError) {
    let (a, image, batch, name): (Conv2dAttrs, [Int], String, String)
    switch k.node.op {
    case .training(.conv2dGradInput(let attrs, _, _)):
      (a, image, batch, name) = (attrs, k.result.shape, k.batch(), "lk_conv2d_grad_input")
    case .training(.conv2dGradWeight(let attrs)):
      try requireBatched(k)
      (a, image, batch, name) = (attrs, k.operand(1).shape, k.operandBatch(), "lk_conv2d_grad_weight")
    default: return
    }
    let geometry = [batch] + [image[0], image[1], image[2], a.outChannels, a.kernel[0], a.kernel[1], a.stride[0], a.stride[1],
                              a.padding[0], a.padding[1], a.groups].map(String.init)
    k.call(name, geometry + [try k.arg(0), try k.arg(1), try k.out()], from: "grad.c")
  }

  static func emitLinearGradWeight(_ k: inout KernelContext) throws(CodegenError) {
    try requireBatched(k)
    let dy = k.operand(0), x = k.operand(1)
    let rows = ([k.operandBatch()] + dy.shape.dropLast().filter { $0 != 1 }.map(String.init)).joined(separator: " * ")
    k.call("lk_linear_grad_weight", [rows, "\(x.shape.last ?? 1)", "\(dy.shape.last ?? 1)", try k.arg(0), try k.arg(1), try k.out()],
           from: "grad.c")
  }

  static func emitMaxpoolGrad(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.maxpoolGrad(let kernel, let stride, let padding)) = k.node.op else { return }
    let x = k.operand(0).shape
    let args = [k.batch(), "\(x[0])", "\(x[1])", "\(x[2])", "\(kernel[0])", "\(kernel[1])", "\(stride[0])", "\(stride[1])",
                "\(padding[0])", "\(padding[1])", try k.arg(0), try k.arg(1), try k.out()]
    k.call("lk_maxpool2d_grad", args, from: "grad.c")
  }

  static func emitCircularPadGrad(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.circularPadGrad(let l, let r, let t, let b)) = k.node.op else { return }
    let x = k.result.shape
    k.call("lk_circular_pad_grad", [k.count([x[0]], batched: k.result.batched), "\(x[1])", "\(x[2])", "\(l)", "\(r)", "\(t)", "\(b)",
                                    try k.arg(0), try k.out()], from: "grad.c")
  }

  static func emitZeroPad(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.zeroPad(let axis, let before, let after)) = k.node.op else { return }
    let (outer, l, inner) = split(k.operand(0).shape, at: normalizeAxis(axis, rank: k.result.rank) ?? 0)
    let geometry = [k.count([outer], batched: k.result.batched), "\(l)", "\(inner)", "\(before)", "\(after)", try k.arg(0)]
    if k.node.operands.count > 1 {
      k.call("lk_zero_pad_add", geometry + [try k.arg(1), try k.out()], from: "grad.c")
    } else {
      k.call("lk_zero_pad", geometry + [try k.out()], from: "grad.c")
    }
  }

  static func emitCrossEntropy(_ k: inout KernelContext) throws(CodegenError) {
    try requireBatched(k)
    let args = [k.operandBatch(), "\(k.operand(0).shape[0])", try k.arg(0), try k.arg(1), try k.out()]
    if case .training(.crossEntropy) = k.node.op {
      k.call("lk_cross_entropy", args, from: "loss.c")
    } else {
      k.call("lk_cross_entropy_grad", args, from: "loss.c")
    }
  }
}
