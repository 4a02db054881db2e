import Foundation
import XCTest

@testable import LocusTraining

final class FashionMNISTTests: XCTestCase {
  func testReadsSyntheticGzipIDXFiles() throws {
    let dir = try makeTemporaryDirectory(self)
    try writeFashionMNIST(to: dir, trainLabels: [9, 0, 3], testLabels: [1, 2])
    let train = try FashionMNIST.load(.train, directory: dir)
    XCTAssertEqual(train.count, 3)
    XCTAssertEqual([train.channels, train.height, train.width], [1, 28, 28])
    XCTAssertEqual(train.labels, [9, 0, 3])
    XCTAssertEqual(train.images, syntheticImages(count: 3))
    XCTAssertEqual(train.classes, 10)
    XCTAssertEqual(train.classNames[9], "Ankle boot")
    let test = try FashionMNIST.load(.test, directory: dir)
    XCTAssertEqual(test.labels, [1, 2])
    XCTAssertEqual(test.images, syntheticImages(count: 2))
  }

  func testReadsUncompressedFilesAndMultiMemberGzip() throws {
    let dir = try makeTemporaryDirectory(self)
    let names = FashionMNIST.fileNames(.test)
    let images = idxFile(shape: [2, 28, 28], data: syntheticImages(count: 2))
    try Data(images).write(to: URL(fileURLWithPath: "\(dir)/\(names.images)"))
    // Two gzip members back to back, as `cat a.gz b.gz` makes: gunzip concatenates them.
    let labels = idxFile(shape: [2], data: [4, 5])
    let twoMembers = gzip(Array(labels[0..<5])) + gzip(Array(labels[5...]))
    try Data(twoMembers).write(to: URL(fileURLWithPath: "\(dir)/\(names.labels).gz"))
    let test = try FashionMNIST.load(.test, directory: dir)
    XCTAssertEqual(test.labels, [4, 5])
    XCTAssertEqual(test.images, syntheticImages(count: 2))
  }

  func testMissingDirectoryAndFileSayWhatIsMissingAndHowToGetIt() throws {
    let missing = NSTemporaryDirectory() + "locus-no-such-dir-\(UUID().uuidString)"
    let dirError = trainingError { () throws(TrainingError) in try FashionMNIST.load(.train, directory: missing) }
    XCTAssertEqual(
      dirError, .missingData(dataset: "Fashion-MNIST", path: missing, isDirectory: true, hint: FashionMNIST.hint))
    let text = try XCTUnwrap(dirError?.description)
    XCTAssertTrue(text.contains("directory \(missing) does not exist"), text)
    XCTAssertTrue(
      text.contains("install it with `sudo apt-get install dataset-fashion-mnist` or pass --data-dir"), text)

    let dir = try makeTemporaryDirectory(self)
    try writeFashionMNIST(to: dir, trainLabels: [1], testLabels: [1])
    try FileManager.default.removeItem(atPath: "\(dir)/train-labels-idx1-ubyte.gz")
    let fileError = trainingError { () throws(TrainingError) in try FashionMNIST.load(.train, directory: dir) }
    XCTAssertEqual(
      fileError?.description.hasPrefix("Fashion-MNIST: file \(dir)/train-labels-idx1-ubyte.gz does not exist"), true)
  }

  /// Each corruption must be reported with the file's name and what is wrong, never crash.
  func testRejectsBadMagicTruncationAndMismatchedCounts() throws {
    let labels = idxFile(shape: [2], data: [1, 2])
    let cases: [(name: String, labelsFile: [UInt8], expected: String)] = [
      ("not gzip", labels, "not a gzip file"),
      ("bad IDX magic", gzip([0, 0, 0x08, 3] + Array(labels[4...])), "has rank 3, expected 0x00000801"),
      ("bad element type", gzip([0, 0, 0x0d, 1] + Array(labels[4...])), "element type 0x0d is not supported"),
      ("not IDX", gzip(Array("hello, world".utf8)), "not an IDX file"),
      ("truncated data", gzip(Array(labels.dropLast())), "truncated: dimensions [2] need 2 data bytes, the file has 1"),
      ("truncated header", gzip(Array(labels[0..<6])), "truncated IDX header"),
      ("truncated gzip", Array(gzip(labels).dropLast(12)), "truncated gzip file"),
      ("corrupt gzip", flippingCRC(gzip(labels)), "corrupt gzip data: incorrect data check"),
      ("count mismatch", gzip(idxFile(shape: [3], data: [1, 2, 3])), "2 images but 3 labels"),
    ]
    for c in cases {
      let dir = try makeTemporaryDirectory(self)
      try writeFashionMNIST(to: dir, trainLabels: [1, 2], testLabels: [1])
      try Data(c.labelsFile).write(to: URL(fileURLWithPath: "\(dir)/train-labels-idx1-ubyte.gz"))
      let error = trainingError { () throws(TrainingError) in try FashionMNIST.load(.train, directory: dir) }
      guard case .malformedData(let file, let problem)? = error else {
        XCTFail("\(c.name): expected malformedData, got \(String(describing: error))")
        continue
      }
      XCTAssertTrue(file.hasPrefix(dir), "\(c.name): \(file)")
      XCTAssertTrue(problem.contains(c.expected), "\(c.name): \(problem)")
    }
  }

  /// The member with one bit of its CRC-32 trailer flipped.
  func flippingCRC(_ member: [UInt8]) -> [UInt8] {
    var bytes = member
    bytes[bytes.count - 8] ^= 1
    return bytes
  }

  func testRejectsLabelsOutsideTheTenClasses() throws {
    let dir = try makeTemporaryDirectory(self)
    try writeFashionMNIST(to: dir, trainLabels: [1, 10], testLabels: [1])
    let error = trainingError { () throws(TrainingError) in try FashionMNIST.load(.train, directory: dir) }
    XCTAssertTrue(error?.description.contains("sample 1 has label 10") == true, String(describing: error))
  }

  /// The installed data set (Debian's dataset-fashion-mnist), when there is one.
  func testReadsTheInstalledDataSet() throws {
    let dir = FashionMNIST.defaultDirectory
    guard FileManager.default.fileExists(atPath: "\(dir)/t10k-images-idx3-ubyte.gz") else {
      throw XCTSkip("Fashion-MNIST is not installed in \(dir) (sudo apt-get install dataset-fashion-mnist)")
    }
    let train = try FashionMNIST.load(.train)
    let test = try FashionMNIST.load(.test)
    XCTAssertEqual(train.count, 60000)
    XCTAssertEqual(test.count, 10000)
    XCTAssertEqual(train.images.count, 60000 * 784)
    XCTAssertEqual(train.labels[0], 9)  // an ankle boot
    XCTAssertEqual(test.labels[0], 9)
    XCTAssertEqual(test.labels[1], 2)  // a pullover
    // Balanced: 6000 training and 1000 test images per class.
    for k in 0..<10 {
      XCTAssertEqual(train.labels.filter { $0 == k }.count, 6000)
      XCTAssertEqual(test.labels.filter { $0 == k }.count, 1000)
    }
  }
}

final class CIFAR10Tests: XCTestCase {
  /// A batch file of records: label, then 3×32×32 pixels.
  func records(labels: [UInt8], offset: Int = 0) -> [UInt8] {
    labels.enumerated().flatMap { i, label in [label] + (0..<3072).map { UInt8((i + offset + $0) % 251) } }
  }

  func writeCIFAR(to dir: String, batchLabels: [[UInt8]], testLabels: [UInt8]) throws {
    for (b, labels) in batchLabels.enumerated() {
      try Data(records(labels: labels, offset: 10 * b)).write(
        to: URL(fileURLWithPath: "\(dir)/data_batch_\(b + 1).bin"))
    }
    try Data(records(labels: testLabels)).write(to: URL(fileURLWithPath: "\(dir)/test_batch.bin"))
  }

  func testReadsTheFiveTrainingBatchesInOrderAndTheTestBatch() throws {
    let root = try makeTemporaryDirectory(self)
    // The archive's layout: pointing at the parent of cifar-10-batches-bin works too.
    let dir = root + "/cifar-10-batches-bin"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try writeCIFAR(to: dir, batchLabels: [[0, 1], [2], [3, 4, 5], [6], [7, 8, 9]], testLabels: [9, 8])
    let train = try CIFAR10.load(.train, directory: root)
    XCTAssertEqual(train.labels, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    XCTAssertEqual([train.channels, train.height, train.width], [3, 32, 32])
    XCTAssertEqual(Array(train.images[0..<3]), [0, 1, 2])
    // Sample 2 is the first record of batch 2 (offset 10): its red channel starts at 10.
    XCTAssertEqual(train.images[2 * 3072], 10)
    XCTAssertEqual(train.images[2 * 3072 + 1024], UInt8((10 + 1024) % 251))  // green starts after 1024 red bytes
    let test = try CIFAR10.load(.test, directory: dir)
    XCTAssertEqual(test.labels, [9, 8])
    XCTAssertEqual(test.classNames[8], "ship")
  }

  func testErrorsNameTheFileAndTheProblem() throws {
    let dir = try makeTemporaryDirectory(self)
    try writeCIFAR(to: dir, batchLabels: [[0], [1], [2], [3]], testLabels: [0])
    let missing = trainingError { () throws(TrainingError) in try CIFAR10.load(.train, directory: dir) }
    XCTAssertTrue(missing?.description.hasPrefix("CIFAR-10: file \(dir)/data_batch_5.bin does not exist") == true)
    XCTAssertTrue(missing?.description.contains("pass --data-dir") == true)

    try Data(records(labels: [1]).dropLast()).write(to: URL(fileURLWithPath: "\(dir)/data_batch_5.bin"))
    let short = trainingError { () throws(TrainingError) in try CIFAR10.load(.train, directory: dir) }
    XCTAssertTrue(short?.description.contains("3072 bytes is not a whole number of 3073-byte records") == true)

    try Data(records(labels: [10])).write(to: URL(fileURLWithPath: "\(dir)/test_batch.bin"))
    let label = trainingError { () throws(TrainingError) in try CIFAR10.load(.test, directory: dir) }
    XCTAssertEqual(
      label,
      .malformedData(file: "\(dir)/test_batch.bin", problem: "record 0 has label 10, CIFAR-10 has 10 classes (0…9)"))
  }
}

final class DatasetTests: XCTestCase {
  func testValidatesSizesAndTakesPrefixes() throws {
    let data = try syntheticDataset(count: 5, channels: 2, side: 3)
    XCTAssertEqual(data.sampleSize, 18)
    let head = data.prefix(2)
    XCTAssertEqual(head.count, 2)
    XCTAssertEqual(head.images, Array(data.images[0..<36]))
    XCTAssertEqual(data.prefix(99), data)
    let error = trainingError { () throws(TrainingError) in
      try Dataset(name: "x", images: [1, 2, 3], labels: [0], channels: 1, height: 2, width: 2, classNames: ["a"])
    }
    XCTAssertEqual(error, .invalidArgument("x: 1 labels need 1×1×2×2 image bytes, got 3"))
  }
}
