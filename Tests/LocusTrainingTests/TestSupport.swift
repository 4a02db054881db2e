import CZlib
import Foundation
import XCTest

@testable import LocusTraining

/// A fresh directory under the system temp dir, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
  let path = NSTemporaryDirectory() + "locus-training-tests-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
  return path
}

/// The error a throwing expression threw, typed.
func trainingError<T>(_ body: () throws(TrainingError) -> T) -> TrainingError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}

/// `bytes` compressed as one gzip member with zlib's deflate.
func gzip(_ bytes: [UInt8]) -> [UInt8] {
  var stream = z_stream()
  let initialised = deflateInit2_(
    &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
    Int32(MemoryLayout<z_stream>.size))
  precondition(initialised == Z_OK, "deflateInit2 failed")
  defer { deflateEnd(&stream) }
  var input = bytes
  var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
  let status = input.withUnsafeMutableBufferPointer { source in
    output.withUnsafeMutableBufferPointer { sink in
      stream.next_in = source.baseAddress
      stream.avail_in = UInt32(source.count)
      stream.next_out = sink.baseAddress
      stream.avail_out = UInt32(sink.count)
      return deflate(&stream, Z_FINISH)
    }
  }
  precondition(status == Z_STREAM_END, "deflate did not finish")
  return Array(output[0..<Int(stream.total_out)])
}

/// An IDX file of unsigned bytes: magic 00 00 08 <rank>, big-endian dimensions, data.
func idxFile(shape: [Int], data: [UInt8]) -> [UInt8] {
  var out: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
  for d in shape { out += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
  return out + data
}

/// Synthetic 28×28 images: pixel p of image i is (7i + p) mod 256.
func syntheticImages(count: Int, side: Int = 28, channels: Int = 1) -> [UInt8] {
  let size = channels * side * side
  return (0..<count).flatMap { i in (0..<size).map { p in UInt8((7 * i + p) % 256) } }
}

/// Writes the four Fashion-MNIST files (gzip IDX) for `trainLabels` and `testLabels` into `dir`.
func writeFashionMNIST(to dir: String, trainLabels: [UInt8], testLabels: [UInt8]) throws {
  for (split, labels) in [(Split.train, trainLabels), (Split.test, testLabels)] {
    let names = FashionMNIST.fileNames(split)
    let images = idxFile(shape: [labels.count, 28, 28], data: syntheticImages(count: labels.count))
    try Data(gzip(images)).write(to: URL(fileURLWithPath: "\(dir)/\(names.images).gz"))
    try Data(gzip(idxFile(shape: [labels.count], data: labels))).write(
      to: URL(fileURLWithPath: "\(dir)/\(names.labels).gz"))
  }
}

/// A small data set of C×H×W images whose pixels are (7i + p) mod 256 and labels i mod K.
func syntheticDataset(count: Int, channels: Int = 1, side: Int = 4, classes: Int = 3) throws -> Dataset {
  try Dataset(
    name: "synthetic", images: syntheticImages(count: count, side: side, channels: channels),
    labels: (0..<count).map { UInt8($0 % classes) }, channels: channels, height: side, width: side,
    classNames: (0..<classes).map { "class\($0)" })
}
