import LocusIR
import XCTest

@testable import LocusPasses

/// `token-layout` on hand-built image regions: which ops remain, and (through the reference
/// interpreter) that the outputs do not change. Images are not square, so height and width
/// cannot be confused.
final class TokenLayoutTests: XCTestCase {
  /// LocalViT's locality feed-forward: 1×1 → BN → h-swish → depth-wise 3×3 → BN → h-swish → SE →
  /// 1×1 → BN, plus the residual, on a 4×3 image of 4 channels (expanded to E = 8).
  func testLocalityFeedForwardBecomesTokenOps() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      s.output("y", try localityFeedForward(&s))                                                 // [12, C]
      let (fused, notes) = try runPass(convertToTokenLayout, s.graph)
      let counts = fused.opCounts
      for gone in ["seq2img", "img2seq", "conv2d", "batchnorm", "gap", "transpose"] {
        XCTAssertNil(counts[gone], "\(gone) remains:\n\(fused.dump())")
      }
      XCTAssertEqual(counts["fused_linear"], 2)
      XCTAssertEqual(counts["token_dwconv"], 1)
      XCTAssertEqual(counts["mean"], 1)
      XCTAssertFalse(notes.isEmpty)
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "locality feed-forward")
    }
  }

  /// The feed-forward of `testLocalityFeedForwardBecomesTokenOps`: x [12, 4] → [12, 4].
  private func localityFeedForward(_ s: inout GraphSketch) throws -> ValueID {
    let m = try s.add(.seq2img(height: 4), s.input("x", [12, 4]))                             // [C, 4, 3]
    var h = try s.add(.conv2d(conv(8, kernel: 1, groups: 1, bias: false)), m, s.param("conv.0.weight", [8, 4, 1, 1]))
    h = try s.add(.unary(.hswish), s.batchnorm(h, "conv.1"))
    h = try s.add(.conv2d(conv(8, kernel: 3, groups: 8, bias: false)), h, s.param("conv.3.weight", [8, 1, 3, 3]))
    h = try s.add(.unary(.hswish), s.batchnorm(h, "conv.4"))
    var gate = try s.add(.linear(hasBias: true), s.add(.gap, h), s.param("se.fc.0.weight", [2, 8]), s.param("se.fc.0.bias", [2], .bias))
    gate = try s.add(.linear(hasBias: true), s.add(.unary(.relu), gate), s.param("se.fc.2.weight", [8, 2]), s.param("se.fc.2.bias", [8], .bias))
    h = try s.add(.binary(.mul), h, s.add(.reshape([8, 1, 1]), s.add(.unary(.hsigmoid), gate)))
    let y = try s.batchnorm(s.add(.conv2d(conv(4, kernel: 1, groups: 1, bias: false)), h, s.param("conv.7.weight", [4, 8, 1, 1])), "conv.8")
    return try s.add(.img2seq, s.add(.binary(.add), m, y))
  }

  /// The same feed-forward in a training graph (`Autodiff.trainingGraph` runs `token-layout` on the
  /// train-mode forward): no image op or transpose is left, forward or backward, BatchNorm and its
  /// gradients run channels-last (as `batch_norm_act` with the activations that follow), and the
  /// depth-wise convolution's gradients are the token kernels.
  /// (Gradient values: AutodiffTests and the PyTorch fixtures.)
  func testTrainingGraphRunsTheFeedForwardOnTokens() throws {
    var s = GraphSketch(batch: 2)
    s.output("logits", try s.add(.mean(axis: 0), try localityFeedForward(&s)))                    // [C]
    let training = try Autodiff.trainingGraph(s.graph).graph
    let counts = training.opCounts
    for gone in ["seq2img", "img2seq", "conv2d", "conv2d_grad_input", "conv2d_grad_weight", "gap"] {
      XCTAssertNil(counts[gone], "\(gone) remains:\n\(training.dump())")
    }
    // Only the weights' Wᵀ of the linear input gradients are transposed, never an activation.
    XCTAssertFalse(training.nodes.contains { if case .transpose = $0.op { $0.type.batched } else { false } }, training.dump())
    for op in ["token_dwconv", "token_dwconv_grad_input", "token_dwconv_grad_weight"] {
      XCTAssertNotNil(counts[op], "no \(op):\n\(training.dump())")
    }
    // 3 BatchNorms over tokens (`batchnorm-activation`): statistics, forward (two with their
    // hswish), parameter and input gradients; no separate BatchNorm op or hswish is left.
    for op in ["batch_statistics", "batch_norm_act", "batch_norm_act_param_grad", "batch_norm_act_grad"] {
      XCTAssertEqual(counts[op], 3, "\(op):\n\(training.dump())")
    }
    for gone in ["batch_normalize", "batch_normalize_grad", "batch_normalize_param_grad", "batch_moments", "hswish", "hswish_grad"] {
      XCTAssertNil(counts[gone], "\(gone) remains:\n\(training.dump())")
    }
    // Without it, the separate ops, all channels last.
    let separate = try Autodiff.trainingGraph(s.graph, options: FusionOptions(disabled: ["bn-fold"])).graph
    let batchNorms = separate.nodes.compactMap { node -> Bool? in
      switch node.op {
      case .training(.batchNormalize(_, let last)), .training(.batchNormalizeGrad(_, let last)),
           .training(.batchNormalizeParamGrad(_, let last)), .training(.batchMoments(let last)): last
      default: nil
      }
    }
    XCTAssertEqual(batchNorms.count, 3 * 4)  // 3 BatchNorms: forward, moments, input and parameter gradients
    XCTAssertTrue(batchNorms.allSatisfy { $0 }, "a BatchNorm op is channels-first")
    let plain = try Autodiff.trainingGraph(s.graph, options: FusionOptions(disabled: ["leff"])).graph.opCounts
    XCTAssertNotNil(plain["seq2img"], "--disable-fusion=leff keeps the image layout")
  }

  /// CeiT's LeFF with biases, a stride-2 depth-wise convolution (the image shrinks from 4×6 to
  /// 2×3), a scalar op and a per-channel parameter [C, 1, 1].
  func testStridedDepthwiseAndPerChannelParameters() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let m = try s.add(.seq2img(height: 4), s.input("x", [24, 6]))                             // [6, 4, 6]
      var h = try s.add(.conv2d(conv(12, kernel: 1, groups: 1, bias: true)), m, s.param("conv1.weight", [12, 6, 1, 1]), s.param("conv1.bias", [12], .bias))
      h = try s.add(.unary(.gelu), s.batchnorm(h, "bn1"))
      var dw = conv(12, kernel: 3, groups: 12, bias: true)
      dw.stride = [2, 2]
      h = try s.add(.conv2d(dw), h, s.param("conv2.weight", [12, 1, 3, 3]), s.param("conv2.bias", [12], .bias))  // [12, 2, 3]
      h = try s.add(.unary(.gelu), s.batchnorm(h, "bn2"))
      h = try s.add(.binary(.div), s.add(.scalar(.mul, 2, scalarFirst: false), h), s.param("scale", [12, 1, 1], .norm))
      h = try s.add(.conv2d(conv(6, kernel: 1, groups: 1, bias: true)), h, s.param("conv3.weight", [6, 12, 1, 1]), s.param("conv3.bias", [6], .bias))
      s.output("y", try s.add(.img2seq, h))                                                      // [6, C]

      let (fused, _) = try runPass(convertToTokenLayout, s.graph)
      XCTAssertEqual(fused.opCounts["seq2img"], nil, fused.dump())
      XCTAssertEqual(fused.opCounts["img2seq"], nil)
      let convs = fused.nodes.compactMap { if case .tokenDWConv(let a) = $0.op { (a, $0.type.shape) } else { nil } }
      XCTAssertEqual(convs.map { [$0.0.height, $0.0.width] }, [[4, 6]])
      XCTAssertEqual(convs.map(\.1), [[6, 12]])
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "LeFF")
    }
  }

  /// Readers that need an image (a 3×3 convolution, a max-pool, an output) read one `seq2img` of
  /// the token value, made once; an `img2seq` of it reads the tokens.
  func testOtherReadersGetOneMaterialisedImage() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let m = try s.add(.seq2img(height: 4), s.input("x", [8, 4]))                              // [4, 4, 2]
      let pointwise = try s.add(.conv2d(conv(4, kernel: 1, groups: 1, bias: true)), m, s.param("pw.weight", [4, 4, 1, 1]), s.param("pw.bias", [4], .bias))
      let h = try s.add(.unary(.relu), pointwise)
      s.output("conv", try s.add(.conv2d(conv(4, kernel: 3, groups: 1, bias: false)), h, s.param("full.weight", [4, 4, 3, 3])))
      s.output("pool", try s.add(.maxpool(kernel: [3, 3], stride: [2, 2], padding: [1, 1]), h))
      s.output("image", h)
      s.output("tokens", try s.add(.img2seq, h))

      let (fused, _) = try runPass(convertToTokenLayout, s.graph)
      let images = fused.nodes.filter { if case .seq2img = $0.op { true } else { false } }
      XCTAssertEqual(images.count, 1, fused.dump())
      XCTAssertEqual(images.first.map { fused[$0.operands[0]].op.mnemonic }, "relu", "the image of the token relu")
      XCTAssertEqual(fused.opCounts["img2seq"], nil)
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "materialised image")
    }
  }

  /// Stride 1, no padding unless the kernel needs it ("same" size for 3×3).
  private func conv(_ out: Int, kernel: Int, groups: Int, bias: Bool) -> Conv2dAttrs {
    Conv2dAttrs(outChannels: out, kernel: [kernel, kernel], stride: [1, 1], padding: [kernel / 2, kernel / 2], groups: groups, hasBias: bias)
  }
}
