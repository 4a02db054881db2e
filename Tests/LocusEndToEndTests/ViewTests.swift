import Foundation
import XCTest
import LocusCodegen
import LocusDriver
import LocusFrontend
import LocusIR
import LocusPasses
import LocusSpec
import LocusReference
import LocusRuntime

/// Issue 3: in LocalViT the qkv split and the class-token split and re-join are views, not
/// copies (MemoryPlan.Layout): the emitted C calls no `lk_copy_rows` for them, and the model
/// still computes what the reference interpreter computes, at batch 1 and at batch 3 (where the
/// patch-token view has a batch stride of its own and the nodes reading it run per sample).
final class ViewTests: XCTestCase {
  func testLocalViTSplitsAndClassTokenAreViews() throws {
    let fixture = try XCTUnwrap(try Fixture.all().first { $0.spec == "localvit_fmnist" })
    let weights = try SafeTensorsFile.read(path: fixture.weightsPath)
    for batch in [1, 3] {
      var request = fixture.request(batch: batch)
      request.overrides = request.overrides.filter { $0.name != "depth" } + [("depth", "2")]
      let artifact = try Driver.compile(request)
      let graph = artifact.graph, source = artifact.emitted.source
      for node in graph.nodes {
        let comment = source.split(separator: "\n").first { $0.contains("/* \(node.id) = ") } ?? ""
        switch node.op {
        case .slice:
          XCTAssertTrue(comment.hasSuffix("no code */"), "batch \(batch): \(comment)")
        case .concat where graph[node.operands[0]].op.isSlice:
          XCTAssertTrue(comment.hasSuffix("no code */"), "batch \(batch): \(comment)")
        default: break
        }
      }
      // None left: the stem's patch tokens are computed into rows 1… of the token buffer (the class
      // token, a parameter, is repeated over the batch by lk_copy_strided) and the head's index is a view.
      XCTAssertEqual(copies(in: source), 0, "batch \(batch)")

      var parameters: [String: LocusReference.Tensor] = [:], bound: [String: LocusRuntime.Tensor] = [:]
      for p in graph.parameters {
        let data = try weights.floats(p.name)
        parameters[p.name] = LocusReference.Tensor(shape: p.shape, data: data)
        bound[p.name] = LocusRuntime.Tensor(shape: p.shape, floats: data)
      }
      let x = try fixture.input(batch: batch)
      let name = graph.inputs[0].opName
      let want = try Interpreter.run(graph: graph, parameters: parameters, inputs: [name: LocusReference.Tensor(shape: x.shape, data: x.values)])
      let model = try Driver.load(artifact)
      try model.bindWeights(bound, sourceName: "fixture")
      let got = try model.run(inputs: [x.values])[0]
      let expected = try XCTUnwrap(want[graph.outputs[0].name])
      assertClose(got, NpyArray(shape: expected.shape, values: expected.data), rtol: fixture.rtol, "localvit_fmnist depth 2 batch \(batch)")
    }
  }

  /// CeiT: the class-token split and re-join around every LeFF are views (as in LocalViT); the
  /// layer-wise class tokens the LCA attends over are one buffer [L, C] that each block's class
  /// token is copied into once (the last block's is computed there), not a chain of concats that
  /// copies the whole stack again per block; the stem's patch tokens are computed into the token
  /// buffer; the LCA's residual is a row view. PyTorch's logits at batch 1 and 3.
  func testCeiTClassTokenStackIsOneBuffer() throws {
    let fixture = try XCTUnwrap(try Fixture.all().first { $0.spec == "ceit_tiny" })
    let depth = try XCTUnwrap(Int(try XCTUnwrap(fixture.overrides.first { $0.name == "depth" }).value))
    let weights = try SafeTensorsFile.read(path: fixture.weightsPath)
    for batch in [1, 3] {
      let artifact = try Driver.compile(fixture.request(batch: batch))
      let source = artifact.emitted.source
      let graph = artifact.graph
      let moves = graph.nodes.filter { ["concat", "index"].contains($0.op.mnemonic) && $0.operands.allSatisfy { graph[$0].type.batched } }
      for node in moves {  // all but the stem's concat with the class-token parameter
        let comment = source.split(separator: "\n").first { $0.contains("/* \(node.id) = ") } ?? ""
        XCTAssertTrue(comment.hasSuffix("no code */"), "batch \(batch): \(comment)")
      }
      XCTAssertEqual(copies(in: source), depth - 1, "batch \(batch): one row copy per block but the last")
      var bound: [String: LocusRuntime.Tensor] = [:]
      for p in graph.parameters { bound[p.name] = LocusRuntime.Tensor(shape: p.shape, floats: try weights.floats(p.name)) }
      let model = try Driver.load(artifact)
      try model.bindWeights(bound, sourceName: "fixture")
      let got = try model.run(inputs: [try fixture.input(batch: batch).values])[0]
      assertClose(got, try fixture.logits(batch: batch), rtol: fixture.rtol, "ceit_tiny (fixture) batch \(batch)")
    }
  }

  /// The bundled CeiT-T: 35 row copies before the class-token stack was one buffer, 11 now (one
  /// per block but the last). LocalViT-T: none; its residual stream (x + attention, then the
  /// feed-forward written into x's rows) stays in one token buffer, every attention projection
  /// written over its residual, which keeps the activations at what they were before views.
  func testBundledCeiTAndLocalViTCopiesAndArena() throws {
    func emit(_ spec: String) throws -> EmittedModel {
      let url = repositoryRoot().appendingPathComponent("specs/\(spec).locus")
      let text = try String(contentsOf: url, encoding: .utf8)
      let graph = try Pipeline.run(try Frontend.compile(SourceFile(name: spec, text: text), batch: 1).graph)
      return try CEmitter.emit(graph, options: EmitOptions(target: .avx2))
    }
    XCTAssertEqual(copies(in: try emit("ceit_tiny").source), 11)
    let localvit = try emit("localvit_tiny")
    XCTAssertEqual(copies(in: localvit.source), 0)
    for node in localvit.graph.nodes where node.scope.hasSuffix(".attn.proj") && node.op.mnemonic == "fused_linear" && node.type.rank == 2 {
      let comment = localvit.source.split(separator: "\n").first { $0.contains("/* \(node.id) = ") } ?? ""
      XCTAssertTrue(comment.contains(", written over "), String(comment))
    }
    let activations = localvit.plan.arenaBytes - localvit.plan.persistentFloats * MemoryLayout<Float>.size
    XCTAssertLessThanOrEqual(activations, 1_355_520)
  }

  /// `lk_copy_rows` calls in the forward function (at any depth: a node may run per sample).
  private func copies(in source: String) -> Int {
    guard let forward = source.range(of: "_forward(const float *const *params", options: .backwards) else { return -1 }
    return source[forward.upperBound...].split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("lk_copy_rows(") }.count
  }
}

extension Op {
  fileprivate var isSlice: Bool {
    if case .slice = self { return true }
    return false
  }
}
