import LocusIR
import LocusReference
import XCTest

final class ElementwiseTests: XCTestCase {
  let x = Tensor([1, 7], [-4, -3, -1, 0, 1, 3, 7])

  func testActivationsMatchPyTorchDefinitions() throws {
    // Expected values written out by hand (GELU from Φ(±1) = 0.841344746…/0.158655253…).
    let cases: [(UnaryOp, [Float])] = [
      (.relu, [0, 0, 0, 0, 1, 3, 7]),
      (.relu6, [0, 0, 0, 0, 1, 3, 6]),
      (.hsigmoid, [0, 0, 2.0 / 6, 0.5, 4.0 / 6, 1, 1]),  // ReLU6(x+3)/6
      (.hswish, [0, 0, -2.0 / 6, 0, 4.0 / 6, 3, 7]),  // x·ReLU6(x+3)/6
      (.identity, [-4, -3, -1, 0, 1, 3, 7]),
      (.gelu, [-1.26685e-4, -4.049694e-3, -0.15865525, 0, 0.84134475, 2.99595031, 7]),
      (.sigmoid, [0.01798621, 0.04742587, 0.26894142, 0.5, 0.73105858, 0.95257413, 0.99908895]),
    ]
    for (f, expected) in cases {
      // 1e-6 absolute: the expected values are rounded to ~8 digits.
      assertClose(try apply(.unary(f), .batched(x)), Tensor([1, 7], expected), Tolerance(absolute: 1e-6, relative: 1e-6), f.rawValue)
    }
  }

  func testReluPropagatesNaN() throws {
    let y = try apply(.unary(.relu6), .batched(Tensor([1, 1], [.nan])))
    XCTAssertTrue(y.data[0].isNaN)
  }

  /// An unbatched `[1, N, C]` parameter drops its leading 1 and is added to every sample `[N, C]`.
  func testBinaryBroadcastsUnbatchedOperandOverBatch() throws {
    var rng = Seeded(1)
    let tokens = rng.tensor([3, 4, 2]), pos = rng.tensor([1, 4, 2])
    let y = try apply(.binary(.add), .batched(tokens), .unbatched(pos))
    let expected = Tensor(shape: [3, 4, 2]) { tokens.data[$0] + pos.data[$0 % 8] }
    assertClose(y, expected, .exact, "tokens + pos_embed")
  }

  func testBinaryBroadcastsPerSampleLikeNumpy() throws {
    // Per sample: a [2, 1] ⊙ b [3] → [2, 3]; b is batched too, so each sample uses its own b.
    let a = Tensor([2, 2, 1], [1, 2, 10, 20])
    let b = Tensor([2, 3], [1, 2, 3, 4, 5, 6])
    let expected = Tensor([2, 2, 3], [1, 2, 3, 2, 4, 6, 40, 50, 60, 80, 100, 120])
    assertClose(try apply(.binary(.mul), .batched(a), .batched(b)), expected, .exact, "mul")
    let sub = try apply(.binary(.sub), .batched(a), .batched(b))
    XCTAssertEqual(sub[1, 1, 2], 20 - 6)
    let div = try apply(.binary(.div), .unbatched(Tensor([1], [1])), .batched(a))
    assertClose(div, Tensor([2, 2, 1], [1, 0.5, 0.1, 0.05]), .exact, "1 / a")
  }

  func testScalarOperandOrder() throws {
    let a = Tensor([1, 3], [1, 2, 4])
    assertClose(try apply(.scalar(.sub, 1, scalarFirst: true), .batched(a)), Tensor([1, 3], [0, -1, -3]), .exact, "1 - x")
    assertClose(try apply(.scalar(.sub, 1, scalarFirst: false), .batched(a)), Tensor([1, 3], [0, 1, 3]), .exact, "x - 1")
    assertClose(try apply(.scalar(.div, 2, scalarFirst: true), .batched(a)), Tensor([1, 3], [2, 1, 0.5]), .exact, "2 / x")
    assertClose(try apply(.scalar(.mul, 3, scalarFirst: false), .batched(a)), Tensor([1, 3], [3, 6, 12]), .exact, "x * 3")
  }

  func testComparisonReportsWorstElement() {
    let expected = Tensor([2, 2], [1, 2, 3, 4])
    let actual = Tensor([2, 2], [1, 2.01, 3, 4.5])
    let c = actual.compared(to: expected, tolerance: Tolerance(absolute: 0.1))
    XCTAssertFalse(c.passed)
    XCTAssertEqual(c.failures, 1)
    XCTAssertEqual(c.worstIndex, [1, 1])
    XCTAssertEqual(c.worstActual, 4.5)
    XCTAssertTrue(c.description.contains("[1, 1]"), c.description)
    XCTAssertFalse(Tensor([1], [.nan]).compared(to: Tensor([1], [0]), tolerance: Tolerance(absolute: 1)).passed)
    XCTAssertFalse(Tensor([1], [1]).compared(to: Tensor([1], [.infinity]), tolerance: Tolerance(relative: 1)).passed)
    XCTAssertFalse(Tensor([2], [1, 1]).compared(to: Tensor([1, 2], [1, 1]), tolerance: .exact).passed)
  }
}
