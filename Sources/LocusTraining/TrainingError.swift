import LocusRuntime

// LocusTraining: the parts of `locus train` that do not depend on the compiled model: data sets
// (Fashion-MNIST IDX, CIFAR-10 binary), seeded batching with augmentation, label smoothing, the
// learning-rate schedule, metrics and their plot, the progress line, and atomic checkpoints.
// This file owns the errors of the training layer. Messages name the file and say what to do;
// only the CLI turns them into exit codes.

public enum TrainingError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A data set's directory or one of its files does not exist. `hint` says how to get it.
  case missingData(dataset: String, path: String, isDirectory: Bool, hint: String)
  /// A data file exists but its contents are not what the format promises.
  case malformedData(file: String, problem: String)
  case io(path: String, action: String, reason: String)
  /// A checkpoint file parsed as safetensors but lacks, or has unreadable, training metadata.
  case malformedCheckpoint(file: String, problem: String)
  case malformedMetrics(file: String, problem: String)
  /// Reading or writing a safetensors checkpoint failed in the runtime layer.
  case runtime(RuntimeError)
  case invalidArgument(String)

  public var description: String {
    switch self {
    case .missingData(let dataset, let path, let isDirectory, let hint):
      return "\(dataset): \(isDirectory ? "directory" : "file") \(path) does not exist; \(hint)"
    case .malformedData(let file, let problem):
      return "\(file): \(problem)"
    case .io(let path, let action, let reason):
      return "cannot \(action) \(path): \(reason)"
    case .malformedCheckpoint(let file, let problem):
      return "\(file): not a Locus training checkpoint: \(problem)"
    case .malformedMetrics(let file, let problem):
      return "\(file): cannot read the metrics log: \(problem)"
    case .runtime(let error):
      return error.description
    case .invalidArgument(let why):
      return why
    }
  }
}
