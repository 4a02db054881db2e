import LocusIR
import XCTest

@testable import LocusPasses

/// `epilogues` on hand-built graphs: which activations and residual adds move into their
/// producer, which must not, and (through the reference interpreter) that the outputs do not change.
final class EpilogueTests: XCTestCase {
  /// A transformer MLP with its residual: fc1 → gelu → fc2 → + x becomes two fused_linear nodes;
  /// a token convolution takes its h-swish; a projection takes an activation and then a residual.
  func testActivationsAndResidualsMoveIntoTheirProducer() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = s.input("x", [6, 8])
      let hidden = try s.add(.unary(.gelu), s.add(.linear(hasBias: true), x, s.param("fc1.weight", [16, 8]), s.param("fc1.bias", [16], .bias)))
      let y = try s.add(.binary(.add), x, s.add(.linear(hasBias: true), hidden, s.param("fc2.weight", [8, 16]), s.param("fc2.bias", [8], .bias)))
      let dw = TokenConvAttrs(height: 2, width: 3, kernel: [3, 3], stride: [1, 1], padding: [1, 1], hasBias: false)
      let conv = try s.add(.unary(.hswish), s.add(.tokenDWConv(dw), y, s.param("dw.weight", [8, 1, 3, 3])))
      let gated = try s.add(.unary(.sigmoid), s.add(.fusedLinear(FusedLinearAttrs(hasBias: false)), conv, s.param("g.weight", [8, 8])))
      s.output("y", try s.add(.binary(.add), gated, y))

      let (fused, notes) = try runPass(fuseEpilogues, s.graph)
      XCTAssertEqual(fused.opCounts.filter { ["linear", "gelu", "hswish", "sigmoid", "add"].contains($0.key) }, [:], fused.dump())
      let epilogues = fused.nodes.compactMap { node -> String? in
        switch node.op {
        case .fusedLinear(let a): "fused_linear \(a.activation?.rawValue ?? "-") \(a.hasResidual ? "residual" : "-")"
        case .tokenDWConv(let a): "token_dwconv \(a.activation?.rawValue ?? "-")"
        default: nil
        }
      }
      XCTAssertEqual(epilogues, ["fused_linear gelu -", "fused_linear - residual", "token_dwconv hswish", "fused_linear sigmoid residual"])
      XCTAssertEqual(notes.count, 5)
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "epilogues")
    }
  }

  /// Not fused: an activation after a residual (the op adds the residual last), an activation of
  /// a projection read elsewhere, `identity`, a residual that broadcasts or does not vary per sample.
  func testWhatMustNotFuse() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = s.input("x", [6, 8])
      let w = s.param("w", [8, 8])
      let residual = try s.add(.binary(.add), s.add(.linear(hasBias: false), x, w), x)
      s.output("after_residual", try s.add(.unary(.relu), residual))
      let shared = try s.add(.linear(hasBias: false), x, w)
      s.output("shared", shared)
      s.output("shared.gelu", try s.add(.unary(.gelu), shared))
      s.output("identity", try s.add(.unary(.identity), s.add(.linear(hasBias: false), x, w)))
      s.output("row_bias", try s.add(.binary(.add), s.add(.linear(hasBias: false), x, w), s.input("row", [8])))
      s.output("constant", try s.add(.binary(.add), s.add(.linear(hasBias: false), x, w), s.param("pos", [6, 8], .embedding)))

      let (fused, _) = try runPass(fuseEpilogues, s.graph)
      XCTAssertEqual(fused.opCounts["relu"], 1, fused.dump())
      XCTAssertEqual(fused.opCounts["gelu"], 1)
      XCTAssertEqual(fused.opCounts["identity"], 1)
      XCTAssertEqual(fused.opCounts["add"], 2)
      XCTAssertNil(fused.opCounts["linear"], "every linear becomes a fused_linear")
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "no epilogue")
    }
  }
}
