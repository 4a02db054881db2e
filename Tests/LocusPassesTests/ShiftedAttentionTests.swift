import Foundation
import XCTest
import LocusFrontend
import LocusIR
import LocusReference
import LocusSpec
@testable import LocusPasses

/// The Locally-SAG fusion computes what the unfused stage 1 computes (through the reference
/// interpreter, random weights), and leaves no (T, N, C) value behind.
final class ShiftedAttentionTests: XCTestCase {
  func testBothSAGModelsFuseAndAgreeWithTheUnfusedGraph() throws {
    let tiny = [("dim", "16"), ("heads", "2"), ("classes", "5"), ("depth2", "1"), ("depth3", "1"), ("depth4", "1")]
    for (spec, image) in [("sag_tiny_cifar", "8"), ("sag_tiny_imagenet", "36")] {
      let text = try String(contentsOf: specsDirectory().appendingPathComponent("\(spec).locus"), encoding: .utf8)
      let graph = try Frontend.compile(SourceFile(name: spec, text: text), batch: 2, overrides: tiny + [("image", image)]).graph
      let unfused = try Pipeline.run(graph, options: .none)
      var notes: [FusionNote] = []
      let fused = try Pipeline.run(graph, options: FusionOptions(disabled: Set(Pipeline.fusionFlags).subtracting(["sag"])), notes: &notes)
      XCTAssertEqual(notes.filter { $0.pass == "shifted-attention" }.count, 1, spec)
      XCTAssertEqual(fused.nodes.filter { if case .shiftedLocalAttention = $0.op { true } else { false } }.count, 1, spec)
      let variants = spec == "sag_tiny_cifar" ? 18 : 10
      let big = fused.nodes.filter { $0.type.batched && $0.type.rank == 3 && $0.type.shape[0] == variants }
      XCTAssertEqual(big.map(\.op.mnemonic), [], "\(spec): values of shape [T, N, C] remain")
      try assertSameOutputs(unfused, fused, spec)
    }
  }
}

/// Runs both graphs on the same seeded random weights and inputs; relative tolerance 1e-5 of the
/// largest output magnitude, reporting the worst element.
func assertSameOutputs(_ a: Graph, _ b: Graph, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
  var rng = TestRandom(seed: 7)
  var parameters: [String: LocusReference.Tensor] = [:]
  for p in a.parameters {
    let values: [Float] = (0..<p.count).map { _ in
      switch p.role {
      case .runningVar: 0.5 + rng.unit()            // positive variances, not 1
      case .norm where p.name.hasSuffix("weight"): 1 + 0.2 * (rng.unit() - 0.5)
      default: 0.4 * (rng.unit() - 0.5)
      }
    }
    parameters[p.name] = LocusReference.Tensor(shape: p.shape, data: values)
  }
  var inputs: [String: LocusReference.Tensor] = [:]
  for node in a.inputs {
    guard case .input(let name) = node.op else { continue }
    let shape = node.type.fullShape(batch: a.batch)
    inputs[name] = LocusReference.Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in 2 * (rng.unit() - 0.5) })
  }
  let ya = try Interpreter.run(graph: a, parameters: parameters, inputs: inputs)
  let yb = try Interpreter.run(graph: b, parameters: parameters, inputs: inputs)
  for (name, x) in ya {
    let y = try XCTUnwrap(yb[name])
    XCTAssertEqual(x.shape, y.shape, what, file: file, line: line)
    let scale = x.data.map(abs).max() ?? 0
    var worst = 0
    for i in x.data.indices where abs(x.data[i] - y.data[i]) > abs(x.data[worst] - y.data[worst]) { worst = i }
    let err = abs(x.data[worst] - y.data[worst]) / max(scale, .leastNormalMagnitude)
    XCTAssertLessThanOrEqual(err, 1e-5, "\(what) output \(name): worst element \(worst): \(y.data[worst]) vs unfused \(x.data[worst]), relative \(err)", file: file, line: line)
  }
}

struct TestRandom {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func unit() -> Float {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 24)
  }
}

func specsDirectory(file: String = #filePath) -> URL {
  URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("specs")
}
