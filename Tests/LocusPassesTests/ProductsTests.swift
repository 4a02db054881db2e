import LocusIR
import XCTest

@testable import LocusPasses

/// `products` on training graphs: a product read only by a sum is computed inside that sum.
final class ProductsTests: XCTestCase {
  private func reduceSums(_ g: Graph, operands: Int) -> [Node] {
    g.nodes.filter { if case .training(.reduceSum) = $0.op { $0.operands.count == operands } else { false } }
  }
  private func normalizeGrads(_ g: Graph, operands: Int) -> [Node] {
    g.nodes.filter { if case .training(.normalizeGrad) = $0.op { $0.operands.count == operands } else { false } }
  }

  /// A LayerNorm in train mode is normalize, then x̂·w + b; its weight's gradient is Σ dy ⊙ x̂.
  /// After the pass the affine part is one mul_add and the weight gradient one two-operand
  /// reduce_sum, and the loss and every gradient are those of the graph without the pass.
  func testLayerNormAffineAndWeightGradient() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = try s.add(.linear(hasBias: false), s.input("x", [5, 4]), s.param("fc.weight", [4, 4]))
      let n = try s.add(.layernorm(eps: 1e-6), x, s.param("norm.weight", [4]), s.param("norm.bias", [4]))
      s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([20]), n), s.param("head.weight", [3, 20])))
      let training = try Autodiff.trainingGraph(s.graph).graph
      let (after, notes) = try runPass(fuseProducts, training)
      XCTAssertEqual(after.opCounts["mul_add"], 1, after.dump())
      XCTAssertEqual(reduceSums(after, operands: 2).count, 1, after.dump())
      XCTAssertEqual(normalizeGrads(after, operands: 3).count, 1, after.dump())
      XCTAssertEqual(notes.count, 3, "\(notes)")
      XCTAssertLessThan(after.opCounts["mul", default: 0], training.opCounts["mul", default: 0])
      try assertFusionPreservesOutputs(fused: after, unfused: training, "products (LayerNorm), batch \(batch)")
    }
  }

  /// A pre-norm residual block, h = x + linear(layernorm(x)): x's gradient is the LayerNorm's
  /// input gradient, normalize_grad(x, dy ⊙ w), plus the residual's. After the pass it is one
  /// normalize_grad(x, dy, w, residual) and neither the mul nor the add remains for it.
  func testLayerNormInputGradientWithResidual() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = try s.add(.linear(hasBias: false), s.input("x", [5, 4]), s.param("fc.weight", [4, 4]))
      let n = try s.add(.layernorm(eps: 1e-6), x, s.param("norm.weight", [4]), s.param("norm.bias", [4]))
      let h = try s.add(.binary(.add), x, try s.add(.linear(hasBias: true), n, s.param("proj.weight", [4, 4]), s.param("proj.bias", [4])))
      s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([20]), h), s.param("head.weight", [3, 20])))
      let training = try Autodiff.trainingGraph(s.graph).graph
      XCTAssertEqual(normalizeGrads(training, operands: 2).count, 1, training.dump())
      let (after, notes) = try runPass(fuseProducts, training)
      let fused = try XCTUnwrap(normalizeGrads(after, operands: 4).first, after.dump())
      XCTAssertEqual(after[fused.operands[2]].op, .parameter(name: "norm.weight"))
      XCTAssertTrue(normalizeGrads(after, operands: 2).isEmpty && normalizeGrads(after, operands: 3).isEmpty, after.dump())
      XCTAssertTrue(notes.contains { $0.what.contains("adds the residual") }, "\(notes)")
      XCTAssertLessThan(after.opCounts["add", default: 0], training.opCounts["add", default: 0])
      try assertFusionPreservesOutputs(fused: after, unfused: training, "products (LayerNorm input gradient), batch \(batch)")
    }
  }

  /// A value read whole and through `index` (SAG's variants [T, N, C], variant 0 read again):
  /// its gradient is the whole one plus the index's zero-padded one. After the pass that add
  /// is `zero_pad(x, base)`, which adds only x's part.
  func testIndexAdjointAddsIntoItsPart() throws {
    for batch in [1, 2] {
      var s = GraphSketch(batch: batch)
      let h = try s.add(.linear(hasBias: false), s.input("x", [3, 4]), s.param("fc.weight", [4, 4]))
      let first = try s.add(.index(axis: 0, at: 1), h)
      let whole = try s.add(.linear(hasBias: false), try s.add(.reshape([12]), h), s.param("head.weight", [3, 12]))
      s.output("logits", try s.add(.binary(.add), whole, try s.add(.linear(hasBias: false), first, s.param("side.weight", [3, 4]))))
      let training = try Autodiff.trainingGraph(s.graph).graph
      XCTAssertNotNil(training.opCounts["zero_pad"], training.dump())
      let (after, notes) = try runPass(fuseProducts, training)
      let pads = after.nodes.filter { if case .training(.zeroPad) = $0.op { true } else { false } }
      XCTAssertEqual(pads.map(\.operands.count), [2], after.dump())
      XCTAssertTrue(notes.contains { $0.what.contains("padded part") }, "\(notes)")
      try assertFusionPreservesOutputs(fused: after, unfused: training, "products (index adjoint), batch \(batch)")
    }
  }

  /// Squeeze-excite's backward after broadcast-operands: x's gradient is dz·gate (gate broadcast
  /// over the tokens) plus the pooled gradient / n (broadcast too), and the gate's gradient is
  /// Σ_tokens dz ⊙ x. Both become single passes.
  func testSqueezeExciteBackward() throws {
    for batch in [1, 2] {
      var s = GraphSketch(batch: batch)
      let x = try s.add(.linear(hasBias: false), s.input("x", [5, 4]), s.param("fc.weight", [4, 4]))
      let gate = try s.add(.unary(.hsigmoid), try s.add(.mean(axis: 0), x))
      let y = try s.add(.binary(.mul), x, try s.add(.reshape([1, 4]), gate))
      s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([20]), y), s.param("head.weight", [3, 20])))
      let (broadcast, _) = try runPass(readBroadcastOperands, try Autodiff.trainingGraph(s.graph).graph)
      let (after, _) = try runPass(fuseProducts, broadcast)
      let mulAdd = try XCTUnwrap(after.nodes.first { $0.op == .training(.mulAdd) }, after.dump())
      XCTAssertEqual(after[mulAdd.operands[2]].type, TensorType([1, 4], batched: true), "the pooled gradient broadcasts")
      let gateGradient = try XCTUnwrap(reduceSums(after, operands: 2).first, after.dump())
      XCTAssertEqual(gateGradient.type, TensorType([4], batched: true))
      try assertFusionPreservesOutputs(fused: after, unfused: broadcast, "products (squeeze-excite), batch \(batch)")
    }
  }

  /// A product with another reader stays (it is written anyway); so does a product that is
  /// itself broadcast by the add (mul_add's product must have the result's shape) and a product
  /// of broadcast factors under a reduce_sum (the kernel reads both factors densely).
  func testProductsThatMustStay() throws {
    var s = GraphSketch(batch: 2)
    let a = s.input("a", [5, 4]), b = s.input("b", [5, 4]), row = s.input("r", [1, 4])
    let shared = try s.add(.binary(.mul), a, b)
    s.output("shared_sum", try s.add(.binary(.add), shared, a))
    s.output("shared", shared)
    s.output("narrow", try s.add(.binary(.add), try s.add(.binary(.mul), row, row), a))
    s.output("broadcast", try s.add(.training(.reduceSum(axes: [0], batch: false)), try s.add(.binary(.mul), a, row)))
    let (after, notes) = try runPass(fuseProducts, s.graph)
    XCTAssertTrue(notes.isEmpty, "\(notes)")
    XCTAssertNil(after.opCounts["mul_add"], after.dump())
    XCTAssertEqual(after.opCounts["mul"], 3, after.dump())
  }
}
