import LocusIR
import XCTest

@testable import LocusPasses

/// `patch-embedding` on hand-built graphs: a non-overlapping patch convolution read as tokens
/// becomes patch rows and a linear; other convolutions stay.
final class PatchEmbeddingTests: XCTestCase {
  /// conv2d 4×4 stride 4 on a 3×8×12 image, then img2seq (6 tokens of 5 channels), with and without
  /// bias; batch 1 and 3, through the reference interpreter.
  func testAPatchConvolutionBecomesALinearOverPatchRows() throws {
    for batch in [1, 3] {
      for bias in [true, false] {
        var s = GraphSketch(batch: batch)
        let x = s.input("pixels", [3, 8, 12])
        let a = Conv2dAttrs(outChannels: 5, kernel: [4, 4], stride: [4, 4], padding: [0, 0], groups: 1, hasBias: bias)
        var operands = [x, s.param("proj.weight", [5, 3, 4, 4])]
        if bias { operands.append(s.param("proj.bias", [5], .bias)) }
        let conv = try s.graph.add(.conv2d(a), operands, scope: "")
        s.output("tokens", try s.add(.img2seq, conv))

        let (fused, notes) = try runPass(embedPatchesAsLinear, s.graph)
        XCTAssertNil(fused.opCounts["conv2d"], fused.dump())
        XCTAssertNil(fused.opCounts["img2seq"])
        XCTAssertEqual(fused.opCounts["linear"], 1)
        XCTAssertEqual(fused.opCounts["transpose"], 1)
        XCTAssertEqual(notes.count, 1)
        try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "patch-embedding")
      }
    }
  }

  /// Not rewritten: overlapping or padded kernels, grouped convolutions, an image the patches do
  /// not tile (the convolution drops its last pixels), and a convolution something else reads.
  func testWhatIsNotAPatchEmbedding() throws {
    var s = GraphSketch(batch: 2)
    let x = s.input("pixels", [4, 8, 8]), odd = s.input("odd", [4, 10, 10])
    func conv(_ x: ValueID, _ k: Int, _ stride: Int, _ pad: Int, groups: Int = 1) throws -> ValueID {
      let a = Conv2dAttrs(outChannels: 4, kernel: [k, k], stride: [stride, stride], padding: [pad, pad], groups: groups, hasBias: false)
      let w = s.param("w\(s.graph.nodes.count)", [4, 4 / groups, k, k])
      return try s.graph.add(.conv2d(a), [x, w], scope: "")
    }
    s.output("overlapping", try s.add(.img2seq, conv(x, 3, 1, 1)))
    s.output("padded", try s.add(.img2seq, conv(x, 2, 2, 1)))
    s.output("grouped", try s.add(.img2seq, conv(x, 4, 4, 0, groups: 2)))
    s.output("untiled", try s.add(.img2seq, conv(odd, 4, 4, 0)))
    let shared = try conv(x, 4, 4, 0)
    s.output("shared", try s.add(.img2seq, shared))
    s.output("shared.image", shared)

    let (fused, notes) = try runPass(embedPatchesAsLinear, s.graph)
    XCTAssertEqual(fused.opCounts["conv2d"], 5, fused.dump())
    XCTAssertTrue(notes.isEmpty)
  }
}
