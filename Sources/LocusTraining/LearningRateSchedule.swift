import Foundation

// The learning rate as a function of the optimizer step (0 = the first update):
//
//   constant:  lr(step) = base
//   cosine:    lr(step) = base · (step + 1)/warmup                                   step < warmup
//              lr(step) = base · ½ · (1 + cos(π · (step − warmup)/(total − warmup)))  otherwise
//
// Linear warm-up reaches `base` on its last step, then a half cosine decays to 0 at step `total`.
// Steps from `total` on stay at 0 rather than climbing the cosine back up; with total == warmup
// there is no decay phase at all (and no division by total − warmup = 0).

public struct LearningRateSchedule: Sendable, Equatable, CustomStringConvertible {
  public enum Shape: Sendable, Equatable {
    case constant
    case cosine(warmupSteps: Int, totalSteps: Int)
  }

  public let base: Double
  public let shape: Shape

  public static func constant(_ base: Double) throws(TrainingError) -> LearningRateSchedule {
    try LearningRateSchedule(base: base, shape: .constant)
  }

  public static func cosine(
    base: Double, warmupSteps: Int, totalSteps: Int
  ) throws(TrainingError) -> LearningRateSchedule {
    guard warmupSteps >= 0, totalSteps >= warmupSteps else {
      throw .invalidArgument(
        "cosine schedule needs 0 ≤ warm-up steps ≤ total steps, got warm-up \(warmupSteps), total \(totalSteps)")
    }
    return try LearningRateSchedule(base: base, shape: .cosine(warmupSteps: warmupSteps, totalSteps: totalSteps))
  }

  private init(base: Double, shape: Shape) throws(TrainingError) {
    guard base.isFinite, base >= 0 else { throw .invalidArgument("learning rate must be finite and ≥ 0, got \(base)") }
    self.base = base
    self.shape = shape
  }

  public func rate(atStep step: Int) -> Double {
    switch shape {
    case .constant:
      return base
    case .cosine(let warmup, let total):
      if step < warmup { return base * Double(max(step, 0) + 1) / Double(warmup) }
      guard step < total else { return 0 }
      let progress = Double(step - warmup) / Double(total - warmup)
      return base * 0.5 * (1 + cos(Double.pi * progress))
    }
  }

  public var description: String {
    switch shape {
    case .constant: return "constant \(base)"
    case .cosine(let warmup, let total): return "cosine \(base), \(warmup) warm-up of \(total) steps"
    }
  }
}
