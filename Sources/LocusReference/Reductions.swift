import Foundation
import LocusIR

/// Kernels that reduce along an axis: normalisations, softmax, means. Sums run in Double and
/// variances take two passes (mean first), so the reference does not lose digits to cancellation.
extension Interpreter {
  /// `nn.LayerNorm` over the last axis: (x − mean) / √(var + eps) · weight + bias, with the biased
  /// variance (divided by C, not C − 1). x: [..., C]; weight, bias: [C].
  static func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
    var y = x
    for line in axisLines(x.shape, axis: x.rank - 1) {
      let values = line.map { Double(x.data[$0]) }
      let mean = values.reduce(0, +) / Double(values.count)
      let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
      let inverseStd = 1 / (variance + Double(eps)).squareRoot()
      for (c, at) in line.enumerated() {
        y.data[at] = Float((values[c] - mean) * inverseStd * Double(weight.data[c]) + Double(bias.data[c]))
      }
    }
    return y
  }

  /// `nn.BatchNorm2d` in inference: running statistics, not batch statistics.
  /// x: [C, ...]; weight, bias, runningMean, runningVar: [C].
  static func batchNorm(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float) -> Tensor {
    let channels = x.shape[0], inner = x.count / max(channels, 1)
    var y = x
    for c in 0..<channels {
      let inverseStd = 1 / (Double(runningVar.data[c]) + Double(eps)).squareRoot()
      for at in c * inner..<(c + 1) * inner {
        let centred = Double(x.data[at]) - Double(runningMean.data[c])
        y.data[at] = Float(centred * inverseStd * Double(weight.data[c]) + Double(bias.data[c]))
      }
    }
    return y
  }

  /// `torch.softmax(x, dim: axis)`, the axis counted over per-sample axes (negative from the end).
  static func softmax(_ x: Tensor, axis: Int) -> Tensor {
    var y = x
    for line in axisLines(x.shape, axis: normalizeAxis(axis, rank: x.rank)!) {
      let p = softmaxDouble(line.map { Double(x.data[$0]) })
      for (at, value) in zip(line, p) { y.data[at] = Float(value) }
    }
    return y
  }

  /// `x.mean(dim: axis)`: the axis is removed.
  static func mean(_ x: Tensor, axis: Int) -> Tensor {
    let a = normalizeAxis(axis, rank: x.rank)!
    var shape = x.shape
    shape.remove(at: a)
    let means = axisLines(x.shape, axis: a).map { line in
      Float(line.reduce(0.0) { $0 + Double(x.data[$1]) } / Double(line.count))
    }
    return Tensor(shape: shape, data: means)
  }

  /// Global average pooling, `x.mean(dim: (H, W))`: [C, H, W] → [C].
  static func gap(_ x: Tensor) -> Tensor {
    mean(x.reshaped([x.shape[0], x.shape[1] * x.shape[2]]), axis: 1)
  }
}

/// Softmax of a list in Double: exp(s − max s) / Σ exp(s − max s).
func softmaxDouble(_ scores: [Double]) -> [Double] {
  let top = scores.max() ?? 0
  let e = scores.map { exp($0 - top) }
  let sum = e.reduce(0, +)
  return e.map { $0 / sum }
}

/// The lines of a tensor of `shape` along `axis`: for each position of the other axes (row-major,
/// as the tensor with `axis` removed), the offsets of the line's elements in order.
func axisLines(_ shape: [Int], axis: Int) -> [[Int]] {
  let n = shape[axis]
  let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
  return (0..<outer).flatMap { o in
    (0..<inner).map { i in (0..<n).map { k in (o * n + k) * inner + i } }
  }
}
