import LocusIR
import XCTest

@testable import LocusPasses

/// `fold-batchnorm` on hand-built graphs: the affines and batchnorms it folds, those it must not,
/// and (through the reference interpreter) that the outputs do not change.
final class FoldBatchNormTests: XCTestCase {
  /// Token layout: x·s + t after fused_linear (with and without bias) and after token_dwconv, with
  /// the operands in either order.
  func testAffinesFoldIntoProjectionsAndTokenConvolutions() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = s.input("x", [6, 4])                                                               // 2×3 tokens
      var h = try s.add(.fusedLinear(FusedLinearAttrs(hasBias: false)), x, s.param("fc1.weight", [8, 4]))
      h = try s.add(.binary(.add), s.add(.binary(.mul), h, s.param("s1", [8], .norm)), s.param("t1", [8], .norm))
      h = try s.add(.unary(.relu), h)
      let dw = TokenConvAttrs(height: 2, width: 3, kernel: [3, 3], stride: [1, 1], padding: [1, 1], hasBias: true)
      h = try s.add(.tokenDWConv(dw), h, s.param("dw.weight", [8, 1, 3, 3]), s.param("dw.bias", [8], .bias))
      h = try s.add(.binary(.add), s.param("t2", [8], .norm), s.add(.binary(.mul), s.param("s2", [8], .norm), h))
      h = try s.add(.fusedLinear(FusedLinearAttrs(hasBias: true)), h, s.param("fc2.weight", [4, 8]), s.param("fc2.bias", [4], .bias))
      s.output("y", try s.add(.binary(.add), s.add(.binary(.mul), h, s.param("s3", [4], .norm)), s.param("t3", [4], .norm)))

      let (fused, notes) = try runPass(foldBatchNorm, s.graph)
      XCTAssertEqual(fused.nodes.filter { $0.type.batched && ["mul", "add"].contains($0.op.mnemonic) }.count, 0, fused.dump())
      let biases = fused.nodes.compactMap { node -> Bool? in
        switch node.op {
        case .fusedLinear(let a): a.hasBias
        case .tokenDWConv(let a): a.hasBias
        default: nil
        }
      }
      XCTAssertEqual(biases, [true, true, true])
      XCTAssertEqual(notes.count, 3)
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "token affines")
    }
  }

  /// Image layout: batchnorm(conv2d) with and without bias, grouped, becomes one conv2d with bias.
  func testBatchNormFoldsIntoConvolutions() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let stem = Conv2dAttrs(outChannels: 4, kernel: [3, 3], stride: [2, 2], padding: [1, 1], groups: 1, hasBias: false)
      var h = try s.batchnorm(s.add(.conv2d(stem), s.input("x", [3, 7, 5]), s.param("stem.weight", [4, 3, 3, 3])), "stem.bn")
      let grouped = Conv2dAttrs(outChannels: 6, kernel: [1, 3], stride: [1, 1], padding: [0, 1], groups: 2, hasBias: true)
      h = try s.batchnorm(s.add(.conv2d(grouped), h, s.param("g.weight", [6, 2, 1, 3]), s.param("g.bias", [6], .bias)), "g.bn")
      s.output("y", h)

      let (fused, _) = try runPass(foldBatchNorm, s.graph)
      XCTAssertNil(fused.opCounts["batchnorm"], fused.dump())
      let convs = fused.nodes.compactMap { if case .conv2d(let a) = $0.op, $0.type.batched { a.hasBias } else { nil } }
      XCTAssertEqual(convs, [true, true])
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "image batchnorm")
    }
  }

  /// Not folded: a producer with an activation, a producer or product read elsewhere, a
  /// per-sample scale, a convolution whose output another node reads.
  func testWhatMustNotFold() throws {
    var s = GraphSketch(batch: 2)
    let x = s.input("x", [6, 4])
    let (scale, shift) = (s.param("s", [4], .norm), s.param("t", [4], .norm))
    let activated = try s.add(.fusedLinear(FusedLinearAttrs(hasBias: false, activation: .relu)), x, s.param("a.weight", [4, 4]))
    s.output("activated", try s.add(.binary(.add), s.add(.binary(.mul), activated, scale), shift))
    let shared = try s.add(.fusedLinear(FusedLinearAttrs(hasBias: false)), x, s.param("b.weight", [4, 4]))
    s.output("shared", try s.add(.binary(.add), s.add(.binary(.mul), shared, scale), shift))
    s.output("shared.raw", shared)
    let perSample = try s.add(.fusedLinear(FusedLinearAttrs(hasBias: false)), x, s.param("c.weight", [4, 4]))
    s.output("per_sample", try s.add(.binary(.add), s.add(.binary(.mul), perSample, s.input("gate", [4])), shift))
    let conv = Conv2dAttrs(outChannels: 3, kernel: [1, 1], stride: [1, 1], padding: [0, 0], groups: 1, hasBias: false)
    let image = try s.add(.conv2d(conv), s.input("image", [3, 2, 2]), s.param("conv.weight", [3, 3, 1, 1]))
    s.output("bn", try s.batchnorm(image, "bn"))
    s.output("conv", image)

    let (fused, notes) = try runPass(foldBatchNorm, s.graph)
    XCTAssertEqual(fused, eliminateDeadCode(s.graph), fused.dump())
    XCTAssertEqual(notes, [])
  }
}
