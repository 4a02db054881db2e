import LocusIR
import XCTest

@testable import LocusPasses

/// `sink-row-selection` on hand-built graphs: where the selection ends up, that nothing is
/// computed twice, and (through the reference interpreter) that the outputs do not change.
final class SinkRowSelectionTests: XCTestCase {
  /// LocalViT's shape: the head reads row 0 of layernorm(concat(cls, ffn(patches))). The
  /// feed-forward loses its reader; everything after the class token's concat computes one row.
  func testTheHeadsRowReachesTheClassTokenAndTheFeedForwardDies() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let patches = s.input("x", [4, 8])                                                        // [N, C]
      var t = try s.add(.concat(axis: 0), s.param("cls_token", [1, 1, 8], .embedding), patches)  // [N+1, C]
      t = try s.add(.binary(.add), t, s.param("pos_embed", [1, 5, 8], .embedding))
      let h = try s.add(.layernorm(eps: 1e-6), t, s.param("norm1.weight", [8], .norm), s.param("norm1.bias", [8], .norm), scope: "norm1")
      t = try s.add(.binary(.add), t, s.add(.linear(hasBias: true), h, s.param("attn.weight", [8, 8]), s.param("attn.bias", [8], .bias), scope: "attn"))
      let cls = try s.add(.slice(axis: 0, start: 0, length: 1), t)
      let p = try s.add(.slice(axis: 0, start: 1, length: 4), t)
      let hidden = try s.add(.unary(.relu), s.add(.linear(hasBias: false), p, s.param("ffn.fc1.weight", [16, 8]), scope: "ffn.fc1"))
      let ffn = try s.add(.linear(hasBias: false), hidden, s.param("ffn.fc2.weight", [8, 16]), scope: "ffn.fc2")
      let y = try s.add(.concat(axis: 0), cls, ffn)
      let normed = try s.add(.layernorm(eps: 1e-6), y, s.param("norm.weight", [8], .norm), s.param("norm.bias", [8], .norm), scope: "norm")
      let cls0 = try s.add(.index(axis: 0, at: 0), normed)
      s.output("logits", try s.add(.linear(hasBias: true), cls0, s.param("head.weight", [3, 8]), s.param("head.bias", [3], .bias), scope: "head"))

      let (fused, notes) = try runPass(sinkRowSelection, s.graph)
      XCTAssertTrue(fused.readParameters.filter { $0.hasPrefix("ffn.") }.isEmpty, "the feed-forward is dead:\n\(fused.dump())")
      for node in fused.nodes where ["norm1", "attn", "norm"].contains(node.scope) {
        XCTAssertEqual(node.type.shape, [8], "\(node.op.mnemonic) in \(node.scope) computes only the class token's row")
      }
      XCTAssertFalse(notes.isEmpty)
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "class-token head")
    }
  }

  /// Rows pass sdpa (into the queries), elementwise ops with [C], [1, N, C] and batched [1, C]
  /// operands, a scalar op, an activation, a column slice and nested slices; an `index` the same
  /// way, with the row axis gone.
  func testRowsPassAttentionBroadcastsAndSlices() throws {
    let selections: [(Op, Op)] = [
      (.slice(axis: 0, start: 1, length: 4), .slice(axis: 0, start: 2, length: 2)),  // rows 3 and 4
      (.slice(axis: 0, start: 1, length: 4), .index(axis: 0, at: 3)),                // row 4
    ]
    for batch in [1, 3] {
      for (outer, inner) in selections {
        var s = GraphSketch(batch: batch)
        let x = s.input("x", [6, 8])
        let q = try s.add(.linear(hasBias: false), x, s.param("q.weight", [8, 8]), scope: "q")
        var y = try s.add(.sdpa(heads: 2, kvHeads: 2), q, x, x, scope: "attn")                   // [N, C]
        y = try s.add(.binary(.mul), y, s.param("gamma", [8], .norm))                           // [C] broadcasts
        y = try s.add(.binary(.add), s.param("pos", [1, 6, 8], .embedding), y)                  // unbatched rows
        y = try s.add(.unary(.gelu), s.add(.scalar(.mul, 0.5, scalarFirst: false), y))
        y = try s.add(.binary(.sub), y, s.input("r", [1, 8]))                                  // batched, broadcast rows
        let columns = try s.add(.slice(axis: 1, start: 2, length: 4), y)                         // [N, 4]
        s.output("y", try s.add(inner, s.add(outer, columns)))

        let (fused, _) = try runPass(sinkRowSelection, s.graph)
        let wide = fused.nodes.filter { $0.type.batched && $0.type.rank == 2 && $0.type.shape[0] == 6 && $0.operands.count > 0 }
        XCTAssertEqual(wide.map(\.op.mnemonic), [], "nothing computes all 6 rows:\n\(fused.dump())")
        XCTAssertEqual(fused.opCounts["sdpa"], 1)
        try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "\(outer) then \(inner)")
      }
    }
  }

  /// A value some reader needs whole is computed once, whole; two readers that need the same row
  /// share one row computation.
  func testNothingIsComputedTwice() throws {
    for batch in [1, 3] {
      var s = GraphSketch(batch: batch)
      let x = s.input("x", [5, 8])
      let whole = try s.add(.unary(.relu), s.add(.linear(hasBias: false), x, s.param("a.weight", [8, 8])))
      s.output("whole", whole)
      s.output("row", try s.add(.index(axis: 0, at: 2), whole))
      // Both readers of h want its row 0 only: h is computed for that row, once.
      let h = try s.add(.linear(hasBias: false), x, s.param("b.weight", [8, 8]))
      let normed = try s.add(.layernorm(eps: 1e-5), h, s.param("n.weight", [8], .norm), s.param("n.bias", [8], .norm))
      s.output("shared", try s.add(.index(axis: 0, at: 0), s.add(.binary(.add), h, normed)))

      let (fused, _) = try runPass(sinkRowSelection, s.graph)
      XCTAssertEqual(fused.opCounts["linear"], 2, fused.dump())
      XCTAssertEqual(fused.opCounts["relu"], 1)
      let shared = fused.nodes.filter { if case .linear = $0.op { $0.type.rank == 1 } else { false } }
      XCTAssertEqual(shared.count, 1, "h is computed for one row:\n\(fused.dump())")
      try assertFusionPreservesOutputs(fused: fused, unfused: s.graph, "shared demand")
    }
  }

  /// Ops that mix rows stop the selection: softmax over the tokens, a transpose, a concat whose
  /// selected rows span two operands.
  func testOpsThatMixRowsStopTheSelection() throws {
    var s = GraphSketch(batch: 2)
    let x = s.input("x", [4, 4])
    s.output("softmax", try s.add(.index(axis: 0, at: 1), s.add(.softmax(axis: 0), s.add(.unary(.relu), x))))
    s.output("transpose", try s.add(.index(axis: 0, at: 1), s.add(.transpose([1, 0]), s.add(.unary(.gelu), x))))
    let both = try s.add(.concat(axis: 0), s.add(.unary(.sigmoid), x), s.add(.unary(.hswish), x))
    s.output("span", try s.add(.slice(axis: 0, start: 3, length: 2), both))

    let (fused, notes) = try runPass(sinkRowSelection, s.graph)
    XCTAssertEqual(fused, eliminateDeadCode(s.graph), "nothing moves:\n\(fused.dump())")
    XCTAssertEqual(notes, [])
  }
}
