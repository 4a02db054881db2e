import LocusFrontend
import LocusIR
import LocusSpec
import XCTest

@testable import LocusPasses

/// Every bundled spec at a tiny size, batch 2: with each fusion flag alone and with all of them,
/// the outputs equal those of the unfused pipeline (`FusionOptions.none`) through the reference
/// interpreter on seeded random weights (BatchNorm statistics not 0/1), within `fusionTolerance`;
/// and the fusions reach their structural goals on LocalViT and CeiT.
final class BundledSpecFusionTests: XCTestCase {
  static let vit = ["dim": "32", "depth": "2", "heads": "2", "image": "32", "patch": "8", "classes": "10"]
  static let ceit = ["dim": "32", "depth": "2", "heads": "2", "image": "32", "stem": "16", "classes": "10"]
  static let sag = ["dim": "32", "heads": "2", "depth2": "1", "depth3": "1", "depth4": "1", "classes": "10"]

  func testDeiT() throws { try check("deit_tiny", Self.vit) }
  func testLocalViTTiny() throws { try check("localvit_tiny", Self.vit, feedForward: "conv") }
  func testLocalViTSmall() throws { try check("localvit_small", Self.vit, feedForward: "conv") }
  func testLocalViTReLU6() throws { try check("localvit_tiny_relu6", Self.vit, feedForward: "conv") }
  func testLocalViTSE4() throws { try check("localvit_tiny_se4", Self.vit, feedForward: "conv") }
  func testLocalViTFashionMNIST() throws { try check("localvit_fmnist", Self.vit, feedForward: "conv") }
  func testCeiT() throws { try check("ceit_tiny", Self.ceit, feedForward: "leff") }
  func testSAGCIFAR() throws { try check("sag_tiny_cifar", Self.sag.merging(["image": "16"]) { $1 }) }
  func testSAGImageNet() throws { try check("sag_tiny_imagenet", Self.sag.merging(["image": "64"]) { $1 }) }

  /// `feedForward`: the scope (under `blocks.{i}.`) of the locality feed-forward, for the
  /// structural checks of LocalViT and CeiT.
  private func check(_ spec: String, _ overrides: [String: String], feedForward: String? = nil,
                     file: StaticString = #filePath, line: UInt = #line) throws {
    let graph = try Frontend.compile(bundledSpec(spec), batch: 2, overrides: overrides.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).graph
    let unfused = try Pipeline.run(graph, options: .none)
    let settings = Pipeline.fusionFlags.map { flag in
      (flag, FusionOptions(disabled: Set(Pipeline.fusionFlags).subtracting([flag])))
    } + [("all", FusionOptions())]
    for (flag, options) in settings {
      let fused = try Pipeline.run(graph, options: options)
      if fused != unfused {  // an unchanged graph computes the same; the reference is slow
        try assertFusionPreservesOutputs(fused: fused, unfused: unfused, "\(spec) with \(flag)", file: file, line: line)
      }
      guard let feedForward else { continue }
      if flag == "leff" || flag == "all" {
        let layout = fused.nodes.filter { $0.scope.hasPrefix("blocks.") && ["seq2img", "img2seq"].contains($0.op.mnemonic) }
        XCTAssertEqual(layout.map { "\($0.op.mnemonic) in \($0.scope)" }, [], "\(spec) with \(flag)", file: file, line: line)
      }
      if flag == "dead-ffn" || flag == "all" {
        let lastBlock = "blocks.\(Int(overrides["depth"]!)! - 1).\(feedForward)."
        let read = fused.readParameters.filter { $0.hasPrefix(lastBlock) }
        XCTAssertEqual(read, [], "\(spec) with \(flag): the last feed-forward still runs", file: file, line: line)
      }
      if flag == "all" {
        XCTAssertNil(fused.opCounts["batchnorm"], "\(spec): batchnorm remains", file: file, line: line)
      }
    }
  }
}
