import Foundation
import LocusFrontend
import LocusIR
import LocusReference
import LocusSpec
import XCTest

@testable import LocusPasses

/// How close a fused graph's outputs must be to the unfused graph's, both through the reference
/// interpreter: relative 1e-5 of each element, with an absolute floor of 1e-5 × the tensor's largest
/// magnitude, so that elements that cancel to nearly zero are judged against the tensor's scale.
func fusionTolerance(for expected: LocusReference.Tensor) -> Tolerance {
  let scale = expected.data.reduce(0) { max($0, Double(abs($1))) }
  return Tolerance(absolute: 1e-5 * scale, relative: 1e-5)
}

/// Runs `unfused` and `fused` on the same seeded random parameters and inputs and fails, naming
/// the tolerance and the worst element, where an output differs.
func assertFusionPreservesOutputs(
  fused: Graph, unfused: Graph, seed: UInt64 = 1, _ what: String = "", file: StaticString = #filePath, line: UInt = #line
) throws {
  let (parameters, inputs) = randomArguments(for: unfused, seed: seed)
  let expected = try Interpreter.run(graph: unfused, parameters: parameters, inputs: inputs)
  let actual = try Interpreter.run(graph: fused, parameters: parameters, inputs: inputs)
  XCTAssertEqual(Set(actual.keys), Set(expected.keys), "\(what): outputs differ", file: file, line: line)
  for (name, want) in expected.sorted(by: { $0.key < $1.key }) {
    guard let got = actual[name] else { continue }
    let comparison = got.compared(to: want, tolerance: fusionTolerance(for: want))
    XCTAssertTrue(comparison.passed, "\(what) output '\(name)' (batch \(unfused.batch)): \(comparison)", file: file, line: line)
  }
}

/// Seeded parameters for every parameter of `graph` (uniform, by role: BatchNorm running variances
/// in [0.5, 1.5) and means in ±0.5, so BatchNorm is not the identity; norm weights around 1; weights
/// ±1/√fan-in) and inputs in ±1.
func randomArguments(for graph: Graph, seed: UInt64) -> (parameters: [String: LocusReference.Tensor], inputs: [String: LocusReference.Tensor]) {
  var rng = SplitMix(seed)
  var parameters: [String: LocusReference.Tensor] = [:]
  for p in graph.parameters {
    let fanIn = p.shape.count >= 2 ? p.count / p.shape[0] : 1
    let (centre, spread): (Float, Float) = switch p.role {
    case .runningVar: (1, 0.5)
    case .runningMean: (0, 0.5)
    case .norm: p.name.hasSuffix("bias") ? (0, 0.2) : (1, 0.25)
    case .bias: (0, 0.2)
    case .embedding: (0, 0.5)
    case .weight: (0, 1 / Float(fanIn).squareRoot())
    }
    parameters[p.name] = LocusReference.Tensor(shape: p.shape, element: { _ in centre + spread * rng.unit() })
  }
  var inputs: [String: LocusReference.Tensor] = [:]
  for node in graph.inputs {
    guard case .input(let name) = node.op else { continue }
    inputs[name] = LocusReference.Tensor(shape: node.type.fullShape(batch: graph.batch), element: { _ in rng.unit() })
  }
  return (parameters, inputs)
}

/// Deterministic pseudo-random numbers (SplitMix64), uniform in [-1, 1).
struct SplitMix {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }
  mutating func unit() -> Float {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Float(z >> 40) / Float(1 << 24) * 2 - 1
  }
}

/// Hand-built graphs for the pass tests: inputs and parameters in one call each.
struct GraphSketch {
  var graph: Graph
  init(batch: Int) { graph = Graph(name: "sketch", batch: batch) }

  /// A batched input with per-sample shape `shape`.
  mutating func input(_ name: String, _ shape: [Int]) -> ValueID {
    graph.append(.input(name: name), [], type: TensorType(shape, batched: true))
  }

  /// An unbatched parameter, registered in the parameter table.
  mutating func param(_ name: String, _ shape: [Int], _ role: ParameterRole = .weight) -> ValueID {
    graph.parameters.append(Parameter(name: name, shape: shape, role: role, initializer: .zeros))
    return graph.append(.parameter(name: name), [], type: TensorType(shape, batched: false))
  }

  mutating func add(_ op: Op, _ operands: ValueID..., scope: String = "") throws -> ValueID {
    try graph.add(op, operands, scope: scope)
  }

  /// `batchnorm(x)` with parameters `name.weight`, `.bias`, `.running_mean`, `.running_var` [C].
  mutating func batchnorm(_ x: ValueID, _ name: String) throws -> ValueID {
    let c = graph[x].type.shape[0]
    let ps = [("weight", ParameterRole.norm), ("bias", .norm), ("running_mean", .runningMean), ("running_var", .runningVar)]
      .map { param("\(name).\($0.0)", [c], $0.1) }
    return try graph.add(.batchnorm(eps: 1e-5), [x] + ps, scope: name)
  }

  mutating func output(_ name: String, _ v: ValueID) { graph.outputs.append((name, v)) }
}

/// Runs one pass, verifies the result and removes what it left dead (as the pipeline does).
func runPass(_ pass: @Sendable (Graph, inout [FusionNote]) throws -> Graph, _ g: Graph) throws -> (graph: Graph, notes: [FusionNote]) {
  try g.verify()
  var notes: [FusionNote] = []
  let out = eliminateDeadCode(try pass(g, &notes))
  try out.verify()
  return (out, notes)
}

extension Graph {
  /// How many nodes have each mnemonic.
  var opCounts: [String: Int] { nodes.reduce(into: [:]) { $0[$1.op.mnemonic, default: 0] += 1 } }

  /// Names of the parameters some node reads.
  var readParameters: Set<String> {
    Set(nodes.compactMap { if case .parameter(let name) = $0.op { name } else { nil } })
  }
}

/// The repository's `specs/` folder (this file is Tests/LocusPassesTests/…).
func bundledSpec(_ name: String, file: String = #filePath) throws -> SourceFile {
  let url = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("specs/\(name).locus")
  return SourceFile(name: "specs/\(name).locus", text: try String(contentsOf: url, encoding: .utf8))
}
