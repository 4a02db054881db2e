import Foundation

// An image classification data set held as raw bytes, the way it is stored on disk: converting to
// floats happens per batch (Batcher), so 60,000 Fashion-MNIST images take 47 MB, not 188 MB.
// Legend: N samples, C channels, H height, W width, K classes.

public struct Dataset: Sendable, Equatable {
  /// A short name for messages and logs: "fashion-mnist", "cifar10".
  public var name: String
  /// (N, C, H, W), pixel values 0…255.
  public var images: [UInt8]
  /// (N), each < K.
  public var labels: [UInt8]
  public let channels: Int
  public let height: Int
  public let width: Int
  /// (K), index = label.
  public var classNames: [String]

  public var count: Int { labels.count }
  public var classes: Int { classNames.count }
  /// C·H·W bytes per image.
  public var sampleSize: Int { channels * height * width }

  /// Checks that the arrays agree with the dimensions and that every label names a class.
  public init(
    name: String, images: [UInt8], labels: [UInt8], channels: Int, height: Int, width: Int, classNames: [String]
  ) throws(TrainingError) {
    guard channels > 0, height > 0, width > 0, !classNames.isEmpty, classNames.count <= 256 else {
      throw .invalidArgument(
        "\(name): a data set needs C, H, W > 0 and 1…256 classes, got C=\(channels) H=\(height) W=\(width) "
          + "K=\(classNames.count)")
    }
    guard images.count == labels.count * channels * height * width else {
      throw .invalidArgument(
        "\(name): \(labels.count) labels need \(labels.count)×\(channels)×\(height)×\(width) image bytes, got \(images.count)"
      )
    }
    if let bad = labels.firstIndex(where: { Int($0) >= classNames.count }) {
      throw .invalidArgument(
        "\(name): sample \(bad) has label \(labels[bad]), but there are only \(classNames.count) classes")
    }
    self.name = name
    self.images = images
    self.labels = labels
    self.channels = channels
    self.height = height
    self.width = width
    self.classNames = classNames
  }

  /// The first `n` samples (all if there are fewer): for quick runs and smoke tests.
  public func prefix(_ n: Int) -> Dataset {
    var copy = self
    let kept = max(0, min(n, count))
    copy.labels = Array(labels[0..<kept])
    copy.images = Array(images[0..<(kept * sampleSize)])
    return copy
  }
}

/// Which half of a data set to load.
public enum Split: String, Sendable, CaseIterable {
  case train, test
}

/// Existence checks shared by the loaders: a missing directory and a missing file get different
/// messages, both ending with how to get the data.
enum DataFiles {
  static func requireDirectory(_ path: String, dataset: String, hint: String) throws(TrainingError) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw .missingData(dataset: dataset, path: path, isDirectory: true, hint: hint)
    }
  }

  static func read(_ path: String) throws(TrainingError) -> [UInt8] {
    do {
      return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
      throw .io(path: path, action: "read", reason: error.localizedDescription)
    }
  }

  static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  static func join(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
  }
}
