import Foundation
import LocusBuild
import LocusCodegen
import LocusIR
import LocusReference
import LocusRuntime
import XCTest

/// Deterministic pseudo-random numbers (SplitMix64): every run checks the same shapes and values.
struct Seeded {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }

  mutating func bits() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [-1, 1).
  mutating func unit() -> Float { Float(bits() >> 40) / Float(1 << 24) * 2 - 1 }

  mutating func int(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + Int(bits() % UInt64(range.count))
  }

  mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }

  mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in unit() * scale } }
}

/// Graph building for tests: inputs and parameters declared in one call each.
extension Graph {
  /// A batched input with the given per-sample shape.
  @discardableResult
  mutating func input(_ name: String, _ shape: [Int]) -> ValueID {
    append(.input(name: name), [], type: TensorType(shape, batched: true))
  }

  /// An unbatched parameter (registered in the parameter table).
  @discardableResult
  mutating func param(_ name: String, _ shape: [Int], role: ParameterRole = .weight) -> ValueID {
    parameters.append(Parameter(name: name, shape: shape, role: role, initializer: .zeros))
    return append(.parameter(name: name), [], type: TensorType(shape, batched: false))
  }

  mutating func output(_ name: String, _ value: ValueID) { outputs.append((name, value)) }
}

/// How far the generated C may be from the reference: relative 1e-4 of each element, with an
/// absolute floor of 1e-4 · 1e-2 · max|expected| so that elements that cancel to nearly zero (a dot
/// product of random signs) are judged against the tensor's scale, not against themselves.
func tolerance(for expected: LocusReference.Tensor) -> Tolerance {
  let scale = expected.data.reduce(0) { max($0, Double(abs($1))) }
  return Tolerance(absolute: 1e-6 * scale, relative: 1e-4)
}

/// Flags every test build uses: the warnings the emitted C must be free of, as errors.
let strictFlags = ["-std=c99", "-Wall", "-Wextra", "-Werror"]

/// Builds with LocusBuild into a cache private to these tests (reruns of an unchanged model are
/// instant, and the user's cache stays clean).
func buildLibrary(_ model: EmittedModel, extraFlags: [String] = strictFlags, openMP: Bool = true) throws -> BuiltLibrary {
  let cache = BuildCache(directory: NSTemporaryDirectory() + "locus-codegen-tests")
  let compiler = Compiler(toolchain: try Toolchain.discover(), cache: cache)
  let request = BuildRequest(
    name: model.name, sources: [SourceFile(name: model.sourceFileName, text: model.source)],
    headers: [SourceFile(name: model.headerFileName, text: model.header)],
    optimization: ["-O2", "-march=native"], openMP: openMP, extraFlags: extraFlags)
  return try compiler.build(request)
}

/// Random parameters and inputs for `graph` (uniform in [-scale, scale)); `positive` names
/// parameters that must be > 0 (batchnorm's running variance).
struct Arguments {
  var parameters: [String: LocusReference.Tensor] = [:]
  var inputs: [String: LocusReference.Tensor] = [:]

  init(for graph: Graph, seed: UInt64, scale: Float = 1, positive: (String) -> Bool = { $0.hasSuffix("running_var") }) {
    var rng = Seeded(seed)
    for p in graph.parameters {
      var data = rng.floats(p.count, scale: scale)
      if positive(p.name) { data = data.map { abs($0) + 0.1 } }
      parameters[p.name] = LocusReference.Tensor(shape: p.shape, data: data)
    }
    for node in graph.inputs {
      guard case .input(let name) = node.op else { continue }
      let shape = node.type.fullShape(batch: graph.batch)
      inputs[name] = LocusReference.Tensor(shape: shape, data: rng.floats(shape.reduce(1, *), scale: scale))
    }
  }
}

/// Emits `graph`, builds it with -Wall -Wextra -Werror, runs it on random arguments and compares
/// every output with the reference interpreter (see `tolerance(for:)`). Each comparison prints its
/// worst element (index and both values); failures also name the library.
func assertMatchesReference(
  _ graph: Graph, seed: UInt64 = 1, scale: Float = 1, options: EmitOptions = EmitOptions(),
  file: StaticString = #filePath, line: UInt = #line
) throws {
  let emitted = try CEmitter.emit(graph, options: options)
  let library = try buildLibrary(emitted)
  let model = try CompiledModel(libraryPath: library.path, modelName: graph.name)
  try assertRunMatchesReference(model, graph, Arguments(for: graph, seed: seed, scale: scale), file: file, line: line)
}

/// Binds `args.parameters` to the loaded `model` of `graph` (which prepares them) unless `bind` is
/// false (they are bound already), runs it on `args.inputs` and compares every output with the
/// reference interpreter.
func assertRunMatchesReference(
  _ model: CompiledModel, _ graph: Graph, _ args: Arguments, bind: Bool = true,
  file: StaticString = #filePath, line: UInt = #line
) throws {
  let expected = try Interpreter.run(graph: graph, parameters: args.parameters, inputs: args.inputs)
  if bind {
    try model.bindWeights(
      args.parameters.mapValues { LocusRuntime.Tensor(shape: $0.shape, floats: $0.data) }, sourceName: "random")
  }
  let inputs = graph.inputs.map { node -> [Float] in
    guard case .input(let name) = node.op else { return [] }
    return args.inputs[name]!.data
  }
  let outputs = try model.run(inputs: inputs)
  for (i, (name, value)) in graph.outputs.enumerated() {
    var want = expected[name]!
    if !graph[value].type.batched {  // output shapes always carry the batch: the value repeats
      want = LocusReference.Tensor(shape: [graph.batch] + want.shape, data: Array([[Float]](repeating: want.data, count: graph.batch).joined()))
    }
    let got = LocusReference.Tensor(shape: want.shape, data: outputs[i])
    let comparison = got.compared(to: want, tolerance: tolerance(for: want))
    print("\(graph.name) output '\(name)': \(comparison)")
    XCTAssertTrue(
      comparison.passed, "\(graph.name) output '\(name)' (batch \(graph.batch)): \(comparison)\n\(model.libraryPath)",
      file: file, line: line)
  }
}
