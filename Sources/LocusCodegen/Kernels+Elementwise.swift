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
    let a = k.operand(0), b = k.operand(1), y = k.result
    var axes = zip(y.shape, zip(
      broadcastStrides(squeezedForBatch(a, toRank: b.rank), to: y.shape),
      broadcastStrides(squeezedForBatch(b, toRank: a.rank), to: y.shape))
    ).map { Axis(extent: $0, batch: false, strides: [$1.0, $1.1, 0]) }
    if y.batched && !k.runsPerSample { axes.insert(Axis(extent: k.graph.batch, batch: true, strides: [a.batched ? a.count : 0, b.batched ? b.count : 0, 0]), at: 0) }
    // The kernel takes up to LK_MAX_RANK (6) axes; deeper shapes merge their contiguous axes.
    if axes.count > 6 {
      axes = collapse(axes.withOutputStrides())
    }
    guard axes.count <= 6 else { throw k.unsupported("\(axes.count) axes after merging; the kernel takes at most 6") }
    var shape: [String] = []
    for axis in axes { shape.append(k.extent(axis)) }
    let args = ["\(axes.count)", KernelContext.longs(shape), try k.arg(0), KernelContext.longs(axes.map { $0.strides[0] }),
                try k.arg(1), KernelContext.longs(axes.map { $0.strides[1] }), try k.out()]
    k.call("lk_\(f.rawValue)", args, from: "activation.c")
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
  /// Fills the third stride of every axis with the dense row-major stride of the output.
  func withOutputStrides() -> [Axis] {
    var out = self
    var step = 1
    for d in out.indices.reversed() {
      out[d].strides[2] = step
      step *= out[d].extent
    }
    return out
  }
}
