import LocusIR

/// Kernels that only move elements: concat, stack, slice, index, transpose. Axes count over the
/// per-sample axes; negative axes count from the end.
extension Interpreter {
  /// `torch.cat(parts, dim: axis)`; the parts agree on every other axis.
  static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
    let a = normalizeAxis(axis, rank: parts[0].rank)!
    let outer = parts[0].shape[..<a].reduce(1, *)
    // Per position of the axes before `axis`, each part contributes one contiguous chunk.
    let chunks = parts.map { $0.count / max(outer, 1) }
    var data: [Float] = []
    for o in 0..<outer {
      for (part, chunk) in zip(parts, chunks) { data += part.data[o * chunk..<(o + 1) * chunk] }
    }
    var shape = parts[0].shape
    shape[a] = parts.reduce(0) { $0 + $1.shape[a] }
    return Tensor(shape: shape, data: data)
  }

  /// `torch.stack(parts, dim: axis)`: a new axis of size `parts.count` at `axis` (of the result).
  static func stack(_ parts: [Tensor], axis: Int) -> Tensor {
    let a = normalizeAxis(axis, rank: parts[0].rank + 1)!
    return concat(parts.map { var s = $0.shape; s.insert(1, at: a); return $0.reshaped(s) }, axis: a)
  }

  /// `x.narrow(axis, start, length)`: indices start ..< start + length of `axis`.
  static func slice(_ x: Tensor, axis: Int, start: Int, length: Int) -> Tensor {
    let a = normalizeAxis(axis, rank: x.rank)!
    let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
    var data: [Float] = []
    for o in 0..<outer {
      let base = (o * x.shape[a] + start) * inner
      data += x.data[base..<base + length * inner]
    }
    var shape = x.shape
    shape[a] = length
    return Tensor(shape: shape, data: data)
  }

  /// `x.select(axis, at)`: the slice of length 1 at `at`, without the axis.
  static func index(_ x: Tensor, axis: Int, at: Int) -> Tensor {
    let a = normalizeAxis(axis, rank: x.rank)!
    var shape = x.shape
    shape.remove(at: a)
    return slice(x, axis: a, start: at, length: 1).reshaped(shape)
  }

  /// `x.permute(perm)`: result axis k is x's axis perm[k].
  static func transpose(_ x: Tensor, perm: [Int]) -> Tensor {
    let shape = perm.map { x.shape[$0] }
    let strides = x.strides
    let offsets = gatherOffsets(shape, strides: perm.map { strides[$0] })
    return Tensor(shape: shape, data: offsets.map { x.data[$0] })
  }
}
