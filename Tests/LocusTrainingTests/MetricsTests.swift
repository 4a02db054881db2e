import Foundation
import XCTest

@testable import LocusTraining

let sampleRecords = [
  EpochRecord(
    epoch: 1, step: 468, trainLoss: 0.61234, testLoss: 0.45, testAccuracy: 0.8412, learningRate: 1e-05,
    imagesPerSecond: 1830.5, seconds: 33.25),
  EpochRecord(
    epoch: 2, step: 936, trainLoss: 0.4, testLoss: nil, testAccuracy: 0.8733, learningRate: 0.0005,
    imagesPerSecond: 1901, seconds: 32),
  EpochRecord(
    epoch: 3, step: 1404, trainLoss: 0.1 + 0.2, testLoss: 0.31, testAccuracy: 0.9012, learningRate: 0,
    imagesPerSecond: 1899.25, seconds: 31.5),
]

final class MetricsTests: XCTestCase {
  func testCSVHasOneRowPerEpochWithExactValues() {
    XCTAssertEqual(
      MetricsLog(records: Array(sampleRecords.prefix(2))).csv(),
      """
      epoch,step,train_loss,test_loss,test_accuracy,learning_rate,images_per_s,seconds
      1,468,0.61234,0.45,0.8412,1e-05,1830.5,33.25
      2,936,0.4,,0.8733,0.0005,1901.0,32.0

      """)
  }

  func testWritesAtomicallyAndLoadsBackExactly() throws {
    let dir = try makeTemporaryDirectory(self)
    let log = MetricsLog(records: sampleRecords)
    try log.write(toDirectory: dir)
    XCTAssertEqual(try MetricsLog.load(path: "\(dir)/metrics.json"), log)  // 0.1 + 0.2 survives exactly
    let csv = try String(contentsOfFile: "\(dir)/metrics.csv", encoding: .utf8)
    XCTAssertEqual(csv, log.csv())
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
    XCTAssertEqual(leftovers, [])
    XCTAssertEqual(log.upTo(epoch: 2).records, Array(sampleRecords.prefix(2)))
  }

  func testDivergedRunsRoundTripNaNAndInfinity() throws {
    let dir = try makeTemporaryDirectory(self)
    var record = sampleRecords[0]
    record.trainLoss = .nan
    record.testLoss = .infinity
    try MetricsLog(records: [record]).write(toDirectory: dir)
    let back = try MetricsLog.load(path: "\(dir)/metrics.json").records[0]
    XCTAssertTrue(back.trainLoss.isNaN)
    XCTAssertEqual(back.testLoss, .infinity)
    XCTAssertTrue(MetricsLog(records: [record]).csv().contains("\n1,468,nan,inf,"))
  }

  func testLoadRejectsOtherFiles() throws {
    let dir = try makeTemporaryDirectory(self)
    let missing = trainingError { () throws(TrainingError) in try MetricsLog.load(path: "\(dir)/none.json") }
    guard case .io(let path, "read", _)? = missing else { return XCTFail(String(describing: missing)) }
    XCTAssertEqual(path, "\(dir)/none.json")

    try Data("{\"format\": \"other\", \"version\": 1, \"epochs\": []}".utf8).write(
      to: URL(fileURLWithPath: "\(dir)/a.json"))
    XCTAssertEqual(
      trainingError { () throws(TrainingError) in try MetricsLog.load(path: "\(dir)/a.json") },
      .malformedMetrics(file: "\(dir)/a.json", problem: "format other version 1, expected locus-metrics version 1"))
    let noStep = "{\"format\": \"locus-metrics\", \"version\": 1, \"epochs\": [{\"epoch\": 1}]}"
    try Data(noStep.utf8).write(to: URL(fileURLWithPath: "\(dir)/c.json"))
    let problem = trainingError { () throws(TrainingError) in try MetricsLog.load(path: "\(dir)/c.json") }
    XCTAssertTrue(problem?.description.hasPrefix("\(dir)/c.json: cannot read the metrics log: epochs.0: ") == true, "\(problem!)")
    XCTAssertTrue(problem?.description.contains("\"step\"") == true, "\(problem!)")
    try Data("[1, 2".utf8).write(to: URL(fileURLWithPath: "\(dir)/b.json"))
    guard
      case .malformedMetrics? = trainingError({ () throws(TrainingError) in try MetricsLog.load(path: "\(dir)/b.json") }
      )
    else {
      return XCTFail("truncated JSON must be a malformedMetrics error")
    }
  }
}

final class ConfusionMatrixTests: XCTestCase {
  func testCountsAccuracyAndRendering() throws {
    var m = ConfusionMatrix(classNames: ["cat", "dog", "bird"])
    // Logits (4, 3); the last sample is padding and must not count.
    let logits: [Float] = [
      5, 1, 0,  // cat → cat
      0, 2, 1,  // dog → dog
      3, 1, 1,  // bird → cat
      0, 0, 9,  // padding
    ]
    try m.add(logits: logits, labels: [0, 1, 2, 0], validCount: 3)
    try m.add(label: 2, predicted: 2)
    XCTAssertEqual(m.counts, [1, 0, 0, 0, 1, 0, 1, 0, 1])
    XCTAssertEqual(m.total, 4)
    XCTAssertEqual(m.accuracy, 0.75)
    XCTAssertEqual(m.perClassAccuracy, [1, 1, 0.5])
    XCTAssertEqual(
      m.render(),
      """
               predicted
      true        0    1    2   accuracy
      0 cat       1    0    0     100.0%
      1 dog       0    1    0     100.0%
      2 bird      1    0    1      50.0%
      accuracy 75.00% (3/4)
      """)
  }

  func testArgmaxTakesTheFirstMaximumAndSkipsNaN() throws {
    var m = ConfusionMatrix(classNames: ["a", "b", "c"])
    try m.add(logits: [1, 3, 3, .nan, 0, -1], labels: [1, 1], validCount: 2)
    // Row 0: 3 at index 1 and 2 → 1. Row 1: NaN loses to 0 → 1.
    XCTAssertEqual(m.counts, [0, 0, 0, 0, 2, 0, 0, 0, 0])
    XCTAssertEqual(m.perClassAccuracy, [nil, 1, nil])
  }

  func testRejectsMismatchedShapes() {
    var m = ConfusionMatrix(classNames: ["a", "b"])
    XCTAssertNotNil(
      trainingError { () throws(TrainingError) in try m.add(logits: [1, 2, 3], labels: [0], validCount: 1) })
    XCTAssertNotNil(trainingError { () throws(TrainingError) in try m.add(label: 2, predicted: 0) })
    XCTAssertNotNil(
      trainingError { () throws(TrainingError) in try m.add(logits: [1, 2], labels: [0], validCount: 2) })
  }
}
