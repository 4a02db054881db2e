import LocusCodegen
import LocusIR
import XCTest

/// The ops the fusion passes make (fused_linear, token_dwconv, rsqrt, shifted_local_attention)
/// against the reference interpreter, which defines each as the plain ops it replaces. Batch 1
/// and 3; tolerance relative 1e-4 with an absolute floor of 1e-6·max|expected| (`tolerance(for:)`).
final class FusedOpTests: XCTestCase {
  func testFusedLinear() throws {
    try checkOp("fused_linear", seed: 91) { g, rng in
      let n = rng.int(3...9), k = rng.int(5...19), out = rng.int(3...21)
      let x = g.input("x", [n, k])
      // Every activation, each with bias and residual: act(x·Wᵀ + b) + r.
      for f in UnaryOp.allCases where f != .rsqrt {
        let w = g.param("\(f).weight", [out, k]), b = g.param("\(f).bias", [out], role: .bias)
        let attrs = FusedLinearAttrs(hasBias: true, activation: f, hasResidual: true)
        g.output(f.rawValue, try g.add(.fusedLinear(attrs), [x, w, b, g.input("r_\(f)", [n, out])]))
      }
      // No bias, no activation, residual: the residual is then operand 2.
      let plain = FusedLinearAttrs(hasBias: false, hasResidual: true)
      g.output("no_bias", try g.add(.fusedLinear(plain), [x, g.param("nb.weight", [out, k]), g.input("r", [n, out])]))
      // Rank 3, activation only.
      let x3 = g.input("x3", [2, n, k])
      g.output("rank3", try g.add(.fusedLinear(FusedLinearAttrs(hasBias: true, activation: .hswish)),
                                  [x3, g.param("r3.weight", [out, k]), g.param("r3.bias", [out], role: .bias)]))
      // A residual that is a parameter: shared by the samples, so the node runs one sample at a time.
      let shared = FusedLinearAttrs(hasBias: true, activation: .relu, hasResidual: true)
      g.output("shared_residual", try g.add(.fusedLinear(shared), [x, g.param("sr.weight", [out, k]),
                                                                   g.param("sr.bias", [out], role: .bias), g.param("table", [n, out])]))
    }
  }

  /// An input scale (`channel-scale`): act((x ⊙ s)·Wᵀ + b) + r with s per sample (one GEMM per
  /// sample, the scale folded into the packed weights) and shared by the samples (one GEMM).
  func testFusedLinearWithInputScale() throws {
    try checkOp("fused_linear", seed: 94) { g, rng in
      let n = rng.int(3...9), k = rng.int(5...300), out = rng.int(3...21)  // K across the 256-long slices
      let x = g.input("x", [n, k]), gate = g.input("gate", [k])
      let full = FusedLinearAttrs(hasBias: true, activation: .gelu, hasResidual: true, hasInputScale: true)
      g.output("per_sample", try g.add(.fusedLinear(full), [x, g.param("a.weight", [out, k]), g.param("a.bias", [out], role: .bias),
                                                           gate, g.input("r", [n, out])]))
      let bare = FusedLinearAttrs(hasBias: false, hasInputScale: true)
      g.output("shared_scale", try g.add(.fusedLinear(bare), [x, g.param("b.weight", [out, k]), g.param("b.scale", [k], role: .norm)]))
      let x3 = g.input("x3", [2, n, k])
      g.output("rank3", try g.add(.fusedLinear(FusedLinearAttrs(hasBias: true, activation: .relu, hasInputScale: true)),
                                  [x3, g.param("c.weight", [out, k]), g.param("c.bias", [out], role: .bias), gate]))
    }
  }

  func testTokenDWConv() throws {
    try checkOp("token_dwconv", seed: 92) { g, rng in
      let h = rng.int(4...9), w = rng.int(4...11), c = rng.int(17...37)  // vector bodies and a tail
      let x = g.input("x", [h * w, c])
      let cases: [(String, kernel: [Int], stride: [Int], padding: [Int], bias: Bool, act: UnaryOp?)] = [
        ("k3", [3, 3], [1, 1], [1, 1], true, .gelu),     // LeFF's depth-wise conv
        ("k5_s2", [5, 5], [2, 2], [2, 2], false, nil),    // stride 2, kernel 5, no bias
        ("k3x5_s21", [3, 5], [2, 1], [0, 2], true, .hswish),
        ("k1", [1, 1], [1, 1], [0, 0], true, .relu6),
      ]
      for (name, kernel, stride, padding, bias, act) in cases {
        let a = TokenConvAttrs(height: h, width: w, kernel: kernel, stride: stride, padding: padding, hasBias: bias, activation: act)
        var operands = [x, g.param("\(name).weight", [c, 1] + kernel)]
        if bias { operands.append(g.param("\(name).bias", [c], role: .bias)) }
        g.output(name, try g.add(.tokenDWConv(a), operands))
      }
    }
  }

  /// rsqrt on positive inputs, batched (forward) and of parameters (prepare).
  func testRsqrt() throws {
    try checkOp("rsqrt", seed: 93) { g, rng in
      let shape = [rng.int(2...7), rng.int(3...37)]
      let x = g.input("x", shape)
      let positive = try g.add(.scalar(.add, 1e-3, scalarFirst: false), [g.add(.binary(.mul), [x, x])])
      g.output("batched", try g.add(.unary(.rsqrt), [positive]))
      let variance = g.param("running_var", [shape[1]], role: .norm)  // Arguments makes it > 0
      g.output("of_param", try g.add(.unary(.rsqrt), [g.add(.scalar(.add, 1e-5, scalarFirst: false), [variance])]))
    }
  }

  /// Locally-SAG's rolls: T = 3, H = Hk = 2, a 3×3 stride-1 embedding.
  func testShiftedAttentionRolls() throws {
    try checkShiftedAttention("sla_roll", seed: 94, shifts: [.roll(dy: 1, dx: 0), .roll(dy: 0, dx: -1)],
                              kernel: 3, stride: 1, padding: 1, heads: 2, kvHeads: 2)
  }

  /// One-sided circular pads with a 2×2 stride-2 embedding (the pad keeps the token count):
  /// T = 5, H = 3, Hk = 1.
  func testShiftedAttentionPads() throws {
    let pads: [Shift] = [.pad(left: 1, right: 0, top: 0, bottom: 0), .pad(left: 0, right: 1, top: 0, bottom: 0),
                         .pad(left: 0, right: 0, top: 1, bottom: 0), .pad(left: 0, right: 0, top: 0, bottom: 1)]
    try checkShiftedAttention("sla_pad", seed: 95, shifts: pads, kernel: 2, stride: 2, padding: 0, heads: 3, kvHeads: 1, even: true)
  }

  /// The other score paths of the kernel: few variants and many query heads per kv head (K and V
  /// projected), and T = 1 (no scores at all).
  func testShiftedAttentionOtherPaths() throws {
    try checkShiftedAttention("sla_kv", seed: 96, shifts: [.roll(dy: -2, dx: 3)], kernel: 1, stride: 1, padding: 0,
                              heads: 4, kvHeads: 1)
    try checkShiftedAttention("sla_t1", seed: 97, shifts: [], kernel: 3, stride: 1, padding: 1, heads: 2, kvHeads: 2)
  }

  func testMixedShiftKindsAreRejected() throws {
    let mixed: [Shift] = [.roll(dy: 1, dx: 0), .pad(left: 1, right: 0, top: 0, bottom: 0)]
    var g = Graph(name: "sla_mixed", batch: 1)
    var rng = Seeded(98)
    try buildShiftedAttention(&g, &rng, shifts: mixed, kernel: 2, stride: 2, padding: 0, heads: 1, kvHeads: 1, even: true)
    XCTAssertThrowsError(try CEmitter.emit(g)) { error in
      guard case .unsupported(let op, _, let reason)? = error as? CodegenError else { return XCTFail("\(error)") }
      XCTAssertEqual(op, "shifted_local_attention")
      XCTAssertTrue(reason.contains("rolls and pads"), reason)
    }
  }

  /// Every fused kernel and a prepare step in one model, against the reference.
  func testTinyFusedModelMatchesReference() throws {
    for batch in [1, 3] { try assertMatchesReference(TinyModels.fused(batch: batch), seed: 10) }
  }

  private func checkShiftedAttention(
    _ name: String, seed: UInt64, shifts: [Shift], kernel: Int, stride: Int, padding: Int, heads: Int, kvHeads: Int,
    even: Bool = false, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    try checkOp(name, seed: seed, file: file, line: line) { g, rng in
      try buildShiftedAttention(&g, &rng, shifts: shifts, kernel: kernel, stride: stride, padding: padding,
                                heads: heads, kvHeads: kvHeads, even: even)
    }
  }

  /// image [Ci, Hh, Ww] and q [N, H·D] as inputs, every weight a parameter; `even` makes the image
  /// sides even (for stride-2 embeddings of padded variants).
  private func buildShiftedAttention(
    _ g: inout Graph, _ rng: inout Seeded, shifts: [Shift], kernel: Int, stride: Int, padding: Int, heads: Int,
    kvHeads: Int, even: Bool
  ) throws {
    let ci = rng.int(2...4), c = rng.int(5...19), d = rng.int(2...6)
    let (hh, ww) = even ? (2 * rng.int(3...6), 2 * rng.int(3...6)) : (rng.int(4...8), rng.int(4...9))
    let n = ((hh + 2 * padding - kernel) / stride + 1) * ((ww + 2 * padding - kernel) / stride + 1)
    let attrs = ShiftedAttentionAttrs(shifts: shifts, kernel: [kernel, kernel], stride: [stride, stride],
                                      padding: [padding, padding], heads: heads, kvHeads: kvHeads, eps: 1e-5)
    var operands = [g.input("image", [ci, hh, ww]), g.input("q", [n, heads * d])]
    for v in 0..<attrs.variants {
      operands.append(g.param("embed.\(v).weight", [c, ci, kernel, kernel]))
      operands.append(g.param("embed.\(v).bias", [c], role: .bias))
    }
    operands.append(g.param("pos", [attrs.variants, n, c], role: .embedding))
    operands += [g.param("norm.weight", [c], role: .norm), g.param("norm.bias", [c], role: .norm)]
    operands += [g.param("kv.weight", [2 * kvHeads * d, c]), g.param("kv.bias", [2 * kvHeads * d], role: .bias)]
    g.output("y", try g.add(.shiftedLocalAttention(attrs), operands))
  }
}
