import LocusIR

/// Emission of elementwise ops: activations, tensor ⊕ tensor with broadcasting, tensor ⊕ scalar
/// (activation.c).
extension KernelTable {
  /// `lk_gelu(n, x, y)` and friends; identity is a copy.
  static func emitUnary(_ k: inout KernelContext) throws(CodegenError) {
    guard case .unary(let f) = k.node.op else { return }
    let n = k.resultCount()
    if f == .identity {
      k.call("memcpy", [try k.out(), try k.arg(0), "sizeof(float) * " + n], from: "prologue.h")
    } else {
      k.call("lk_\(f.rawValue)", [n, try k.arg(0), try k.out()], from: "activation.c")
    }
  }

  /// `lk_add(rank, shape, a, sa, b, sb, y)`: the result's full shape (batch first, unless the
  /// node runs one sample at a time) and, per operand, the strides it is read with (0 where it
  /// broadcasts: an unbatched operand on the batch axis, a missing or size-1 axis elsewhere).
  static func emitBinary(_ k: inout KernelContext) throws(CodegenError) {
    guard case .binary(let f) = k.node.op else { return }
    try emitBroadcasting(&k, "lk_\(f.rawValue)")
  }

  /// `lk_mul_add(rank, shape, a, sa, b, sb, c, sc, y)`: a·b + c, each operand broadcast as in
  /// `emitBinary`.
  static func emitMulAdd(_ k: inout KernelContext) throws(CodegenError) {
    try emitBroadcasting(&k, "lk_mul_add")
  }

  /// The call of an activation.c kernel over broadcast operands: rank, shape, then each operand
  /// with its strides, then the result.
  private static func emitBroadcasting(_ k: inout KernelContext, _ name: String) throws(CodegenError) {
    let y = k.result, n = k.node.operands.count
    let strides = (0..<n).map { broadcastStrides(squeezedForBatch(k.operand($0), toRank: y.rank), to: y.shape) }
    var axes = y.shape.indices.map { d in Axis(extent: y.shape[d], batch: false, strides: strides.map { $0[d] } + [0]) }
    if y.batched && !k.runsPerSample {
      let batchStrides = (0..<n).map { k.operand($0).batched ? k.operand($0).count : 0 }
      axes.insert(Axis(extent: k.graph.batch, batch: true, strides: batchStrides + [0]), at: 0)
    }
    // The kernel takes up to LK_MAX_RANK (6) axes; deeper shapes merge their contiguous axes.
    if axes.count > 6 {
      axes = collapse(axes.withOutputStrides())
    }
    guard axes.count <= 6 else { throw k.unsupported("\(axes.count) axes after merging; the kernel takes at most 6") }
    var shape: [String] = []
    for axis in axes { shape.append(k.extent(axis)) }
    var args = ["\(axes.count)", KernelContext.longs(shape)]
    for i in 0..<n { args += [try k.arg(i), KernelContext.longs(axes.map { $0.strides[i] })] }
    k.call(name, args + [try k.out()], from: "activation.c")
  }

  /// `lk_add_scalar(n, x, s, y)`; `s - x` and `s / x` have their own kernels, `s + x` and `s * x`
  /// are the same as `x + s` and `x * s`.
  static func emitScalar(_ k: inout KernelContext) throws(CodegenError) {
    guard case .scalar(let f, let s, let scalarFirst) = k.node.op else { return }
    let reversed = scalarFirst && (f == .sub || f == .div)
    let name = "lk_" + (reversed ? "r" : "") + f.rawValue + "_scalar"
    k.call(name, [k.resultCount(), try k.arg(0), cFloat(s), try k.out()], from: "activation.c")
  }
}

extension Array where Element == Axis {
  /// Fills the last stride of every axis (the result's) with the dense row-major stride of the output.
  func withOutputStrides() -> [Axis] {
    var out = self
    var step = 1
    for d in out.indices.reversed() {
      out[d].strides[out[d].strides.count - 1] = step
      step *= out[d].extent
    }
    return out
  }
}
