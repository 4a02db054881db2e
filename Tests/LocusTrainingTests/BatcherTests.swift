import LocusRuntime
import XCTest

@testable import LocusTraining

final class BatcherTests: XCTestCase {
  let unit = Normalization.unit(channels: 1)

  func testTrainingBatchesAreDeterministicPerSeedAndEpoch() throws {
    let data = try syntheticDataset(count: 50)
    let a = try Batcher.training(
      data, batchSize: 8, seed: 7, normalization: unit, augmentation: Augmentation(padding: 1, horizontalFlip: true))
    let b = try Batcher.training(
      data, batchSize: 8, seed: 7, normalization: unit, augmentation: Augmentation(padding: 1, horizontalFlip: true))
    XCTAssertEqual(a.batchesPerEpoch, 6)  // 50 / 8, the last 2 samples dropped
    XCTAssertEqual(Array(a.epoch(3)), Array(b.epoch(3)))
    XCTAssertNotEqual(a.order(epoch: 3), a.order(epoch: 4))
    let otherSeed = try Batcher.training(data, batchSize: 8, seed: 8, normalization: unit)
    XCTAssertNotEqual(a.order(epoch: 3), otherSeed.order(epoch: 3))
    // Every epoch serves a permutation: each sample once.
    XCTAssertEqual(a.order(epoch: 3).sorted(), Array(0..<50))
    for batch in a.epoch(3) { XCTAssertEqual(batch.validCount, 8) }
  }

  /// Pinned: changing the generator, the shuffle or the seeding would change every run's data order.
  func testShuffleIsPinned() throws {
    let batcher = try Batcher.training(try syntheticDataset(count: 10), batchSize: 2, seed: 42, normalization: unit)
    XCTAssertEqual(batcher.order(epoch: 0), [6, 8, 1, 4, 0, 2, 3, 5, 7, 9])
    XCTAssertEqual(batcher.order(epoch: 1), [9, 2, 0, 8, 7, 5, 4, 1, 6, 3])
  }

  /// A run resumed at batch k of epoch e, in a new Batcher (a new process), sees the same batches.
  func testResumingMidEpochGivesTheSameBatches() throws {
    let data = try syntheticDataset(count: 37, channels: 3, side: 5)
    let augment = Augmentation(padding: 2, horizontalFlip: true)
    let norm = CIFAR10.normalization
    let full = Array(
      try Batcher.training(data, batchSize: 4, seed: 11, normalization: norm, augmentation: augment).epoch(2))
    let resumed = try Batcher.training(data, batchSize: 4, seed: 11, normalization: norm, augmentation: augment)
    XCTAssertEqual(Array(resumed.epoch(2)[5...]), Array(full[5...]))
    XCTAssertEqual(resumed.epoch(2)[5].index, 5)
  }

  func testNormalisationMatchesTorchvisionArithmetic() throws {
    let images: [UInt8] = [0, 128, 255, 17, 3, 200, 255, 0]  // 2 samples of 2 channels × 1 × 2
    let data = try Dataset(
      name: "t", images: images, labels: [1, 0], channels: 2, height: 1, width: 2, classNames: ["a", "b"])
    let norm = Normalization(mean: [0.4914, 0.4822], std: [0.2470, 0.2435])
    let batch = try Batcher.evaluation(data, batchSize: 2, normalization: norm).epoch(0)[0]
    let expected = images.enumerated().map { i, byte -> Float in
      let c = (i / 2) % 2
      return (Float(byte) / 255 - norm.mean[c]) / norm.std[c]
    }
    XCTAssertEqual(batch.images, expected)  // bit for bit: the same Float operations
    XCTAssertEqual(batch.labels, [1, 0])
    XCTAssertEqual(batch.images[0], -0.4914 / 0.2470, accuracy: 1e-6)
    XCTAssertEqual(FashionMNIST.normalization, Normalization(mean: [0.2860], std: [0.3530]))
  }

  func testEvaluationPadsTheLastBatchAndKeepsOrder() throws {
    let data = try syntheticDataset(count: 10, side: 2)
    let batcher = try Batcher.evaluation(data, batchSize: 4, normalization: unit)
    let batches = Array(batcher.epoch(0))
    XCTAssertEqual(batches.map(\.validCount), [4, 4, 2])
    XCTAssertEqual(batches.flatMap { $0.labels[0..<$0.validCount] }, data.labels.map(Int32.init))
    let last = batches[2]
    XCTAssertEqual(last.images.count, 4 * 4)
    XCTAssertEqual(last.images[0..<8].map { UInt8(($0 * 255).rounded()) }, Array(data.images[32..<40]))
    XCTAssertEqual(Array(last.images[8...]), Array(repeating: 0, count: 8))
    XCTAssertEqual(Array(last.labels[2...]), [0, 0])
    // Evaluation ignores the epoch: the same batches every time.
    XCTAssertEqual(Array(batcher.epoch(0)), Array(batcher.epoch(5)))
  }

  /// Every augmented sample is one of the (2p+1)² crops of the zero-padded image, possibly mirrored,
  /// and over many samples all offsets and both flips occur.
  func testAugmentationIsACropOfThePaddedImageThenAFlip() throws {
    let side = 4
    let p = 1
    let data = try syntheticDataset(count: 200, side: side)
    let batcher = try Batcher.training(
      data, batchSize: 200, seed: 3, normalization: unit, augmentation: Augmentation(padding: p, horizontalFlip: true))
    let batch = batcher.epoch(0)[0]
    let order = batcher.order(epoch: 0)
    var seen = Set<[Int]>()
    for b in 0..<200 {
      let source = Array(data.images[(order[b] * 16)..<(order[b] * 16 + 16)])
      let got = batch.images[(b * 16)..<(b * 16 + 16)].map { UInt8(($0 * 255).rounded()) }
      var match: [Int]?
      for dy in 0...(2 * p) {
        for dx in 0...(2 * p) {
          for flip in [0, 1] where crop(source, side: side, p: p, dy: dy, dx: dx, flip: flip == 1) == got {
            match = [dy, dx, flip]
          }
        }
      }
      guard let match else { return XCTFail("sample \(b) is no crop/flip of image \(order[b])") }
      seen.insert(match)
    }
    XCTAssertEqual(seen.count, 18)  // 3 × 3 offsets × 2 flips
    // Another epoch draws other augmentations for the same samples.
    XCTAssertNotEqual(
      batcher.epoch(1)[0].images,
      try Batcher.training(data, batchSize: 200, seed: 3, normalization: unit).epoch(1)[0].images)
  }

  func crop(_ image: [UInt8], side: Int, p: Int, dy: Int, dx: Int, flip: Bool) -> [UInt8] {
    (0..<side).flatMap { y in
      (0..<side).map { x -> UInt8 in
        let sy = y + dy - p
        let sx = (flip ? side - 1 - x : x) + dx - p
        return (0..<side).contains(sy) && (0..<side).contains(sx) ? image[sy * side + sx] : 0
      }
    }
  }

  func testBoundedDrawsStayInRangeAndAreRoughlyUniform() {
    var rng = SplitMix64(seed: 5)
    var counts = [Int](repeating: 0, count: 7)
    for _ in 0..<70_000 { counts[Int(rng.uniform(below: 7))] += 1 }
    // Each bucket expects 10,000 with standard deviation ≈ 93; allow 6 of them.
    for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 560) }
  }

  func testRejectsImpossibleConfigurations() throws {
    let data = try syntheticDataset(count: 3)
    XCTAssertEqual(
      trainingError { () throws(TrainingError) in try Batcher.training(data, batchSize: 4, seed: 0, normalization: unit)
      },
      .invalidArgument("synthetic has 3 samples, fewer than one batch of 4; use a smaller batch size"))
    XCTAssertNotNil(
      trainingError { () throws(TrainingError) in try Batcher.evaluation(data, batchSize: 0, normalization: unit) })
    XCTAssertEqual(
      trainingError { () throws(TrainingError) in
        try Batcher.evaluation(data, batchSize: 2, normalization: CIFAR10.normalization)
      },
      .invalidArgument("synthetic has 1 channel(s), the normalisation gives 3 mean(s) and 3 std(s)"))
    XCTAssertNotNil(
      trainingError { () throws(TrainingError) in
        try Batcher.evaluation(data, batchSize: 2, normalization: Normalization(mean: [0], std: [0]))
      })
  }
}
