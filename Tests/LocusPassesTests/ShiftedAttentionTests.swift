import Foundation
import XCTest
import LocusFrontend
import LocusIR
import LocusReference
import LocusSpec
@testable import LocusPasses

/// The Locally-SAG fusion computes what the unfused stage 1 computes (through the reference
/// interpreter, random weights), and leaves no (T, N, C) value behind.
final class ShiftedAttentionTests: XCTestCase {
  func testBothSAGModelsFuseAndAgreeWithTheUnfusedGraph() throws {
    let tiny = [("dim", "16"), ("heads", "2"), ("classes", "5"), ("depth2", "1"), ("depth3", "1"), ("depth4", "1")]
    for (spec, image) in [("sag_tiny_cifar", "8"), ("sag_tiny_imagenet", "36")] {
      let graph = try Frontend.compile(try bundledSpec(spec), batch: 2, overrides: tiny + [("image", image)]).graph
      let unfused = try Pipeline.run(graph, options: .none)
      var notes: [FusionNote] = []
      let fused = try Pipeline.run(graph, options: FusionOptions(disabled: Set(Pipeline.fusionFlags).subtracting(["sag"])), notes: &notes)
      XCTAssertEqual(notes.filter { $0.pass == "shifted-attention" }.count, 1, spec)
      XCTAssertEqual(fused.nodes.filter { if case .shiftedLocalAttention = $0.op { true } else { false } }.count, 1, spec)
      let variants = spec == "sag_tiny_cifar" ? 18 : 10
      let big = fused.nodes.filter { $0.type.batched && $0.type.rank == 3 && $0.type.shape[0] == variants }
      XCTAssertEqual(big.map(\.op.mnemonic), [], "\(spec): values of shape [T, N, C] remain")
      try assertFusionPreservesOutputs(fused: fused, unfused: unfused, spec)
    }
  }
}
