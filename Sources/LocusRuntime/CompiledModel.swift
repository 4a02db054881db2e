// A built model library, loaded and ready to run. It owns the activation arena, so one instance
// must not run on two threads at once (it is deliberately not Sendable); load the library once
// per thread, or serialise calls.

public final class CompiledModel {
  public let libraryPath: String
  /// The symbol prefix (`localvit_tiny` for `localvit_tiny_forward`).
  public let name: String
  public let batch: Int
  public let parameters: [TensorInfo]
  public let inputs: [TensorInfo]
  public let outputs: [TensorInfo]
  public let arenaBytes: Int
  /// The bound weights, prepared (see `bindWeights`). Writing into them does not prepare them
  /// again: bind new weights instead.
  public private(set) var weights: ParameterStore?

  private let symbols: ModelSymbols
  private let arena: AlignedBuffer
  /// The dlopen handle, for the kernels a training library also exports (`OptimizerKernels`).
  let handle: UnsafeMutableRawPointer

  /// Loads `libraryPath` and resolves `<modelName>_*`. Load the cache path (named by content hash),
  /// not a fixed output path: dlopen of an already-loaded path returns the old code.
  public init(libraryPath: String, modelName: String) throws(RuntimeError) {
    let handle = try ModelSymbols.open(path: libraryPath)
    let symbols = try ModelSymbols.resolve(handle: handle, model: modelName, library: libraryPath)
    let arenaBytes = symbols.arenaBytes()
    guard arenaBytes >= 0 else {
      throw .invalidModelTable(library: libraryPath, problem: "\(modelName)_arena_bytes() is out of range")
    }
    self.handle = handle
    self.libraryPath = libraryPath
    self.name = modelName
    self.symbols = symbols
    self.batch = Int(symbols.batch())
    self.parameters = try ModelSymbols.table(
      count: symbols.numParams, info: symbols.paramInfo, role: "parameter", library: libraryPath)
    self.inputs = try ModelSymbols.table(
      count: symbols.numInputs, info: symbols.inputInfo, role: "input", library: libraryPath)
    self.outputs = try ModelSymbols.table(
      count: symbols.numOutputs, info: symbols.outputInfo, role: "output", library: libraryPath)
    self.arenaBytes = arenaBytes
    self.arena = try AlignedBuffer(byteCount: arenaBytes)
  }

  /// The parameter table in the form WeightBinding and Initializer take.
  public var parameterSpecs: [ParameterSpec] { parameters.map { ParameterSpec(name: $0.name, shape: $0.shape) } }

  /// Binds a weight file, then prepares it (see `prepare`); on a mismatch, reports every problem and
  /// keeps the previous weights.
  ///
  /// Parameters forward never reads (weights prepare folds into the arena) are not kept: prepare
  /// reads them from a temporary copy, freed when it returns, and the store points at them in
  /// the file's map (ParameterStore), whose pages are not touched again. So a model holds only
  /// the weights it runs on (localvit_tiny: 13 MiB of its 23 MiB are folded, and the process's
  /// peak RSS drops from 84 to ~62 MiB).
  public func bindWeights(_ file: SafeTensorsFile) throws(RuntimeError) {
    var unread = Set<Int>()
    if let read = symbols.paramReadByForward { unread = Set(parameters.indices.filter { read(Int32($0)) == 0 }) }
    let store = try WeightBinding.bind(file, to: parameterSpecs, model: name, borrowing: unread)
    let borrowed = parameters.indices.filter { store.isBorrowed($0) }
    let specs = parameterSpecs
    let copies = try ParameterStore(specs: borrowed.map { specs[$0] })
    var pointers = parameterPointers(store)
    for (k, i) in borrowed.enumerated() {
      try file.copyFloats(specs[i].name, into: copies.values(k))
      pointers[i] = UnsafePointer(copies.pointer(k))
    }
    try prepare(store, pointers: pointers)
  }

  /// Binds tensors held in memory (e.g. from `Initializer`); `sourceName` names them in messages.
  public func bindWeights(_ tensors: [String: Tensor], sourceName: String) throws(RuntimeError) {
    try prepare(WeightBinding.bind(tensors, sourceName: sourceName, to: parameterSpecs, model: name))
  }

  /// Runs `<m>_prepare` on newly bound weights: it computes the values that depend on the
  /// parameters only (folded weights) into the arena's persistent region, which every forward
  /// call then reads. Once per binding, never per forward. The region stops matching the old
  /// weights as soon as prepare starts, so they are unbound first; if prepare fails, the model
  /// refuses to run until a binding succeeds.
  private func prepare(_ store: ParameterStore, pointers: [UnsafePointer<Float>?]? = nil) throws(RuntimeError) {
    weights = nil
    let status = symbols.prepare(pointers ?? parameterPointers(store), arena.pointer.assumingMemoryBound(to: Float.self))
    guard status == 0 else { throw .prepareFailed(model: name, status: status) }
    weights = store
  }

  public func setThreads(_ n: Int) throws(RuntimeError) {
    guard n >= 1, n <= Int(Int32.max) else { throw .invalidArgument("thread count must be at least 1, got \(n)") }
    symbols.setNumThreads(Int32(n))
  }

  /// Runs one forward pass and returns the outputs in table order (each `outputs[i].numel` floats).
  public func run(inputs: [UnsafeBufferPointer<Float>]) throws(RuntimeError) -> [[Float]] {
    let buffers = outputs.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: $0.numel) }
    defer { buffers.forEach { $0.deallocate() } }
    buffers.forEach { $0.initialize(repeating: 0) }
    try run(inputs: inputs, outputs: buffers)
    return buffers.map { Array($0) }
  }

  /// Convenience for arrays.
  public func run(inputs: [[Float]]) throws(RuntimeError) -> [[Float]] {
    try withBuffers(inputs[...]) { (buffers) throws(RuntimeError) in try run(inputs: buffers) }
  }

  /// Runs one forward pass writing into caller-owned buffers; allocates nothing.
  public func run(
    inputs: [UnsafeBufferPointer<Float>], outputs: [UnsafeMutableBufferPointer<Float>]
  ) throws(RuntimeError) {
    guard let weights else { throw .weightsNotBound(model: name) }
    try check(inputs.map(\.count), against: self.inputs, role: "input")
    try check(outputs.map(\.count), against: self.outputs, role: "output")
    let inputPtrs: [UnsafePointer<Float>?] = inputs.map(\.baseAddress)
    let outputPtrs: [UnsafeMutablePointer<Float>?] = outputs.map(\.baseAddress)
    let arenaPtr = arena.pointer.assumingMemoryBound(to: Float.self)
    let status = symbols.forward(parameterPointers(weights), inputPtrs, outputPtrs, arenaPtr)
    guard status == 0 else { throw .forwardFailed(model: name, status: status) }
  }

  private func check(_ counts: [Int], against table: [TensorInfo], role: String) throws(RuntimeError) {
    guard counts.count == table.count else {
      throw .argumentCount(model: name, role: role, expected: table.count, got: counts.count)
    }
    for (i, (count, info)) in zip(counts, table).enumerated() where count != info.numel {
      throw .sizeMismatch(
        model: name, role: role, index: i, name: info.name, shape: info.shape, expected: info.numel, got: count)
    }
  }
}

/// The `params` array of the C ABI: a pointer to each parameter, in table order.
private func parameterPointers(_ store: ParameterStore) -> [UnsafePointer<Float>?] {
  (0..<store.count).map { UnsafePointer(store.pointer($0)) }
}

/// Calls `body` with buffer pointers to every array, nesting one `withUnsafeBufferPointer` per array.
private func withBuffers<R>(
  _ arrays: ArraySlice<[Float]>, _ acc: [UnsafeBufferPointer<Float>] = [],
  _ body: ([UnsafeBufferPointer<Float>]) throws(RuntimeError) -> R
) throws(RuntimeError) -> R {
  guard let first = arrays.first else { return try body(acc) }
  return try first.withUnsafeBufferPointer { (b) throws(RuntimeError) in
    try withBuffers(arrays.dropFirst(), acc + [b], body)
  }
}
