import LocusIR
import XCTest

@testable import LocusPasses

/// `broadcast-operands` on training graphs: the gradient of a mean (and of gap) meets the other
/// contribution to the same value without an expanded copy or a scaled copy of it.
final class BroadcastOperandsTests: XCTestCase {
  /// x read twice, by a mean and by a product (squeeze-excite's shape): x's gradient is
  /// add(mul's contribution, scale(expand(mean's))). After the pass no expand is left, the scale
  /// runs on [1, C], the add broadcasts it, and the outputs (loss and every gradient) are those of
  /// the graph without the pass.
  func testMeanGradientIsAddedWithoutExpanding() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = try s.add(.linear(hasBias: false), s.input("x", [5, 4]), s.param("fc.weight", [4, 4]))   // [5, 4]
      let gate = try s.add(.unary(.sigmoid), try s.add(.mean(axis: 0), x))                              // [4]
      let y = try s.add(.binary(.mul), x, try s.add(.reshape([1, 4]), gate))
      s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([20]), y), s.param("head.weight", [3, 20])))
      let training = try Autodiff.trainingGraph(s.graph).graph
      XCTAssertEqual(training.opCounts["expand"], 1, training.dump())
      let (after, notes) = try runPass(readBroadcastOperands, training)
      XCTAssertNil(after.opCounts["expand"], after.dump())
      XCTAssertEqual(notes.count, 2, "\(notes)")
      let scale = try XCTUnwrap(after.nodes.first { if case .scalar = $0.op { true } else { false } })
      XCTAssertEqual(scale.type, TensorType([1, 4], batched: true))
      try assertFusionPreservesOutputs(fused: after, unfused: training, "broadcast-operands, batch \(batch)")
    }
  }

  /// An expand with another reader stays (the copy is needed anyway), and so does one whose
  /// elementwise partner is itself broadcast (dropping the expand would change the result's shape).
  func testExpandsThatAreNeededStay() throws {
    var s = GraphSketch(batch: 2)
    let small = s.input("x", [1, 4])
    let wide = try s.add(.training(.expand([5, 4])), small)
    let twice = try s.add(.binary(.add), try s.add(.binary(.mul), wide, wide), s.input("y", [5, 4]))
    let narrow = try s.add(.binary(.add), try s.add(.training(.expand([5, 4])), small), s.input("z", [1, 4]))
    s.output("a", twice)
    s.output("b", narrow)
    let (after, _) = try runPass(readBroadcastOperands, s.graph)
    XCTAssertEqual(after.opCounts["expand"], 2, after.dump())
  }
}
