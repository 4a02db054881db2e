// Binding weights to a model's parameter table. The contract: every parameter present with exactly
// its shape and a float dtype, and nothing else, except `*.num_batches_tracked` (a BatchNorm counter
// that PyTorch checkpoints carry and inference never reads). All problems are collected and reported
// in one error, so fixing a converted checkpoint does not take one run per mistake.

/// A source of named tensors: a safetensors file, or tensors in memory (e.g. from `Initializer`).
protocol WeightSource {
  var sourceName: String { get }
  var tensorNames: [String] { get }
  func shape(of name: String) -> [Int]?
  /// nil when the tensor holds floats; otherwise the dtype name, for the message.
  func nonFloatDType(of name: String) -> String?
  func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(RuntimeError)
  /// Called after the last copy: the source may let go of its memory (a mapped file's pages).
  func finishedCopying()
}

public enum WeightBinding {
  /// Everything wrong with `file` for `parameters`, in parameter order, then unexpected names sorted.
  public static func problems(_ file: SafeTensorsFile, parameters: [ParameterSpec]) -> [WeightProblem] {
    problems(source: file, parameters: parameters)
  }

  public static func bind(
    _ file: SafeTensorsFile, to parameters: [ParameterSpec], model: String
  ) throws(RuntimeError) -> ParameterStore {
    try bind(source: file, to: parameters, model: model)
  }

  /// `bind`, but the parameters in `borrow` that the file holds as aligned float32 are not copied:
  /// the store points into the file's private map (see ParameterStore).
  static func bind(
    _ file: SafeTensorsFile, to parameters: [ParameterSpec], model: String, borrowing borrow: Set<Int>
  ) throws(RuntimeError) -> ParameterStore {
    try bind(source: file, to: parameters, model: model) { specs throws(RuntimeError) in
      var places: [Int: UnsafePointer<Float>] = [:]
      for i in borrow.sorted() where i < specs.count { places[i] = file.borrowableFloats(specs[i].name) }
      return try ParameterStore(specs: specs, borrowing: places, from: places.isEmpty ? nil : file)
    }
  }

  /// Binds tensors held in memory; `sourceName` names them in messages.
  public static func bind(
    _ tensors: [String: Tensor], sourceName: String, to parameters: [ParameterSpec], model: String
  ) throws(RuntimeError) -> ParameterStore {
    try bind(source: InMemoryWeights(sourceName: sourceName, tensors: tensors), to: parameters, model: model)
  }

  static func bind(
    source: some WeightSource, to parameters: [ParameterSpec], model: String,
    storage: ([ParameterSpec]) throws(RuntimeError) -> ParameterStore = { specs throws(RuntimeError) in try ParameterStore(specs: specs) }
  ) throws(RuntimeError) -> ParameterStore {
    let found = problems(source: source, parameters: parameters)
    guard found.isEmpty else { throw .weightMismatch(file: source.sourceName, model: model, problems: found) }
    let store = try storage(parameters)
    for (i, spec) in parameters.enumerated() where !store.isBorrowed(i) {
      try source.copyFloats(spec.name, into: store.values(i))
    }
    source.finishedCopying()
    return store
  }

  static func problems(source: some WeightSource, parameters: [ParameterSpec]) -> [WeightProblem] {
    var result: [WeightProblem] = []
    for spec in parameters {
      guard let shape = source.shape(of: spec.name) else {
        result.append(.missing(name: spec.name, shape: spec.shape))
        continue
      }
      if let dtype = source.nonFloatDType(of: spec.name) {
        result.append(.notFloat(name: spec.name, dtype: dtype))
      } else if shape != spec.shape {
        result.append(.shapeMismatch(name: spec.name, found: shape, expected: spec.shape))
      }
    }
    let known = Set(parameters.map(\.name))
    for name in source.tensorNames.sorted() where !known.contains(name) && !isIgnored(name) {
      result.append(.unexpected(name: name))
    }
    return result
  }

  static func isIgnored(_ name: String) -> Bool {
    name == "num_batches_tracked" || name.hasSuffix(".num_batches_tracked")
  }
}

extension SafeTensorsFile: WeightSource {
  var sourceName: String { path }
  var tensorNames: [String] { Array(entries.keys) }
  func shape(of name: String) -> [Int]? { entries[name]?.shape }

  func nonFloatDType(of name: String) -> String? {
    guard let dtype = entries[name]?.dtype, !dtype.isReadableAsFloat else { return nil }
    return dtype.rawValue
  }

  func finishedCopying() { releaseAllPages() }
}

struct InMemoryWeights: WeightSource {
  var sourceName: String
  var tensors: [String: Tensor]

  var tensorNames: [String] { Array(tensors.keys) }
  func shape(of name: String) -> [Int]? { tensors[name]?.shape }

  func nonFloatDType(of name: String) -> String? {
    guard let tensor = tensors[name], tensor.floats == nil else { return nil }
    return tensor.dtype.rawValue
  }

  func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(RuntimeError) {
    guard let floats = tensors[name]?.floats, floats.count == destination.count else {
      throw .invalidArgument("\(sourceName): tensor '\(name)' does not have \(destination.count) float values")
    }
    _ = destination.update(fromContentsOf: floats)
  }

  func finishedCopying() {}
}
