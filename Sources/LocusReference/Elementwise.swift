import Foundation
import LocusIR

/// Elementwise kernels: activations, tensor ⊕ tensor with numpy broadcasting, tensor ⊕ scalar.
/// Activations are evaluated in Double and rounded once; + − × ÷ of two floats are already
/// correctly rounded in f32.
extension Interpreter {
  static func unary(_ f: UnaryOp, _ x: Tensor) -> Tensor {
    Tensor(shape: x.shape, data: x.data.map { Float(activation(f, Double($0))) })
  }

  /// PyTorch's definitions: `nn.GELU()` (exact, erf), `nn.ReLU6`, `nn.Hardswish` = x·ReLU6(x+3)/6,
  /// `nn.Hardsigmoid` = ReLU6(x+3)/6. NaN propagates through the clamps.
  static func activation(_ f: UnaryOp, _ x: Double) -> Double {
    switch f {
    case .gelu: 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
    case .relu: relu(x)
    case .relu6: relu6(x)
    case .hswish: x * relu6(x + 3) / 6
    case .hsigmoid: relu6(x + 3) / 6
    case .sigmoid: 1 / (1 + exp(-x))
    case .identity: x
    case .rsqrt: 1 / x.squareRoot()
    }
  }

  static func relu(_ x: Double) -> Double { x < 0 ? 0 : x }
  static func relu6(_ x: Double) -> Double { x < 0 ? 0 : (x > 6 ? 6 : x) }

  static func arithmetic(_ f: BinaryOp, _ a: Float, _ b: Float) -> Float {
    switch f {
    case .add: a + b
    case .sub: a - b
    case .mul: a * b
    case .div: a / b
    }
  }

  /// `a ⊕ b` with numpy broadcasting of the (per-sample) shapes: axes align from the right and a
  /// size-1 axis repeats.
  static func binary(_ f: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    let shape = broadcastShape(a.shape, b.shape)
    let fromA = broadcastOffsets(a.shape, to: shape), fromB = broadcastOffsets(b.shape, to: shape)
    return Tensor(shape: shape, data: zip(fromA, fromB).map { arithmetic(f, a.data[$0], b.data[$1]) })
  }

  /// `x ⊕ s`, or `s ⊕ x` when `scalarFirst` (`1 - x`, `1 / x`).
  static func scalar(_ f: BinaryOp, _ x: Tensor, _ s: Float, scalarFirst: Bool) -> Tensor {
    Tensor(shape: x.shape, data: x.data.map { scalarFirst ? arithmetic(f, s, $0) : arithmetic(f, $0, s) })
  }
}

/// The numpy broadcast of two shapes (they are known to broadcast).
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
  let rank = max(a.count, b.count)
  let pa = Array(repeating: 1, count: rank - a.count) + a, pb = Array(repeating: 1, count: rank - b.count) + b
  return zip(pa, pb).map { x, y in
    precondition(x == y || x == 1 || y == 1, "\(a) and \(b) do not broadcast")
    return max(x, y)
  }
}

/// For each element of `shape` in row-major order, the offset of the element it reads in a
/// tensor of shape `source` under numpy broadcasting (missing and size-1 axes repeat).
func broadcastOffsets(_ source: [Int], to shape: [Int]) -> [Int] {
  let padded = Array(repeating: 1, count: shape.count - source.count) + source
  let strides = zip(rowMajorStrides(padded), padded).map { stride, extent in extent == 1 ? 0 : stride }
  return gatherOffsets(shape, strides: strides)
}

/// For each element of `shape` in row-major order, `Σ index[axis] · strides[axis]`: the offset it
/// reads in a source laid out with those strides (a transpose, a broadcast).
func gatherOffsets(_ shape: [Int], strides: [Int]) -> [Int] {
  var offsets = [0]
  for axis in shape.indices {
    offsets = offsets.flatMap { base in (0..<shape[axis]).map { base + $0 * strides[axis] } }
  }
  return offsets
}
