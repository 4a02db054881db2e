import Foundation

// CheckpointMetadata ↔ the string-to-string "__metadata__" of a safetensors file. Numbers are
// decimal strings; the list of optimizer-state names and the config are JSON text (sorted keys,
// so the same metadata always gives the same bytes).

enum CheckpointMetadataCoding {
  static let format = "locus-training-checkpoint"
  static let version = "1"

  static func encode(_ metadata: CheckpointMetadata) -> [String: String] {
    [
      "format": format,
      "format_version": version,
      "epoch": String(metadata.epoch),
      "step": String(metadata.step),
      "seed": String(metadata.seed),
      "optimizer_state": json(metadata.optimizerState),
      "config": json(metadata.config),
    ]
  }

  static func decode(_ fields: [String: String], file: String) throws(TrainingError) -> CheckpointMetadata {
    func bad(_ problem: String) -> TrainingError { .malformedCheckpoint(file: file, problem: problem) }
    guard fields["format"] == format else {
      throw bad(
        "its metadata has no \"format\": \"\(format)\" (is it a weights file? pass it as initial weights instead)")
    }
    guard fields["format_version"] == version else {
      throw bad("format version \(fields["format_version"] ?? "none"), this locus reads version \(version)")
    }
    func field(_ key: String) throws(TrainingError) -> String {
      guard let value = fields[key] else { throw bad("metadata lacks \"\(key)\"") }
      return value
    }
    let (epochText, stepText, seedText) = (try field("epoch"), try field("step"), try field("seed"))
    guard let epoch = Int(epochText), let step = Int(stepText), epoch >= 0, step >= 0 else {
      throw bad("\"epoch\" and \"step\" must be integers ≥ 0, got \(epochText) and \(stepText)")
    }
    guard let seed = UInt64(seedText) else { throw bad("\"seed\" must be an unsigned integer, got \(seedText)") }
    let optimizerState: [String] = try parse(field("optimizer_state"), key: "optimizer_state", file: file)
    let config: [String: String] = try parse(field("config"), key: "config", file: file)
    return CheckpointMetadata(epoch: epoch, step: step, seed: seed, optimizerState: optimizerState, config: config)
  }

  private static func json<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Encoding [String] or [String: String] cannot fail.
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
  }

  private static func parse<T: Decodable>(_ text: String, key: String, file: String) throws(TrainingError) -> T {
    do {
      return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    } catch {
      throw .malformedCheckpoint(file: file, problem: "\"\(key)\" is not the expected JSON (\(text.prefix(80)))")
    }
  }
}
