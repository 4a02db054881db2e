import Foundation

// Seeded parameter initialisation for `locus init`. Values are drawn in Double and rounded to Float
// once. Every tensor has its own random stream (see Random.swift), so results depend only on
// (seed, name, shape, kind).

public enum InitKind: Sendable, Equatable {
  case zeros
  case ones
  case constant(Float)
  case normal(mean: Double = 0, std: Double)
  /// timm's `trunc_normal_(std=…, a=-2, b=2)`: the cut points `low`/`high` are absolute values, not
  /// multiples of std; with std 0.02 the cut at ±2 is 100 std away and changes nothing in practice.
  case truncNormal(mean: Double = 0, std: Double, low: Double = -2, high: Double = 2)
  case uniform(low: Double, high: Double)
  /// PyTorch's default for conv/linear weights, `kaiming_uniform_(w, a=√5)`:
  /// gain = √(2 / (1 + a²)) = √(1/3), std = gain / √fan_in, bound = √3 · std = 1 / √fan_in,
  /// so the weights are U(−1/√fan_in, 1/√fan_in).
  case kaimingUniform(fanIn: Int)

  /// PyTorch's default bias of a conv/linear layer: U(−1/√fan_in, 1/√fan_in), fan_in of its weight.
  public static func pytorchBias(fanIn: Int) -> InitKind {
    let bound = 1 / Double(max(fanIn, 1)).squareRoot()
    return .uniform(low: -bound, high: bound)
  }

  /// fan_in of a weight as PyTorch computes it: every axis but the first (`[out, in/groups, kh, kw]`
  /// → in/groups·kh·kw; `[out, in]` → in).
  public static func fanIn(ofWeightShape shape: [Int]) -> Int {
    shape.dropFirst().reduce(1, *)
  }
}

public struct ParameterInit: Sendable, Equatable {
  public var name: String
  public var shape: [Int]
  public var kind: InitKind

  public init(name: String, shape: [Int], kind: InitKind) {
    self.name = name
    self.shape = shape
    self.kind = kind
  }
}

public struct Initializer: Sendable {
  public var seed: UInt64

  public init(seed: UInt64) { self.seed = seed }

  /// All parameters, ready for `SafeTensorsWriter` or `CompiledModel.bindWeights`.
  public func initialize(_ parameters: [ParameterInit]) throws(RuntimeError) -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for p in parameters {
      guard result[p.name] == nil else { throw .invalidInitializer(parameter: p.name, reason: "parameter given twice") }
      result[p.name] = Tensor(shape: p.shape, floats: try values(for: p))
    }
    return result
  }

  public func values(for p: ParameterInit) throws(RuntimeError) -> [Float] {
    func invalid(_ why: String) -> RuntimeError { .invalidInitializer(parameter: p.name, reason: why) }
    guard let count = elementCount(p.shape) else { throw invalid("invalid shape \(formatShape(p.shape))") }
    var rng = Xoshiro256StarStar(seed: seed, name: p.name)
    switch p.kind {
    case .zeros: return [Float](repeating: 0, count: count)
    case .ones: return [Float](repeating: 1, count: count)
    case .constant(let v): return [Float](repeating: v, count: count)
    case .uniform(let low, let high):
      guard low.isFinite, high.isFinite, low <= high else { throw invalid("uniform needs finite low ≤ high, got \(low), \(high)") }
      return (0..<count).map { _ in Float(low + (high - low) * rng.nextUnit()) }
    case .kaimingUniform(let fanIn):
      guard fanIn > 0 else { throw invalid("kaiming_uniform needs fan_in > 0, got \(fanIn)") }
      let bound = 1 / Double(fanIn).squareRoot()
      return (0..<count).map { _ in Float(-bound + 2 * bound * rng.nextUnit()) }
    case .normal(let mean, let std):
      guard mean.isFinite, std.isFinite, std >= 0 else { throw invalid("normal needs a finite std ≥ 0, got \(std)") }
      var gauss = GaussianStream(rng: rng)
      return (0..<count).map { _ in Float(mean + std * gauss.next()) }
    case .truncNormal(let mean, let std, let low, let high):
      guard mean.isFinite, std.isFinite, std > 0, low.isFinite, high.isFinite, low < high else {
        throw invalid("trunc_normal needs a finite std > 0 and low < high, got std \(std), [\(low), \(high)]")
      }
      return truncatedNormal(count: count, mean: mean, std: std, low: low, high: high, rng: &rng)
    }
  }

  /// timm's method: draw uniformly between the CDF values of the cut points, map back through the
  /// inverse CDF (via erfinv), clamp to absorb rounding at the ends. Unlike rejection sampling its
  /// cost does not blow up when the interval lies far in a tail.
  private func truncatedNormal(
    count: Int, mean: Double, std: Double, low: Double, high: Double, rng: inout Xoshiro256StarStar
  ) -> [Float] {
    func cdf(_ x: Double) -> Double { (1 + erf(x / 2.0.squareRoot())) / 2 }
    let l = 2 * cdf((low - mean) / std) - 1
    let u = 2 * cdf((high - mean) / std) - 1
    return (0..<count).map { _ in
      let x = erfinv(l + (u - l) * rng.nextUnit()) * std * 2.0.squareRoot() + mean
      return Float(min(max(x, low), high))
    }
  }
}
