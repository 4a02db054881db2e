import Foundation

// The per-epoch log of a training run, kept twice: metrics.csv for people and pandas, and
// metrics.json, which --resume reads back. Both are rewritten whole and atomically after every
// epoch, so a killed run leaves the log of its last finished epoch. A diverged run logs NaN: JSON
// writes it as the string "nan" (JSON has no NaN), CSV as nan (what pandas reads).

public struct EpochRecord: Sendable, Equatable, Codable {
  /// Counting from 1.
  public var epoch: Int
  /// Optimizer steps taken so far, over all epochs.
  public var step: Int
  /// Mean training loss over the epoch's batches.
  public var trainLoss: Double
  /// Mean test loss, when the evaluation computes one.
  public var testLoss: Double?
  /// Fraction of test samples classified correctly, 0…1.
  public var testAccuracy: Double
  /// The learning rate of the epoch's last step.
  public var learningRate: Double
  /// Training throughput over the epoch.
  public var imagesPerSecond: Double
  /// Wall time of the epoch, training and evaluation.
  public var seconds: Double

  public init(
    epoch: Int, step: Int, trainLoss: Double, testLoss: Double? = nil, testAccuracy: Double,
    learningRate: Double, imagesPerSecond: Double, seconds: Double
  ) {
    self.epoch = epoch
    self.step = step
    self.trainLoss = trainLoss
    self.testLoss = testLoss
    self.testAccuracy = testAccuracy
    self.learningRate = learningRate
    self.imagesPerSecond = imagesPerSecond
    self.seconds = seconds
  }

  enum CodingKeys: String, CodingKey, CaseIterable {
    case epoch, step
    case trainLoss = "train_loss"
    case testLoss = "test_loss"
    case testAccuracy = "test_accuracy"
    case learningRate = "learning_rate"
    case imagesPerSecond = "images_per_s"
    case seconds
  }
}

public struct MetricsLog: Sendable, Equatable {
  public static let csvName = "metrics.csv"
  public static let jsonName = "metrics.json"
  static let format = "locus-metrics"
  static let version = 1

  public var records: [EpochRecord]

  public init(records: [EpochRecord] = []) { self.records = records }

  /// The log as it stood after `epoch`: what a run resumed from that epoch's checkpoint continues.
  public func upTo(epoch: Int) -> MetricsLog {
    MetricsLog(records: records.filter { $0.epoch <= epoch })
  }

  public func csv() -> String {
    var lines = [EpochRecord.CodingKeys.allCases.map(\.rawValue).joined(separator: ",")]
    for r in records {
      let fields: [String] = [
        String(r.epoch), String(r.step), number(r.trainLoss), r.testLoss.map(number) ?? "",
        number(r.testAccuracy), number(r.learningRate), number(r.imagesPerSecond), number(r.seconds),
      ]
      lines.append(fields.joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  public func json() throws(TrainingError) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do {
      return try encoder.encode(File(format: Self.format, version: Self.version, epochs: records))
    } catch {
      throw .invalidArgument("cannot encode the metrics log as JSON: \(error)")
    }
  }

  /// Writes metrics.csv and metrics.json into `directory`, each atomically.
  public func write(toDirectory directory: String) throws(TrainingError) {
    try AtomicFile.write(Data(csv().utf8), to: DataFiles.join(directory, Self.csvName))
    try AtomicFile.write(json(), to: DataFiles.join(directory, Self.jsonName))
  }

  /// Reads a metrics.json written by `write`.
  public static func load(path: String) throws(TrainingError) -> MetricsLog {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw .io(path: path, action: "read", reason: error.localizedDescription)
    }
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let file: File
    do {
      file = try decoder.decode(File.self, from: data)
    } catch {
      throw .malformedMetrics(file: path, problem: describe(error))
    }
    guard file.format == format, file.version == version else {
      throw .malformedMetrics(
        file: path, problem: "format \(file.format) version \(file.version), expected \(format) version \(version)")
    }
    return MetricsLog(records: file.epochs)
  }

  /// The JSON file: the records plus a tag, so a stray JSON file is refused with a clear message.
  struct File: Codable {
    var format: String
    var version: Int
    var epochs: [EpochRecord]
  }
}

/// Shortest text that reads back as the same Double ("0.1", "1e-05", "nan").
private func number(_ x: Double) -> String { "\(x)" }

/// A decoding error as "epochs.2.step: <what>", without Swift's type dump.
private func describe(_ error: Error) -> String {
  let context: DecodingError.Context
  switch error as? DecodingError {
  case .dataCorrupted(let c)?, .keyNotFound(_, let c)?, .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
    context = c
  default:
    return "\(error)"
  }
  let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
  let reason = context.underlyingError.map { "\(context.debugDescription) (\($0.localizedDescription))" } ?? context.debugDescription
  return path.isEmpty ? reason : "\(path): \(reason)"
}
