import Foundation
import LocusRuntime
import XCTest

@testable import LocusTraining

final class LabelSmoothingTests: XCTestCase {
  func testTargetsFollowPyTorchsFormulaAndSumToOne() throws {
    let labels: [Int32] = [2, 0, 9]
    let t = try LabelSmoothing.targets(labels: labels, classes: 10, smoothing: 0.1)
    XCTAssertEqual(t.count, 30)
    for (b, label) in labels.enumerated() {
      let row = t[(b * 10)..<(b * 10 + 10)]
      XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-6)
      for k in 0..<10 {
        let expected: Float = (k == label ? 0.9 : 0) + 0.1 / 10
        XCTAssertEqual(row[b * 10 + k], expected, accuracy: 1e-7)
      }
    }
    XCTAssertEqual(try LabelSmoothing.targets(labels: [1], classes: 3, smoothing: 0), [0, 1, 0])
  }

  /// −Σ t·log softmax(z) equals PyTorch's (1 − s)·nll + s·mean_k(−log softmax(z)_k), over random logits.
  func testSoftTargetLossEqualsPyTorchsSmoothedCrossEntropy() throws {
    var rng = SplitMix64(seed: 1)
    for _ in 0..<20 {
      let k = Int.random(in: 2...12, using: &rng)
      let label = Int32.random(in: 0..<Int32(k), using: &rng)
      let s = Float.random(in: 0...1, using: &rng)
      let z = (0..<k).map { _ in Double.random(in: -5...5, using: &rng) }
      let logSumExp = log(z.map { exp($0) }.reduce(0, +))
      let logp = z.map { $0 - logSumExp }
      let t = try LabelSmoothing.targets(labels: [label], classes: k, smoothing: s)
      let ours = -zip(t, logp).map { Double($0) * $1 }.reduce(0, +)
      let pytorch = Double(1 - s) * -logp[Int(label)] + Double(s) * -logp.reduce(0, +) / Double(k)
      XCTAssertEqual(ours, pytorch, accuracy: 1e-5 * max(1, abs(pytorch)))
    }
  }

  func testRejectsBadLabelsAndSmoothing() {
    XCTAssertEqual(
      trainingError { () throws(TrainingError) in
        try LabelSmoothing.targets(labels: [0, 3], classes: 3, smoothing: 0.1)
      },
      .invalidArgument("label 3 at batch position 1 is outside 0..<3"))
    XCTAssertNotNil(
      trainingError { () throws(TrainingError) in try LabelSmoothing.targets(labels: [0], classes: 3, smoothing: 1.5) })
    XCTAssertNotNil(
      trainingError { () throws(TrainingError) in try LabelSmoothing.targets(labels: [-1], classes: 3, smoothing: 0) })
  }
}

final class LearningRateScheduleTests: XCTestCase {
  func testCosineWithWarmupAtKnownSteps() throws {
    let s = try LearningRateSchedule.cosine(base: 1e-3, warmupSteps: 10, totalSteps: 110)
    XCTAssertEqual(s.rate(atStep: 0), 1e-4, accuracy: 1e-15)  // (0+1)/10 of base
    XCTAssertEqual(s.rate(atStep: 4), 5e-4, accuracy: 1e-15)
    XCTAssertEqual(s.rate(atStep: 9), 1e-3, accuracy: 1e-15)  // the warm-up ends at base
    XCTAssertEqual(s.rate(atStep: 10), 1e-3, accuracy: 1e-15)  // the cosine starts at base
    XCTAssertEqual(s.rate(atStep: 35), 1e-3 * 0.5 * (1 + cos(Double.pi / 4)), accuracy: 1e-15)
    XCTAssertEqual(s.rate(atStep: 60), 5e-4, accuracy: 1e-15)  // halfway
    XCTAssertEqual(s.rate(atStep: 109), 1e-3 * 0.5 * (1 + cos(Double.pi * 99 / 100)), accuracy: 1e-15)
    XCTAssertEqual(s.rate(atStep: 110), 0)
    XCTAssertEqual(s.rate(atStep: 500), 0)  // no climb back up past the end
  }

  func testEdgeCases() throws {
    let noWarmup = try LearningRateSchedule.cosine(base: 0.1, warmupSteps: 0, totalSteps: 4)
    XCTAssertEqual(
      (0..<4).map { noWarmup.rate(atStep: $0) },
      [0.1, 0.1 * 0.5 * (1 + cos(Double.pi / 4)), 0.05, 0.1 * 0.5 * (1 + cos(3 * Double.pi / 4))])
    let allWarmup = try LearningRateSchedule.cosine(base: 0.1, warmupSteps: 5, totalSteps: 5)
    XCTAssertEqual(allWarmup.rate(atStep: 4), 0.1, accuracy: 1e-16)
    XCTAssertEqual(allWarmup.rate(atStep: 5), 0)  // total == warmup: no NaN
    XCTAssertEqual(try LearningRateSchedule.constant(0.01).rate(atStep: 12345), 0.01)
    XCTAssertNotNil(
      trainingError { () throws(TrainingError) in
        try LearningRateSchedule.cosine(base: 1, warmupSteps: 6, totalSteps: 5)
      })
    XCTAssertNotNil(trainingError { () throws(TrainingError) in try LearningRateSchedule.constant(-1) })
    XCTAssertNotNil(trainingError { () throws(TrainingError) in try LearningRateSchedule.constant(.nan) })
  }
}
