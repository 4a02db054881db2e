import LocusIR
import LocusReference
import XCTest

final class ReductionTests: XCTestCase {
  // One sample [2, 3]: [[1, 2, 3], [1, 1, 1]].
  let rows = Tensor([1, 2, 3], [1, 2, 3, 1, 1, 1])

  func testSoftmaxOverLastAxis() throws {
    let third: Float = 1.0 / 3
    let expected = Tensor([1, 2, 3], [0.09003057, 0.24472847, 0.66524096, third, third, third])
    // Expected digits are rounded to 8 places: 1e-7 absolute.
    assertClose(try apply(.softmax(axis: -1), .batched(rows)), expected, Tolerance(absolute: 1e-7), "softmax rows")
  }

  func testSoftmaxOverFirstAxis() throws {
    // Columns (1, 1), (2, 1), (3, 1): [0.5, 0.5], [σ(1), σ(-1)], [σ(2), σ(-2)].
    let expected = Tensor([1, 2, 3], [0.5, 0.73105858, 0.88079708, 0.5, 0.26894142, 0.11920292])
    assertClose(try apply(.softmax(axis: 0), .batched(rows)), expected, Tolerance(absolute: 1e-7), "softmax columns")
  }

  func testSoftmaxIsStableForLargeScores() throws {
    let y = try apply(.softmax(axis: -1), .batched(Tensor([1, 2], [1000, 1000])))
    assertClose(y, Tensor([1, 2], [0.5, 0.5]), .exact, "softmax of equal large scores")
  }

  /// Biased variance, eps inside the square root: x = [1, 2, 3, 4] has mean 2.5 and variance 1.25;
  /// with eps 0.75 the denominator is √2. A constant row normalises to 0, leaving the bias.
  func testLayerNormByHand() throws {
    let x = Tensor([2, 1, 4], [1, 2, 3, 4, 2, 2, 2, 2])
    let weight = Tensor([4], [1, 2, -1, 0.5]), bias = Tensor([4], [0, 1, 0, -1])
    let y = try apply(.layernorm(eps: 0.75), .batched(x), .unbatched(weight), .unbatched(bias))
    let n: [Float] = [-1.5, -0.5, 0.5, 1.5].map { $0 / Float(2).squareRoot() }
    let expected = Tensor([2, 1, 4], [n[0], 2 * n[1] + 1, -n[2], 0.5 * n[3] - 1, 0, 1, 0, -1])
    assertClose(y, expected, f32Rounding, "layernorm")
  }

  /// Sums in Double and two-pass variance: a large common offset must not cost precision.
  func testLayerNormKeepsPrecisionUnderLargeOffset() throws {
    let x = Tensor([1, 4], [10001, 10002, 10003, 10004])
    let y = try apply(.layernorm(eps: 0), .batched(x), .unbatched(Tensor(shape: [4], repeating: 1)), .unbatched(.zeros([4])))
    let expected = Tensor([1, 4], [-1.5, -0.5, 0.5, 1.5].map { $0 / Float(1.25).squareRoot() })
    assertClose(y, expected, f32Rounding, "layernorm with offset 1e4")
  }

  /// Inference batchnorm: (x − running_mean)/√(running_var + eps)·weight + bias per channel.
  func testBatchNormUsesRunningStatistics() throws {
    let x = Tensor([1, 2, 1, 2], [1, 3, 0, 4])  // channel 0: [1, 3], channel 1: [0, 4]
    let y = try apply(
      .batchnorm(eps: 1), .batched(x), .unbatched(Tensor([2], [2, -1])), .unbatched(Tensor([2], [0.5, 0])),
      .unbatched(Tensor([2], [1, 2])), .unbatched(Tensor([2], [3, 3])))
    // channel 0: (x − 1)/2 = [0, 1] → ·2 + 0.5; channel 1: (x − 2)/2 = [−1, 1] → ·(−1)
    assertClose(y, Tensor([1, 2, 1, 2], [0.5, 2.5, 1, -1]), .exact, "batchnorm")
  }

  func testMeanRemovesTheAxis() throws {
    let x = Tensor([1, 2, 3], [1, 2, 3, 4, 5, 6])
    assertClose(try apply(.mean(axis: 0), .batched(x)), Tensor([1, 3], [2.5, 3.5, 4.5]), .exact, "mean axis 0")
    assertClose(try apply(.mean(axis: -1), .batched(x)), Tensor([1, 2], [2, 5]), .exact, "mean axis -1")
  }

  /// The f32 running sum of these is 0 (1e8 + 1 rounds back to 1e8); the Double one is exact.
  func testMeanAccumulatesInDouble() throws {
    let x = Tensor([1, 8], [1e8, 1, 1, 1, 1, 1, 1, -1e8])
    assertClose(try apply(.mean(axis: 0), .batched(x)), Tensor([1], [0.75]), .exact, "mean with cancellation")
  }

  func testGlobalAveragePool() throws {
    let x = Tensor([1, 2, 2, 2], [1, 2, 3, 4, 0, 0, 0, 8])
    assertClose(try apply(.gap, .batched(x)), Tensor([1, 2], [2.5, 2]), .exact, "gap")
  }
}
