import Foundation
import LocusRuntime

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Training checkpoints: one safetensors file per save, `<prefix>-<step, 8 digits>.safetensors`,
// holding the parameters and the optimizer state as named tensors, and the bookkeeping of the run
// (epoch, step, seed, which tensors are optimizer state, the configuration) as strings in the
// file's "__metadata__", where any safetensors reader can see them. Files are written with
// AtomicFile: a kill at any moment leaves the previous checkpoints intact and no partial file under
// a checkpoint name. The newest `keep` files are kept.

public struct CheckpointMetadata: Sendable, Equatable {
  /// Epochs completed, counting from 1.
  public var epoch: Int
  /// Optimizer steps taken so far.
  public var step: Int
  public var seed: UInt64
  /// Names of the tensors that are optimizer state (Adam's moments…); the others are parameters.
  public var optimizerState: [String]
  /// The run's settings, so a resume can refuse to continue with different ones.
  public var config: [String: String]

  public init(epoch: Int, step: Int, seed: UInt64, optimizerState: [String] = [], config: [String: String] = [:]) {
    self.epoch = epoch
    self.step = step
    self.seed = seed
    self.optimizerState = optimizerState
    self.config = config
  }
}

public struct Checkpoint: Sendable {
  public var path: String
  public var tensors: [String: Tensor]
  public var metadata: CheckpointMetadata

  /// The tensors that are not optimizer state.
  public var parameters: [String: Tensor] {
    let state = Set(metadata.optimizerState)
    return tensors.filter { !state.contains($0.key) }
  }
}

public struct CheckpointStore: Sendable {
  public let directory: String
  public let prefix: String
  /// How many of the newest checkpoints a save keeps (0: all).
  public let keep: Int
  static let suffix = ".safetensors"

  public init(directory: String, prefix: String = "checkpoint", keep: Int = 2) {
    self.directory = directory
    self.prefix = prefix
    self.keep = keep
  }

  public func path(forStep step: Int) -> String {
    DataFiles.join(directory, prefix + "-" + String(format: "%08d", step) + Self.suffix)
  }

  /// Writes a checkpoint atomically, then removes checkpoints beyond `keep` and temporary files
  /// that killed runs left behind. Returns the new file's path.
  @discardableResult
  public func save(_ tensors: [String: Tensor], metadata: CheckpointMetadata) throws(TrainingError) -> String {
    if let missing = metadata.optimizerState.first(where: { tensors[$0] == nil }) {
      throw .invalidArgument("optimizer state '\(missing)' is listed in the checkpoint metadata but is not a tensor")
    }
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw .io(path: directory, action: "create the checkpoint directory", reason: error.localizedDescription)
    }
    let data: Data
    do {
      data = try SafeTensorsWriter.encode(tensors, metadata: CheckpointMetadataCoding.encode(metadata))
    } catch {
      throw .runtime(error)
    }
    let path = path(forStep: metadata.step)
    try AtomicFile.write(data, to: path)
    try prune(keeping: path)
    return path
  }

  /// Checkpoint files in the directory, oldest (lowest step) first.
  public func checkpoints() throws(TrainingError) -> [(step: Int, path: String)] {
    guard FileManager.default.fileExists(atPath: directory) else { return [] }
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory)
    } catch {
      throw .io(path: directory, action: "list", reason: error.localizedDescription)
    }
    return names.compactMap { name -> (Int, String)? in
      guard name.hasPrefix(prefix + "-"), name.hasSuffix(Self.suffix) else { return nil }
      let digits = name.dropFirst(prefix.count + 1).dropLast(Self.suffix.count)
      guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let step = Int(digits) else { return nil }
      return (step, DataFiles.join(directory, name))
    }.sorted { $0.0 < $1.0 }
  }

  /// The checkpoint with the highest step, or nil if there is none. A newest file that cannot be
  /// read is an error, not skipped: resuming from an older one would silently redo epochs.
  public func latest() throws(TrainingError) -> Checkpoint? {
    guard let newest = try checkpoints().last else { return nil }
    return try Self.load(path: newest.path)
  }

  public static func load(path: String) throws(TrainingError) -> Checkpoint {
    let file: SafeTensorsFile
    var tensors: [String: Tensor] = [:]
    do {
      file = try SafeTensorsFile.read(path: path)
      for name in file.names { tensors[name] = try file.tensor(name) }
    } catch {
      throw .runtime(error)
    }
    let metadata = try CheckpointMetadataCoding.decode(file.metadata, file: path)
    if let missing = metadata.optimizerState.first(where: { tensors[$0] == nil }) {
      throw .malformedCheckpoint(file: path, problem: "optimizer state tensor '\(missing)' is missing")
    }
    return Checkpoint(path: path, tensors: tensors, metadata: metadata)
  }

  private func prune(keeping newest: String) throws(TrainingError) {
    let all = try checkpoints()
    if keep > 0 {
      for old in all.dropLast(keep) where old.path != newest { unlink(old.path) }
    }
    removeStaleTemporaries()
  }

  /// `<checkpoint>.tmp-<pid>` files of processes that no longer run (a run killed mid-save).
  private func removeStaleTemporaries() {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for name in names where name.hasPrefix(prefix + "-") {
      guard let marker = name.range(of: Self.suffix + ".tmp-"), let pid = Int32(name[marker.upperBound...]) else {
        continue
      }
      if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH { unlink(DataFiles.join(directory, name)) }
    }
  }
}
