import LocusCodegen
import LocusIR
import LocusRuntime
import XCTest

/// `<m>_prepare` (ABI 2, DESIGN.md §6): values computed from parameters only are computed once
/// per weight binding into the arena's persistent region, and forward only reads them.
final class PrepareTests: XCTestCase {
  /// BatchNorm-folding shaped: scale = rsqrt(var + eps) · gamma [C] scales the tokens and, through
  /// a view, the columns of a projection weight. Legend: N = 5 tokens, C = 12 channels, O = 7.
  static func folded(batch: Int) throws -> Graph {
    var g = Graph(name: "prepared_b\(batch)", batch: batch)
    let (n, c, o) = (5, 12, 7)
    let x = g.input("x", [n, c])
    let variance = g.param("bn.running_var", [c], role: .norm)
    let shifted = try g.add(.scalar(.add, 1e-5, scalarFirst: false), [variance])
    let scale = try g.add(.binary(.mul), [g.add(.unary(.rsqrt), [shifted]), g.param("bn.weight", [c], role: .norm)])
    g.output("scaled", try g.add(.binary(.mul), [x, scale]))
    let weight = try g.add(.binary(.mul), [g.param("fc.weight", [o, c]), g.add(.reshape([1, c]), [scale])])
    let projection = FusedLinearAttrs(hasBias: true, activation: .gelu)
    g.output("projected", try g.add(.fusedLinear(projection), [x, weight, g.param("fc.bias", [o], role: .bias)]))
    g.output("scale", scale)  // an unbatched output, copied from the persistent region
    return g
  }

  /// Correct outputs; a second forward on the same binding (forward must not overwrite the
  /// persistent region); a rebinding with other weights gives their outputs.
  func testPreparedValuesMatchTheReferenceAcrossRunsAndRebinding() throws {
    for batch in [1, 3] {
      let graph = try Self.folded(batch: batch)
      let library = try buildLibrary(CEmitter.emit(graph))
      let model = try CompiledModel(libraryPath: library.path, modelName: graph.name)
      let first = Arguments(for: graph, seed: 101), second = Arguments(for: graph, seed: 102)
      XCTAssertNotEqual(first.parameters["bn.weight"]?.data, second.parameters["bn.weight"]?.data)
      try assertRunMatchesReference(model, graph, first)
      try assertRunMatchesReference(model, graph, first, bind: false)
      try assertRunMatchesReference(model, graph, second)
    }
  }

  /// The parameter-only nodes are computed by prepare and by nothing else: forward has no call
  /// for them, and their values have slices of their own at the start of the arena.
  func testParameterOnlyNodesRunInPrepareOnly() throws {
    let graph = try Self.folded(batch: 2)
    let model = try CEmitter.emit(graph)
    let prepare = try function("prepared_b2_prepare", in: model.source)
    let forward = try function("prepared_b2_forward", in: model.source)
    for call in ["lk_add_scalar(", "lk_rsqrt(", "lk_mul("] { XCTAssertTrue(prepare.contains(call), "\(call) in\n\(prepare)") }
    for call in ["lk_add_scalar(", "lk_rsqrt("] { XCTAssertFalse(forward.contains(call), "\(call) in\n\(forward)") }
    XCTAssertTrue(forward.contains("lk_fused_linear("), forward)

    let expected = graph.nodes.filter { node in
      switch node.op {
      case .input, .parameter, .reshape: false
      default: !node.type.batched
      }
    }.map(\.id)
    XCTAssertEqual(expected.count, 4)  // add_scalar, rsqrt, mul, mul (the folded weight)
    XCTAssertEqual(model.plan.persistent, Set(expected))
    for id in expected {
      XCTAssertTrue(prepare.contains("/* \(id) = "), "\(id) in prepare")
      XCTAssertFalse(forward.contains("/* \(id) = "), "\(id) in forward")
    }
    let region = model.plan.persistentFloats
    XCTAssertGreaterThan(region, 0)
    for node in graph.nodes where model.plan.root[node.id] == nil {
      guard case .arena(let offset)? = model.plan.storage[node.id] else { continue }
      let persistent = model.plan.persistent.contains(node.id)
      XCTAssertEqual(offset < region, persistent, "\(node.id) at \(offset), persistent region \(region)")
    }
    for (id, ws) in model.plan.workspace { XCTAssertGreaterThanOrEqual(ws.offset, region, "scratch of \(id)") }
    XCTAssertGreaterThanOrEqual(model.plan.arenaBytes, 4 * region)
    XCTAssertTrue(model.header.contains("int prepared_b2_prepare(const float *const *params, float *arena);"))
    XCTAssertTrue(model.source.contains("int prepared_b2_abi_version(void) { return 2; }"))
  }

  /// A model without parameter-only values still exports prepare, which does nothing.
  func testNothingToPrepare() throws {
    let model = try CEmitter.emit(TinyModels.vit(batch: 1))
    XCTAssertEqual(model.plan.persistentFloats, 0)
    let prepare = try function("tiny_vit_prepare", in: model.source)
    XCTAssertFalse(prepare.contains("lk_"), prepare)
  }

  /// The text of C function `name`, from its signature to its closing `} // name`.
  private func function(_ name: String, in source: String) throws -> String {
    let start = try XCTUnwrap(source.range(of: "int \(name)("), "no function \(name)")
    let end = try XCTUnwrap(source.range(of: "} // \(name)\n", range: start.upperBound..<source.endIndex))
    return String(source[start.lowerBound..<end.upperBound])
  }
}
