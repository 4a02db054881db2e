import LocusIR

/// Emission of normalisations, softmax, pooling and means (norm.c, softmax.c, pool.c). Each views
/// its operand as [outer, L, inner] around the axis it works on; the batch folds into outer.
extension KernelTable {
  /// norm.c: rows of C channels, every leading axis folded into the rows.
  static func emitLayerNorm(_ k: inout KernelContext) throws(CodegenError) {
    guard case .layernorm(let eps) = k.node.op else { return }
    let x = k.operand(0).shape
    let rows = k.count(Array(x.dropLast()), batched: k.result.batched)
    let args = [rows, "\(x.last ?? 1)", try k.arg(0), try k.arg(1), try k.arg(2), cFloat(eps), try k.out()]
    k.call("lk_layernorm", args, from: "norm.c")
  }

  /// norm.c: channels first, every axis after C flattened.
  static func emitBatchNorm(_ k: inout KernelContext) throws(CodegenError) {
    guard case .batchnorm(let eps) = k.node.op else { return }
    let x = k.operand(0).shape
    let args = [k.batch(), "\(x[0])", "\(x.dropFirst().reduce(1, *))", try k.arg(0), try k.arg(1), try k.arg(2),
                try k.arg(3), try k.arg(4), cFloat(eps), try k.out()]
    k.call("lk_batchnorm_infer", args, from: "norm.c")
  }

  /// softmax.c works on rows. Over the last axis that is the tensor itself; over another axis the
  /// operand is first copied with that axis moved last (into the node's workspace), normalised
  /// there in place, and copied back.
  static func emitSoftmax(_ k: inout KernelContext) throws(CodegenError) {
    guard case .softmax(let axis) = k.node.op else { return }
    let (outer, l, inner) = split(k.result.shape, at: normalizeAxis(axis, rank: k.result.rank) ?? 0)
    let rows = k.count([outer], batched: k.result.batched)
    if inner == 1 {
      k.call("lk_softmax", [rows, "\(l)", try k.arg(0), try k.out()], from: "softmax.c")
      return
    }
    let ws = k.workspace()
    let shape = KernelContext.longs([rows, "\(inner)", "\(l)"])
    let axisMajor = KernelContext.longs([l * inner, 1, inner]), axisLast = KernelContext.longs([inner * l, l, 1])
    k.call("lk_copy_strided", ["3", shape, try k.arg(0), axisMajor, ws, axisLast], from: "layout.c")
    k.call("lk_softmax", [k.count([outer, inner], batched: k.result.batched), "\(l)", ws, ws], from: "softmax.c")
    k.call("lk_copy_strided", ["3", shape, ws, axisLast, try k.out(), axisMajor], from: "layout.c")
  }

  /// Scratch of a softmax over an inner axis: one transposed copy of the samples of one call.
  static func softmaxWorkspace(_ node: Node, _ graph: Graph, _ samples: Int) -> Int {
    guard case .softmax(let axis) = node.op, let a = normalizeAxis(axis, rank: node.type.rank), a < node.type.rank - 1
    else { return 0 }
    return samples * node.type.count
  }

  /// pool.c: [C, Hh, Ww] → [C], the mean of each plane.
  static func emitGAP(_ k: inout KernelContext) throws(CodegenError) {
    let x = k.operand(0).shape
    k.call("lk_global_avgpool", [k.batch(), "\(x[0])", "\(x[1] * x[2])", try k.arg(0), try k.out()], from: "pool.c")
  }

  static func emitMaxpool(_ k: inout KernelContext) throws(CodegenError) {
    guard case .maxpool(let kernel, let stride, let padding) = k.node.op else { return }
    let x = k.operand(0).shape
    let args = [k.batch(), "\(x[0])", "\(x[1])", "\(x[2])", "\(kernel[0])", "\(kernel[1])", "\(stride[0])", "\(stride[1])",
                "\(padding[0])", "\(padding[1])", try k.arg(0), try k.out()]
    k.call("lk_maxpool2d", args, from: "pool.c")
  }

  /// pool.c: x as [outer, L, inner] → [outer, inner].
  static func emitMean(_ k: inout KernelContext) throws(CodegenError) {
    guard case .mean(let axis) = k.node.op else { return }
    let x = k.operand(0)
    let (outer, l, inner) = split(x.shape, at: normalizeAxis(axis, rank: x.rank) ?? 0)
    k.call("lk_mean_axis", [k.count([outer], batched: x.batched), "\(l)", "\(inner)", try k.arg(0), try k.out()], from: "pool.c")
  }

  /// (product of the axes before `axis`, its extent, product of the axes after it).
  static func split(_ shape: [Int], at axis: Int) -> (Int, Int, Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
  }
}
