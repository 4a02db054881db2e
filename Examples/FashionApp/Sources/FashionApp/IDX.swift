import CZlib
import Foundation

/// The Fashion-MNIST test set from its gzip IDX files: images as bytes [N, 28, 28], labels [N].
struct TestSet {
  var images: [UInt8]
  var labels: [UInt8]
  var count: Int { labels.count }

  static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

  init(directory: String) throws {
    images = try Self.read(directory + "/t10k-images-idx3-ubyte.gz", magic: 0x0803, header: 16)
    labels = try Self.read(directory + "/t10k-labels-idx1-ubyte.gz", magic: 0x0801, header: 8)
    guard images.count == labels.count * 28 * 28 else {
      throw AppError("\(directory): \(images.count) image bytes for \(labels.count) labels")
    }
  }

  /// The payload of one gzip IDX file after checking its magic number.
  static func read(_ path: String, magic: UInt32, header: Int) throws -> [UInt8] {
    guard let file = gzopen(path, "rb") else {
      throw AppError("cannot open \(path): install Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist` or pass --data-dir")
    }
    defer { gzclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
      guard n >= 0 else { throw AppError("\(path): not a readable gzip file") }
      if n == 0 { break }
      bytes += chunk[0..<Int(n)]
    }
    guard bytes.count >= header, bytes[0..<4].reduce(0, { $0 << 8 | UInt32($1) }) == magic else {
      throw AppError("\(path): not an IDX file with magic \(String(magic, radix: 16))")
    }
    return Array(bytes[header...])
  }

  /// Images start..<end as floats [B, 1, 28, 28], normalised as `locus train` does:
  /// (x/255 − 0.2860)/0.3530 (torchvision's ToTensor and Normalize).
  func batch(_ range: Range<Int>) -> [Float] {
    images[(range.lowerBound * 784)..<(range.upperBound * 784)].map { (Float($0) / 255 - 0.2860) / 0.3530 }
  }
}

struct AppError: Error, CustomStringConvertible {
  var description: String
  init(_ message: String) { description = message }
}
