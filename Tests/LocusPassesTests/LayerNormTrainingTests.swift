import LocusIR
import XCTest

@testable import LocusPasses

/// `layernorm-training`: an affine LayerNorm in a training graph goes back to one `layernorm` in
/// the forward, and its weight and bias gradients to one `normalize_param_grad` from x.
final class LayerNormTrainingTests: XCTestCase {
  private func ops(_ g: Graph, _ mnemonic: String) -> [Node] { g.nodes.filter { $0.op.mnemonic == mnemonic } }

  /// Two LayerNorms, one on a residual path with a bias after it (so a one-operand reduce_sum
  /// that is not a LayerNorm's stays): after products and this pass no x̂ is computed, each
  /// LayerNorm is one `layernorm` and one `normalize_param_grad`, and the loss and every gradient
  /// are those of the graph without either pass.
  func testAffineLayerNormsAreReassembled() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = try s.add(.linear(hasBias: true), s.input("x", [5, 4]), s.param("fc.weight", [4, 4]), s.param("fc.bias", [4], .bias))
      let n1 = try s.add(.layernorm(eps: 1e-6), x, s.param("norm1.weight", [4]), s.param("norm1.bias", [4], .bias))
      let h = try s.add(.binary(.add), x, try s.add(.linear(hasBias: false), n1, s.param("proj.weight", [4, 4])))
      let n2 = try s.add(.layernorm(eps: 1e-5), h, s.param("norm2.weight", [4]), s.param("norm2.bias", [4], .bias))
      s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([20]), n2), s.param("head.weight", [3, 20])))
      let training = try Autodiff.trainingGraph(s.graph).graph
      let products = try runPass(fuseProducts, training).graph
      let (after, notes) = try runPass(fuseLayerNormTraining, products)
      XCTAssertTrue(ops(after, "normalize").isEmpty, after.dump())
      XCTAssertEqual(ops(after, "layernorm").count, 2, after.dump())
      XCTAssertEqual(ops(after, "normalize_param_grad").count, 2, after.dump())
      XCTAssertEqual(ops(after, "reduce_sum").count, 1, "fc.bias's gradient stays a reduce_sum: " + after.dump())
      XCTAssertEqual(notes.count, 4, "\(notes)")
      for pg in ops(after, "normalize_param_grad") {
        XCTAssertEqual(pg.operands.count, 2)
        XCTAssertEqual(ops(after, "layernorm").filter { $0.operands[0] == pg.operands[0] }.count, 1, "reads the LayerNorm's own x")
      }
      try assertFusionPreservesOutputs(fused: after, unfused: training, "layernorm-training, batch \(batch)")
    }
  }

  /// x̂ read by anything besides its affine part and the weight's sum (here a second linear) must
  /// stay: the pass leaves that LayerNorm as it was.
  func testNormalizedValueWithAnotherReaderStays() throws {
    var s = GraphSketch(batch: 2)
    let x = try s.add(.linear(hasBias: false), s.input("x", [5, 4]), s.param("fc.weight", [4, 4]))
    let xhat = try s.add(.training(.normalize(eps: 1e-6)), x)
    let y = try s.add(.training(.mulAdd), xhat, s.param("norm.weight", [4]), s.param("norm.bias", [4], .bias))
    let other = try s.add(.linear(hasBias: false), xhat, s.param("side.weight", [4, 4]))
    s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([20]), try s.add(.binary(.add), y, other)),
                                 s.param("head.weight", [3, 20])))
    let (after, notes) = try runPass(fuseLayerNormTraining, s.graph)
    XCTAssertTrue(notes.isEmpty, "\(notes)")
    XCTAssertEqual(ops(after, "normalize").count, 1)
    XCTAssertEqual(ops(after, "mul_add").count, 1)
    XCTAssertTrue(ops(after, "layernorm").isEmpty)
  }
}
