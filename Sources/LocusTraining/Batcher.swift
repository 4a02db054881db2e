import LocusRuntime

// Cuts a data set into fixed-size batches of normalised floats. Everything random is a function of
// (seed, epoch) only: the order is a permutation drawn from the epoch's stream, and each sample's
// augmentation comes from a stream of (seed, epoch, sample index). So any batch of any epoch can be
// rebuilt on its own, and a run resumed at batch k of epoch e sees the batches it would have seen.
// Legend: B batch, C channels, H height, W width.

/// One batch, ready for a model with a fixed batch size B.
public struct Batch: Sendable, Equatable {
  /// (B, C, H, W), normalised.
  public var images: [Float]
  /// (B)
  public var labels: [Int32]
  /// The first `validCount` samples are real. The rest exist only in the last batch of an
  /// evaluation pass, to fill it up to B: zero images with label 0, which callers must ignore.
  public var validCount: Int
  /// Position of the batch in its epoch, from 0.
  public var index: Int
}

public struct Batcher: Sendable {
  /// What to do with the samples left over when B does not divide N.
  public enum LastBatch: Sendable {
    /// Leave them out (training: every step sees B real samples; the shuffle varies which).
    case drop
    /// Fill the last batch with padding and report `validCount` (evaluation: every sample counts once).
    case pad
  }

  public let dataset: Dataset
  public let batchSize: Int
  public let seed: UInt64
  public let shuffle: Bool
  public let lastBatch: LastBatch
  public let normalization: Normalization
  public let augmentation: Augmentation
  /// (C, 256): byte → normalised float per channel.
  private let table: [Float]

  public init(
    dataset: Dataset, batchSize: Int, seed: UInt64 = 0, shuffle: Bool, lastBatch: LastBatch,
    normalization: Normalization, augmentation: Augmentation = .none
  ) throws(TrainingError) {
    guard batchSize > 0 else { throw .invalidArgument("batch size must be at least 1, got \(batchSize)") }
    guard augmentation.padding >= 0 else {
      throw .invalidArgument("crop padding must be ≥ 0, got \(augmentation.padding)")
    }
    if lastBatch == .drop, dataset.count < batchSize {
      throw .invalidArgument(
        "\(dataset.name) has \(dataset.count) samples, fewer than one batch of \(batchSize); use a smaller batch size")
    }
    self.table = try normalization.table(channels: dataset.channels, dataset: dataset.name)
    self.dataset = dataset
    self.batchSize = batchSize
    self.seed = seed
    self.shuffle = shuffle
    self.lastBatch = lastBatch
    self.normalization = normalization
    self.augmentation = augmentation
  }

  /// Shuffled, last partial batch dropped, augmented.
  public static func training(
    _ dataset: Dataset, batchSize: Int, seed: UInt64, normalization: Normalization, augmentation: Augmentation = .none
  ) throws(TrainingError) -> Batcher {
    try Batcher(
      dataset: dataset, batchSize: batchSize, seed: seed, shuffle: true, lastBatch: .drop,
      normalization: normalization, augmentation: augmentation)
  }

  /// In order, every sample exactly once, the last batch padded.
  public static func evaluation(
    _ dataset: Dataset, batchSize: Int, normalization: Normalization
  ) throws(TrainingError) -> Batcher {
    try Batcher(dataset: dataset, batchSize: batchSize, shuffle: false, lastBatch: .pad, normalization: normalization)
  }

  public var batchesPerEpoch: Int {
    lastBatch == .drop ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
  }

  /// The samples of an epoch in the order they are served (all N, even those `.drop` leaves out).
  public func order(epoch: Int) -> [Int] {
    guard shuffle else { return Array(0..<dataset.count) }
    var rng = Xoshiro256StarStar(seed: SeededStreams.seed(seed, .shuffle, epoch))
    return SeededStreams.permutation(count: dataset.count, using: &rng)
  }

  /// The batches of one epoch. Resume at batch k with `batcher.epoch(e)[k...]`.
  public func epoch(_ epoch: Int) -> EpochBatches {
    EpochBatches(batcher: self, epoch: epoch, order: order(epoch: epoch))
  }

  /// Batch `index` of an epoch whose sample order is `order`.
  func makeBatch(_ index: Int, epoch: Int, order: [Int]) -> Batch {
    let sampleSize = dataset.sampleSize
    let start = index * batchSize
    let valid = min(batchSize, order.count - start)
    var images = [Float](repeating: 0, count: batchSize * sampleSize)
    var labels = [Int32](repeating: 0, count: batchSize)
    images.withUnsafeMutableBufferPointer { out in
      for b in 0..<valid {
        let sample = order[start + b]
        labels[b] = Int32(dataset.labels[sample])
        writeSample(sample, epoch: epoch, into: UnsafeMutableBufferPointer(rebasing: out[(b * sampleSize)...]))
      }
    }
    return Batch(images: images, labels: labels, validCount: valid, index: index)
  }

  /// Normalises (and augments) one sample into `out`, which holds at least C·H·W floats.
  private func writeSample(_ sample: Int, epoch: Int, into out: UnsafeMutableBufferPointer<Float>) {
    let (channels, height, width) = (dataset.channels, dataset.height, dataset.width)
    let base = sample * dataset.sampleSize
    if augmentation.isIdentity {
      for c in 0..<channels {
        for i in (c * height * width)..<((c + 1) * height * width) {
          out[i] = table[c * 256 + Int(dataset.images[base + i])]
        }
      }
      return
    }
    var rng = SplitMix64(seed: SeededStreams.seed(seed, .augmentation, epoch, sample))
    let (dy, dx, flip) = augmentation.draw(using: &rng)
    let p = augmentation.padding
    for c in 0..<channels {
      for y in 0..<height {
        let sy = y + dy - p
        for x in 0..<width {
          // Crop, then flip: output column x reads cropped column W−1−x when flipped.
          let sx = (flip ? width - 1 - x : x) + dx - p
          let inside = sy >= 0 && sy < height && sx >= 0 && sx < width
          let byte = inside ? dataset.images[base + (c * height + sy) * width + sx] : 0
          out[(c * height + y) * width + x] = table[c * 256 + Int(byte)]
        }
      }
    }
  }
}

/// The batches of one epoch, built on access (only the sample order is computed up front).
public struct EpochBatches: RandomAccessCollection, Sendable {
  public let batcher: Batcher
  public let epoch: Int
  /// The sample order of this epoch.
  public let order: [Int]

  public var startIndex: Int { 0 }
  public var endIndex: Int { batcher.batchesPerEpoch }

  public subscript(position: Int) -> Batch {
    precondition(indices.contains(position), "batch \(position) is outside 0..<\(endIndex)")
    return batcher.makeBatch(position, epoch: epoch, order: order)
  }
}
