/// How close a value must be to the reference: |actual − expected| ≤ absolute + relative·|expected|.
public struct Tolerance: Hashable, Sendable, CustomStringConvertible {
  public var absolute: Double
  public var relative: Double
  public init(absolute: Double = 0, relative: Double = 0) {
    self.absolute = absolute
    self.relative = relative
  }
  public static let exact = Tolerance()

  public func allowed(for expected: Float) -> Double { absolute + relative * abs(Double(expected)) }
  public var description: String { "abs \(absolute) + rel \(relative)·|expected|" }
}

/// The outcome of comparing a tensor against a reference: whether every element is within
/// tolerance, and the worst element (the one furthest beyond, or closest to, its allowance).
public struct Comparison: Hashable, Sendable, CustomStringConvertible {
  public var passed: Bool
  public var tolerance: Tolerance
  public var actualShape: [Int]
  public var expectedShape: [Int]
  /// Elements outside the tolerance (all of them when the shapes differ).
  public var failures: Int
  public var maxAbsoluteError: Double
  /// The worst element's full multi-index and values (nil when the shapes differ or are empty).
  public var worstIndex: [Int]?
  public var worstActual: Float
  public var worstExpected: Float

  public var description: String {
    guard actualShape == expectedShape else { return "shape \(actualShape) differs from expected \(expectedShape)" }
    guard let index = worstIndex else { return "empty tensors \(actualShape)" }
    let verdict = passed ? "within" : "\(failures) element(s) outside"
    return "\(verdict) tolerance (\(tolerance)); max |error| \(maxAbsoluteError); worst at \(index): "
      + "got \(worstActual), expected \(worstExpected)"
  }
}

extension Tensor {
  /// Compares element by element. NaN matches only NaN; infinities match only themselves.
  public func compared(to expected: Tensor, tolerance: Tolerance) -> Comparison {
    var result = Comparison(
      passed: false, tolerance: tolerance, actualShape: shape, expectedShape: expected.shape,
      failures: count, maxAbsoluteError: .infinity, worstIndex: nil, worstActual: .nan, worstExpected: .nan)
    guard shape == expected.shape else { return result }
    result.failures = 0
    result.maxAbsoluteError = 0
    var worstExcess = -Double.infinity
    for i in data.indices {
      let (a, e) = (data[i], expected.data[i])
      let error = elementError(a, e)
      let excess = error - (e.isFinite ? tolerance.allowed(for: e) : 0)  // error is 0 or ∞ when e is not finite
      if excess > 0 { result.failures += 1 }
      result.maxAbsoluteError = max(result.maxAbsoluteError, error)
      if excess > worstExcess || result.worstIndex == nil {
        worstExcess = excess
        result.worstIndex = index(ofOffset: i)
        (result.worstActual, result.worstExpected) = (a, e)
      }
    }
    result.passed = result.failures == 0
    return result
  }
}

/// |a − e|, with 0 for equal values (also equal infinities and NaN against NaN) and ∞ for a NaN or
/// infinity that the other side does not share.
private func elementError(_ a: Float, _ e: Float) -> Double {
  if a == e || (a.isNaN && e.isNaN) { return 0 }
  if a.isNaN || e.isNaN || a.isInfinite || e.isInfinite { return .infinity }
  return abs(Double(a) - Double(e))
}
