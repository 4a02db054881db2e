import LocusIR
import LocusReference
import XCTest

final class ProductTests: XCTestCase {
  func testLinearByHand() throws {
    let x = Tensor([1, 2, 3], [1, 2, 3, 0, 1, 0])
    let w = Tensor([2, 3], [1, 0, -1, 2, 1, 0]), b = Tensor([2], [0.5, -1])
    let y = try apply(.linear(hasBias: true), .batched(x), .unbatched(w), .unbatched(b))
    XCTAssertEqual(y, Tensor([1, 2, 2], [-1.5, 3, 0.5, 0]))
  }

  /// linear(x, W) = matmul(x, Wᵀ): same products, same order, one rounding.
  func testLinearEqualsMatmulWithTransposedWeight() throws {
    var rng = Seeded(2)
    let x = rng.tensor([3, 2, 4, 5]), w = rng.tensor([6, 5])
    let viaLinear = try apply(.linear(hasBias: false), .batched(x), .unbatched(w))
    let viaMatmul = try apply(.matmul, .batched(x), .unbatched(try apply(.transpose([1, 0]), .unbatched(w))))
    assertClose(viaLinear, viaMatmul, .exact, "linear vs matmul")
  }

  /// Leading axes broadcast: per-sample a [2, 2, 3] times an unbatched b [1, 3, 2].
  func testMatmulBroadcastsLeadingAxes() throws {
    let a = Tensor([1, 2, 2, 3], [1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 2])
    let b = Tensor([1, 3, 2], [1, 2, 3, 4, 5, 6])
    let y = try apply(.matmul, .batched(a), .unbatched(b))
    // rows of a pick/sum rows of b: [1,0,0] → [1,2]; [0,1,0] → [3,4]; [1,1,1] → [9,12]; [0,0,2] → [10,12]
    XCTAssertEqual(y, Tensor([1, 2, 2, 2], [1, 2, 3, 4, 9, 12, 10, 12]))
  }

  /// Scale D^-½: with D = 4, q = 1 and keys 0 and 1, the scores are 0 and 2.
  func testSdpaScaleByHand() throws {
    let q = Tensor([1, 1, 4], [1, 1, 1, 1])
    let k = Tensor([1, 2, 4], [0, 0, 0, 0, 1, 1, 1, 1]), v = Tensor([1, 2, 4], [0, 0, 0, 0, 1, 2, 3, 4])
    let y = try apply(.sdpa(heads: 1, kvHeads: 1), .batched(q), .batched(k), .batched(v))
    let p1: Float = 0.88079708  // e² / (1 + e²)
    assertClose(y, Tensor([1, 1, 4], [p1, 2 * p1, 3 * p1, 4 * p1]), Tolerance(absolute: 1e-6), "sdpa scores 0, 2")
    // The same numbers through local_attention with the two keys as T = 2 variants.
    let local = try apply(
      .localAttention(heads: 1, kvHeads: 1), .batched(q), .batched(k.reshaped([1, 2, 1, 4])), .batched(v.reshaped([1, 2, 1, 4])))
    assertClose(local, y, f32Rounding, "local_attention scores 0, 2")
  }

  /// Multi-query sdpa (3 heads share one kv head) equals, head by head, q_h kᵀ → ·D^-½ → softmax → ·v
  /// built from slice / transpose / matmul / scalar / softmax / concat ops.
  func testSdpaEqualsExplicitOpsWithOneKvHead() throws {
    try checkSdpaAgainstExplicitOps(heads: 3, kvHeads: 1, seed: 21)
  }

  func testSdpaEqualsExplicitOpsWithGroupedHeads() throws {
    try checkSdpaAgainstExplicitOps(heads: 4, kvHeads: 2, seed: 22)
    try checkSdpaAgainstExplicitOps(heads: 2, kvHeads: 2, seed: 23)
  }

  func checkSdpaAgainstExplicitOps(heads: Int, kvHeads: Int, seed: UInt64) throws {
    let (d, nq, nk, batch) = (4, 5, 6, 3)
    var rng = Seeded(seed)
    let q = rng.tensor([batch, nq, heads * d], scale: 2)
    let k = rng.tensor([batch, nk, kvHeads * d], scale: 2), v = rng.tensor([batch, nk, kvHeads * d])
    let y = try apply(.sdpa(heads: heads, kvHeads: kvHeads), .batched(q), .batched(k), .batched(v))

    var outputs: [Arg] = []
    for h in 0..<heads {
      let g = h / (heads / kvHeads)
      let qh = try apply(.slice(axis: 1, start: h * d, length: d), .batched(q))
      let kg = try apply(.slice(axis: 1, start: g * d, length: d), .batched(k))
      let vg = try apply(.slice(axis: 1, start: g * d, length: d), .batched(v))
      let scores = try apply(.matmul, .batched(qh), .batched(try apply(.transpose([1, 0]), .batched(kg))))
      let scaled = try apply(.scalar(.mul, 1 / Float(d).squareRoot(), scalarFirst: false), .batched(scores))
      let p = try apply(.softmax(axis: -1), .batched(scaled))
      outputs.append(.batched(try apply(.matmul, .batched(p), .batched(vg))))
    }
    let concatType = try Op.concat(axis: 1).inferType(outputs.map(\.type))
    let expected = try Interpreter.apply(
      op: .concat(axis: 1), operands: outputs.map(\.tensor), operandTypes: outputs.map(\.type), batch: batch, resultType: concatType)
    // The explicit route rounds scores and probabilities to f32 at every step (|scores| ≲ 8).
    assertClose(y, expected, Tolerance(absolute: 1e-5, relative: 1e-5), "sdpa H \(heads) Hk \(kvHeads) vs explicit ops")
  }

  /// With one variant the softmax weight is 1: the output is v, head h reading kv head h / (H/Hk).
  func testLocalAttentionWithOneVariantIsValue() throws {
    let (heads, kvHeads, d, n) = (4, 2, 3, 5)
    var rng = Seeded(31)
    let q = rng.tensor([2, n, heads * d]), k = rng.tensor([2, 1, n, kvHeads * d]), v = rng.tensor([2, 1, n, kvHeads * d])
    let y = try apply(.localAttention(heads: heads, kvHeads: kvHeads), .batched(q), .batched(k), .batched(v))
    let expected = Tensor(shape: [2, n, heads * d]) { at in
      let (b, token, column) = (at / (n * heads * d), at / (heads * d) % n, at % (heads * d))
      let (h, e) = (column / d, column % d)
      return v[b, 0, token, (h / (heads / kvHeads)) * d + e]
    }
    assertClose(y, expected, .exact, "local_attention, T = 1")
  }

  /// At every token, local attention is sdpa of that token's query over its T variants as keys.
  func testLocalAttentionEqualsSdpaPerToken() throws {
    let (heads, kvHeads, d, n, t) = (4, 1, 2, 3, 5)
    var rng = Seeded(32)
    let q = rng.tensor([2, n, heads * d], scale: 2)
    let k = rng.tensor([2, t, n, kvHeads * d], scale: 2), v = rng.tensor([2, t, n, kvHeads * d])
    let y = try apply(.localAttention(heads: heads, kvHeads: kvHeads), .batched(q), .batched(k), .batched(v))
    for token in 0..<n {
      let qn = try apply(.slice(axis: 0, start: token, length: 1), .batched(q))
      let kn = try apply(.index(axis: 1, at: token), .batched(k)), vn = try apply(.index(axis: 1, at: token), .batched(v))
      let expected = try apply(.sdpa(heads: heads, kvHeads: kvHeads), .batched(qn), .batched(kn), .batched(vn))
      assertClose(try apply(.slice(axis: 0, start: token, length: 1), .batched(y)), expected, f32Rounding, "token \(token)")
    }
  }
}
