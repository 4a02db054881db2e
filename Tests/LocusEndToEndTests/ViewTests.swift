import XCTest
import LocusDriver
import LocusIR
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
      // What is left: the stem's concat of the class token (a parameter) and the head's index.
      XCTAssertEqual(source.components(separatedBy: "  lk_copy_rows(").count - 1, 2, "batch \(batch)")

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
}

extension Op {
  fileprivate var isSlice: Bool {
    if case .slice = self { return true }
    return false
  }
}
