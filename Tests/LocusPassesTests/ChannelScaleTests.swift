import LocusIR
import XCTest

@testable import LocusPasses

/// `channel-scale` on hand-built graphs: LocalViT's squeeze-excite gate moves into the projection
/// that reads the gated tokens; gates read elsewhere, or that are not one value per channel, stay.
final class ChannelScaleTests: XCTestCase {
  /// tokens → depth-wise conv → mean → fc → relu → fc → h-sigmoid → tokens ⊙ gate → 1×1 conv
  /// (a fused_linear with a residual), as LocalViT's feed-forward after `token-layout` and
  /// `epilogues`. Batch 1 and 3, through the reference interpreter.
  func testTheSqueezeExciteGateMovesIntoTheProjection() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = s.input("x", [6, 8])
      let dw = TokenConvAttrs(height: 2, width: 3, kernel: [3, 3], stride: [1, 1], padding: [1, 1], hasBias: true, activation: .hswish)
      let conv = try s.add(.tokenDWConv(dw), x, s.param("dw.weight", [8, 1, 3, 3]), s.param("dw.bias", [8], .bias))
      let squeezed = try s.add(.mean(axis: 0), conv)
      let reduce = FusedLinearAttrs(hasBias: true, activation: .relu)
      let excite = FusedLinearAttrs(hasBias: true, activation: .hsigmoid)
      let hidden = try s.add(.fusedLinear(reduce), squeezed, s.param("fc.0.weight", [2, 8]), s.param("fc.0.bias", [2], .bias))
      let gate = try s.add(.fusedLinear(excite), hidden, s.param("fc.2.weight", [8, 2]), s.param("fc.2.bias", [8], .bias))
      let gated = try s.add(.binary(.mul), conv, gate)
      let project = FusedLinearAttrs(hasBias: true, hasResidual: true)
      s.output("y", try s.add(.fusedLinear(project), gated, s.param("pw.weight", [8, 8]), s.param("pw.bias", [8], .bias), x))

      let (fused, notes) = try runPass(fuseChannelScales, s.graph)
      XCTAssertNil(fused.opCounts["mul"], fused.dump())
      let scaled = fused.nodes.filter { if case .fusedLinear(let a) = $0.op { a.hasInputScale } else { false } }
      XCTAssertEqual(scaled.count, 1, fused.dump())
      XCTAssertEqual(scaled.first.map { fused[$0.operands[3]].op.mnemonic }, "fused_linear", "operand 3 is the gate")
      XCTAssertEqual(notes.count, 1)
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "channel-scale")
    }
  }

  /// Not fused: a gated value something else also reads, a scale with a value per token (not per
  /// channel), and a product read by something other than a projection.
  func testWhatMustNotFuse() throws {
    var s = GraphSketch(batch: 2)
    let x = s.input("x", [6, 8]), gate = s.input("gate", [8])
    let w = s.param("w", [4, 8])
    let shared = try s.add(.binary(.mul), x, gate)
    s.output("shared", try s.add(.fusedLinear(FusedLinearAttrs(hasBias: false)), shared, w))
    s.output("shared.also", shared)
    let perToken = try s.add(.binary(.mul), x, s.input("per_token", [6, 8]))
    s.output("per_token", try s.add(.fusedLinear(FusedLinearAttrs(hasBias: false)), perToken, w))
    s.output("not_a_projection", try s.add(.unary(.relu), s.add(.binary(.mul), x, gate)))

    let (fused, notes) = try runPass(fuseChannelScales, s.graph)
    XCTAssertEqual(fused.opCounts["mul"], 3, fused.dump())
    XCTAssertTrue(notes.isEmpty)
  }
}
