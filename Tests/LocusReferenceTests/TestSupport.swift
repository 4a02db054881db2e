import LocusIR
import LocusReference
import XCTest

/// An operand of a single-op test: batched tensors carry the batch axis first.
enum Arg {
  case batched(Tensor)
  case unbatched(Tensor)

  var tensor: Tensor {
    switch self {
    case .batched(let t), .unbatched(let t): t
    }
  }
  var type: TensorType {
    switch self {
    case .batched(let t): TensorType(Array(t.shape.dropFirst()), batched: true)
    case .unbatched(let t): TensorType(t.shape, batched: false)
    }
  }
}

/// Applies `op` through `Interpreter.apply`, with the result type from the op's shape rule.
func apply(_ op: Op, _ args: Arg...) throws -> Tensor {
  let batch = args.compactMap { if case .batched(let t) = $0 { t.shape[0] } else { nil } }.first ?? 1
  let types = args.map(\.type)
  return try Interpreter.apply(
    op: op, operands: args.map(\.tensor), operandTypes: types, batch: batch, resultType: op.inferType(types))
}

/// Fails with the tolerance and the worst element (index, got, expected) when `actual` is not
/// within `tolerance` of `expected`.
func assertClose(
  _ actual: Tensor, _ expected: Tensor, _ tolerance: Tolerance, _ what: String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  let comparison = actual.compared(to: expected, tolerance: tolerance)
  XCTAssertTrue(comparison.passed, "\(what): \(comparison)", file: file, line: line)
}

/// Tolerance for values whose reference is computed in Double and rounded once: a few f32 ulps.
let f32Rounding = Tolerance(absolute: 1e-6, relative: 1e-6)

/// Deterministic pseudo-random tensors (SplitMix64), uniform in [-1, 1).
struct Seeded {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }

  mutating func next() -> Float {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Float(z >> 40) / Float(1 << 24) * 2 - 1
  }

  mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
    Tensor(shape: shape, element: { _ in self.next() * scale })
  }
}

extension Tensor {
  /// Convenience for hand-written cases: `Tensor([2, 2], [1, 2, 3, 4])`.
  init(_ shape: [Int], _ data: [Float]) { self.init(shape: shape, data: data) }
}
