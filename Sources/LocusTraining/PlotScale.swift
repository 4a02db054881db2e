import Foundation

// A linear axis with "nice" ticks (Heckbert, "Nice numbers for graph labels", Graphics Gems 1990):
// steps of 1, 2 or 5 × 10^k, the range widened to whole steps, labels with just enough decimals.

struct PlotScale: Equatable {
  let lower: Double
  let upper: Double
  let step: Double
  let ticks: [Double]

  /// A scale covering every finite value (or [0, 1] if there is none) with about `targetTicks` ticks.
  /// `integerSteps` keeps the step a whole number (epochs); `ceiling` caps the upper end (100%).
  init(covering values: [Double], targetTicks: Int = 5, integerSteps: Bool = false, ceiling: Double? = nil) {
    let finite = values.filter(\.isFinite)
    var low = finite.min() ?? 0
    var high = finite.max() ?? 1
    if high - low < 1e-12 {
      let pad = low == 0 ? 1 : abs(low) * 0.1
      (low, high) = (low - pad, high + pad)
    }
    var step = Self.nice((high - low) / Double(max(targetTicks - 1, 1)), round: true)
    if integerSteps { step = max(1, step.rounded()) }
    let first = (low / step).rounded(.down)
    var last = (high / step).rounded(.up)
    if let ceiling, high <= ceiling, last * step > ceiling { last = (ceiling / step).rounded(.down) }
    self.step = step
    self.lower = first * step
    self.upper = last * step
    // Multiples of the step, computed from integers so that no rounding drift accumulates.
    self.ticks = (0...Int(last - first)).map { (first + Double($0)) * step }
  }

  /// The nice number near x: rounded to the nearest (`round`) or the next larger of 1, 2, 5 × 10^k.
  static func nice(_ x: Double, round: Bool) -> Double {
    let exponent = log10(x).rounded(.down)
    let fraction = x / pow(10, exponent)
    let niceFraction: Double
    if round {
      niceFraction = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
    } else {
      niceFraction = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
    }
    return niceFraction * pow(10, exponent)
  }

  /// `value` mapped linearly so that `lower` lands on `from` and `upper` on `to`.
  func position(_ value: Double, from: Double, to: Double) -> Double {
    from + (value - lower) / (upper - lower) * (to - from)
  }

  /// A tick label with as many decimals as the step needs ("0.25" is never a step, "0.2" is).
  func label(_ value: Double) -> String {
    let decimals = max(0, -Int(log10(step).rounded(.down)))
    let text = String(format: "%.\(decimals)f", value)
    return text == "-0" || text.hasPrefix("-0.") && Double(text) == 0 ? String(text.dropFirst()) : text
  }
}
