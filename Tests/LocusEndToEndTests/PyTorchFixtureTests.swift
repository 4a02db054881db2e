import XCTest
import LocusDriver
import LocusIR
import LocusReference
import LocusRuntime

/// Every bundled spec, compiled to C and run natively, reproduces PyTorch's logits at batch 1 and
/// batch 3 on the same safetensors weights. The Swift reference interpreter is held to the same
/// fixtures, so a failure tells a frontend mistake (both fail) from a kernel mistake (C only).
final class PyTorchFixtureTests: XCTestCase {
  func testCompiledModelsMatchPyTorch() throws {
    let fixtures = try Fixture.all()
    XCTAssertEqual(fixtures.count, 9, "one fixture per bundled spec")
    for fixture in fixtures {
      for batch in [1, 3] {
        let artifact = try Driver.compile(fixture.request(batch: batch))
        let model = try Driver.load(artifact)
        try model.bindWeights(try SafeTensorsFile.read(path: fixture.weightsPath))
        let logits = try model.run(inputs: [try fixture.input(batch: batch).values])
        assertClose(logits[0], try fixture.logits(batch: batch), rtol: fixture.rtol, "\(fixture.spec) C batch \(batch)")
      }
    }
  }

  func testReferenceInterpreterMatchesPyTorch() throws {
    for fixture in try Fixture.all() {
      let (graph, _) = try Driver.graph(fixture.request(batch: 3))
      let weights = try SafeTensorsFile.read(path: fixture.weightsPath)
      var parameters: [String: LocusReference.Tensor] = [:]
      for p in graph.parameters { parameters[p.name] = LocusReference.Tensor(shape: p.shape, data: try weights.floats(p.name)) }
      let x = try fixture.input(batch: 3)
      let outputs = try Interpreter.run(graph: graph, parameters: parameters, inputs: [graph.inputs[0].opName: LocusReference.Tensor(shape: x.shape, data: x.values)])
      let logits = try XCTUnwrap(outputs[graph.outputs[0].name])
      assertClose(logits.data, try fixture.logits(batch: 3), rtol: fixture.rtol, "\(fixture.spec) reference batch 3")
    }
  }
}

extension Node {
  var opName: String {
    if case .input(let name) = op { return name }
    return ""
  }
}
