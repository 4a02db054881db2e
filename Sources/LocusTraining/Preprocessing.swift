// What happens to an image between the bytes on disk and the floats the model sees, in
// torchvision's order: RandomCrop(padding=p) and RandomHorizontalFlip on the uint8 image, then
// ToTensor (x/255) and Normalize ((x − mean)/std). Padding therefore pads with the byte 0, which
// normalises to −mean/std, exactly as torchvision's pipeline does.

/// Per-channel normalisation of x/255.
public struct Normalization: Sendable, Equatable {
  /// (C)
  public var mean: [Float]
  /// (C), each > 0
  public var std: [Float]

  public init(mean: [Float], std: [Float]) {
    self.mean = mean
    self.std = std
  }

  /// Only x/255: mean 0 and std 1 in every channel.
  public static func unit(channels: Int) -> Normalization {
    Normalization(mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels))
  }

  /// (C, 256): the normalised value of every byte in every channel. Computed with the same Float
  /// operations as torchvision ((x/255 − mean)/std), so a lookup equals the arithmetic bit for bit.
  func table(channels: Int, dataset: String) throws(TrainingError) -> [Float] {
    guard mean.count == channels, std.count == channels else {
      throw .invalidArgument(
        "\(dataset) has \(channels) channel(s), the normalisation gives \(mean.count) mean(s) and \(std.count) std(s)")
    }
    guard std.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
      throw .invalidArgument("normalisation needs finite means and stds > 0, got mean \(mean) std \(std)")
    }
    var table: [Float] = []
    table.reserveCapacity(channels * 256)
    for c in 0..<channels {
      for byte in 0..<256 { table.append((Float(byte) / 255 - mean[c]) / std[c]) }
    }
    return table
  }
}

/// Random training-time transforms, drawn per sample from a stream seeded by (seed, epoch, sample).
public struct Augmentation: Sendable, Equatable {
  /// Pad every side with `padding` zero pixels, then crop a random H×W window (0: no crop).
  public var padding: Int
  /// Mirror left–right with probability 1/2, after the crop.
  public var horizontalFlip: Bool

  public init(padding: Int = 0, horizontalFlip: Bool = false) {
    self.padding = padding
    self.horizontalFlip = horizontalFlip
  }

  public static let none = Augmentation()

  public var isIdentity: Bool { padding == 0 && !horizontalFlip }

  /// The draws for one sample: crop offsets in 0…2p (top, then left, like torchvision) and the flip.
  func draw(using rng: inout some RandomNumberGenerator) -> (dy: Int, dx: Int, flip: Bool) {
    var dy = padding
    var dx = padding
    if padding > 0 {
      dy = Int(rng.uniform(below: UInt64(2 * padding + 1)))
      dx = Int(rng.uniform(below: UInt64(2 * padding + 1)))
    }
    let flip = horizontalFlip && rng.next() >> 63 == 1
    return (dy, dx, flip)
  }
}
