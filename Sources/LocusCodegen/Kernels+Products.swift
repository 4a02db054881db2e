import Foundation
import LocusIR

/// Emission of the ops built on dot products: convolution, projections, matmul and attention.
/// Per-sample shapes come from the IR; the batch count from `KernelContext.batch()`.
extension KernelTable {
  /// conv.c: im2col + GEMM, a direct depthwise kernel, or a plain GEMM for 1×1.
  static func emitConv2d(_ k: inout KernelContext) throws(CodegenError) {
    guard case .conv2d(let a) = k.node.op else { return }
    let x = k.operand(0).shape
    let args = [k.batch(), "\(x[0])", "\(x[1])", "\(x[2])", "\(a.outChannels)", "\(a.kernel[0])", "\(a.kernel[1])",
                "\(a.stride[0])", "\(a.stride[1])", "\(a.padding[0])", "\(a.padding[1])", "\(a.groups)"]
    k.call("lk_conv2d", args + [try k.arg(0), try k.arg(1), try k.optionalArg(2), try k.out(), k.workspace()], from: "conv.c")
  }

  /// `lk_conv2d_workspace_floats` of conv.c, mirrored: the im2col block of the explicit path (0 when the implicit GEMM applies).
  static func conv2dWorkspace(_ node: Node, _ graph: Graph, _ samples: Int) -> Int {
    guard case .conv2d(let a) = node.op else { return 0 }
    let ci = graph[node.operands[0]].type.shape[0]
    let pointwise = a.kernel == [1, 1] && a.stride == [1, 1] && a.padding == [0, 0] && a.groups == 1
    let depthwise = a.groups == ci && a.groups == a.outChannels && a.groups > 1
    if pointwise || depthwise { return 0 }
    // The implicit GEMM pads each image into per-thread scratch of its own when the padded image
    // is at most 2^21 floats (lk__conv_implicit_ok); only larger images take the explicit path,
    // whose workspace is one block of output rows of one image (lk__conv_block_rows): K × rows·Wo
    // floats, whatever the batch.
    let (hi, wi) = (graph[node.operands[0]].type.shape[1], graph[node.operands[0]].type.shape[2])
    let padded = ci * (hi + 2 * a.padding[0]) * (wi + 2 * a.padding[1]) + 64
    if padded <= 1 << 21 { return 0 }
    let (ho, wo) = (node.type.shape[1], node.type.shape[2])
    let k = ci * a.kernel[0] * a.kernel[1]
    guard ho > 0, wo > 0 else { return 0 }
    var rows = (1 << 18) / (k * wo)
    if rows * wo < 256 { rows = (256 + wo - 1) / wo }
    return k * max(1, min(rows, ho)) * wo
  }

  /// linear.c: every leading axis (and the batch) folds into the GEMM's rows.
  static func emitLinear(_ k: inout KernelContext) throws(CodegenError) {
    let x = k.operand(0)
    let kk = x.shape.last ?? 1, n = k.result.shape.last ?? 1
    let rows = k.count(Array(x.shape.dropLast()), batched: x.batched)
    k.call("lk_linear", [rows, "\(kk)", "\(n)", try k.arg(0), try k.arg(1), try k.optionalArg(2), try k.out()], from: "linear.c")
  }

  /// gemm.c: C[M,N] = A[M,K]·B[K,N] for every position of the leading axes. The leading axes
  /// (batch included) broadcast with stride 0; after merging the axes that are contiguous in all
  /// three tensors, the last one is the GEMM's batch and any others become C loops.
  static func emitMatmul(_ k: inout KernelContext) throws(CodegenError) {
    let a = k.operand(0), b = k.operand(1), c = k.result
    let (m, kk, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
    let leadA = TensorType(Array(a.shape.dropLast(2)), batched: a.batched)
    let leadB = TensorType(Array(b.shape.dropLast(2)), batched: b.batched)
    let lead = Array(c.shape.dropLast(2))
    let sa = broadcastStrides(squeezedForBatch(leadA, toRank: leadB.rank), to: lead, element: m * kk)
    let sb = broadcastStrides(squeezedForBatch(leadB, toRank: leadA.rank), to: lead, element: kk * n)
    let sc = broadcastStrides(lead, to: lead, element: m * n)
    var axes = zip(lead, zip(sa, zip(sb, sc))).map { Axis(extent: $0, batch: false, strides: [$1.0, $1.1.0, $1.1.1]) }
    if c.batched {
      axes.insert(Axis(extent: k.graph.batch, batch: true, strides: [a.batched ? a.count : 0, b.batched ? b.count : 0, c.count]), at: 0)
    }
    try emitProducts(&k, axes, [try k.arg(0), try k.arg(1), try k.out()], m: m, n: n, k: kk, a: (kk, 1), b: (n, 1), rowStrideC: n)
  }

  /// Independent products C = A·B over `axes` (strides for A, B, C each), A(i, k) at
  /// i·a.rows + k·a.columns, B likewise, C rows `rowStrideC` apart: the axes contiguous in all three
  /// are merged, the last two go to the kernel (`lk_gemm_batched2`: one parallel region over both)
  /// or the last one (`lk_gemm_batched`), and any others become C loops.
  private static func emitProducts(
    _ k: inout KernelContext, _ axes: [Axis], _ pointers: [String], m: Int, n: Int, k kk: Int,
    a: (rows: Int, columns: Int), b: (rows: Int, columns: Int), rowStrideC: Int
  ) throws(CodegenError) {
    var axes = collapse(axes), pointers = pointers
    let inner = axes.popLast() ?? Axis(extent: 1, batch: false, strides: [0, 0, 0])
    let outer = axes.popLast()
    for (i, axis) in axes.enumerated() {
      let v = "i\(i)"
      k.w.open("for (long \(v) = 0; \(v) < \(k.extent(axis)); \(v)++)")
      pointers = pointers.indices.map { p in axis.strides[p] == 0 ? pointers[p] : "\(pointers[p]) + \(v) * \(axis.strides[p])" }
    }
    let args = [k.extent(inner), "\(m)", "\(n)", "\(kk)", pointers[0], "\(inner.strides[0])", "\(a.rows)", "\(a.columns)",
                pointers[1], "\(inner.strides[1])", "\(b.rows)", "\(b.columns)", pointers[2], "\(inner.strides[2])",
                "\(rowStrideC)", "0.0f"]
    if let outer {
      k.call("lk_gemm_batched2", [k.extent(outer)] + outer.strides.map(String.init) + args, from: "gemm.c")
    } else {
      k.call("lk_gemm_batched", args, from: "gemm.c")
    }
    for i in axes.indices.reversed() { k.w.close("for i\(i)") }
  }

  /// `matmul_permuted` (training graphs): lk_gemm_batched reading each operand and writing the
  /// result through the strides of their permuted axes, so the transposes around attention's
  /// products are never copied. The operands are dense per sample (the planner gives this op no
  /// strided views). When the output permutation puts the product's row axis last, the GEMM
  /// computes the transposed product Bᵀ·Aᵀ, whose rows are then contiguous.
  static func emitMatmulPermuted(_ k: inout KernelContext) throws(CodegenError) {
    guard case .training(.matmulPermuted(let pa, let pb, let po)) = k.node.op else { return }
    let c = k.result, r = c.rank
    /// Dense row-major strides of `shape`, 0 on axes of extent 1 (never stepped).
    func dense(_ shape: [Int]) -> [Int] { broadcastStrides(shape, to: shape) }
    /// The operand as read: its permuted shape and the strides of those axes.
    func permuted(_ t: TensorType, _ perm: [Int]) -> (shape: [Int], strides: [Int]) {
      let d = dense(t.shape)
      return (perm.map { t.shape[$0] }, perm.map { d[$0] })
    }
    var (a, b) = (permuted(k.operand(0), pa), permuted(k.operand(1), pb))
    // The product's axis j lands on result axis inverse[j].
    let cd = dense(c.shape)
    var inverse = po
    for (i, p) in po.enumerated() { inverse[p] = i }
    var cs = (0..<r).map { cd[inverse[$0]] }
    var shape = (0..<r).map { c.shape[inverse[$0]] }
    var samples = [k.operand(0).count, k.operand(1).count]
    var pointers = [try k.arg(0), try k.arg(1), try k.out()]
    let transposed = inverse[r - 2] == r - 1
    if transposed {  // the rows are contiguous: compute Cᵀ = Bᵀ·Aᵀ (operands swapped, last two axes swapped)
      func swapLast(_ v: inout (shape: [Int], strides: [Int])) {
        v.shape.swapAt(r - 2, r - 1)
        v.strides.swapAt(r - 2, r - 1)
      }
      swap(&a, &b)
      samples.swapAt(0, 1)
      pointers.swapAt(0, 1)
      swapLast(&a)
      swapLast(&b)
      cs.swapAt(r - 2, r - 1)
      shape.swapAt(r - 2, r - 1)
    }
    let (m, kk, n) = (shape[r - 2], a.shape[r - 1], shape[r - 1])
    var axes = (0..<(r - 2)).map { d in
      Axis(extent: shape[d], batch: false, strides: [a.shape[d] == 1 ? 0 : a.strides[d], b.shape[d] == 1 ? 0 : b.strides[d], cs[d]])
    }
    axes.insert(Axis(extent: k.graph.batch, batch: true, strides: samples + [c.count]), at: 0)
    try emitProducts(&k, axes, pointers, m: m, n: n, k: kk, a: (a.strides[r - 2], a.strides[r - 1]),
                     b: (b.strides[r - 2], b.strides[r - 1]), rowStrideC: cs[r - 2])
  }

  /// attention.c: q [Nq, H·D], k, v [Nk, Hk·D], each with its own row stride (q, k and v may be
  /// column views of one fused qkv buffer).
  static func emitSDPA(_ k: inout KernelContext) throws(CodegenError) {
    guard case .sdpa(let h, let hk) = k.node.op else { return }
    let q = k.operand(0).shape, kv = k.operand(1).shape
    let d = q[1] / h
    let args = [k.batch(), "\(q[0])", "\(kv[0])", "\(h)", "\(hk)", "\(d)", try k.arg(0), "\(k.rowStride(0))", try k.arg(1),
                "\(k.rowStride(1))", try k.arg(2), "\(k.rowStride(2))", try k.out(), cFloat(inverseSquareRoot(d))]
    k.call("lk_sdpa", args, from: "attention.c")
  }

  /// attention.c: q [N, H·D], k, v [T, N, Hk·D].
  static func emitLocalAttention(_ k: inout KernelContext) throws(CodegenError) {
    guard case .localAttention(let h, let hk) = k.node.op else { return }
    let q = k.operand(0).shape, kv = k.operand(1).shape
    let d = q[1] / h
    let args = [k.batch(), "\(kv[0])", "\(q[0])", "\(h)", "\(hk)", "\(d)", try k.arg(0), try k.arg(1), try k.arg(2),
                try k.out(), cFloat(inverseSquareRoot(d))]
    k.call("lk_local_attention", args, from: "attention.c")
  }

  /// D^-½ rounded once from double, as the reference scales scores.
  static func inverseSquareRoot(_ d: Int) -> Float { Float(1 / Double(d).squareRoot()) }
}

/// One loop axis of a strided operation: its extent, whether it is (or includes) the batch axis,
/// and one stride per tensor taking part.
struct Axis: Equatable {
  var extent: Int
  var batch: Bool
  var strides: [Int]
}

/// Drops axes of extent 1 and merges each axis into the one before it when every tensor steps
/// through them contiguously (stride[d−1] == stride[d] · extent[d]). Fewer, longer axes: fewer C
/// loops and longer kernel runs.
func collapse(_ axes: [Axis]) -> [Axis] {
  var out: [Axis] = []
  for axis in axes where axis.extent != 1 {
    if let last = out.last, zip(last.strides, axis.strides).allSatisfy({ $0 == $1 * axis.extent }) {
      out[out.count - 1] = Axis(extent: last.extent * axis.extent, batch: last.batch || axis.batch, strides: axis.strides)
    } else {
      out.append(axis)
    }
  }
  return out
}

/// Strides (in elements, per block of `element`) with which a tensor of shape `source` is read
/// at each position of `shape` under numpy broadcasting: 0 on missing and size-1 axes.
func broadcastStrides(_ source: [Int], to shape: [Int], element: Int = 1) -> [Int] {
  let padded = Array(repeating: 1, count: shape.count - source.count) + source
  var strides = Array(repeating: 0, count: shape.count)
  var step = element
  for d in padded.indices.reversed() {
    strides[d] = padded[d] == 1 ? 0 : step
    step *= padded[d]
  }
  return strides
}

extension KernelContext {
  /// An axis extent as C: `B`, `B * 3` or a number.
  mutating func extent(_ axis: Axis) -> String {
    guard axis.batch else { return "\(axis.extent)" }
    uses.insert(.batch)
    let rest = axis.extent / graph.batch
    return rest == 1 ? "B" : "B * \(rest)"
  }
}
