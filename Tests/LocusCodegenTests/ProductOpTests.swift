import LocusIR
import XCTest

/// Builds the same random graph (same seed, so same shapes) for batch 1 and batch 3, and checks
/// each against the reference. `build` adds inputs, parameters, nodes and outputs.
func checkOp(
  _ name: String, seed: UInt64, batches: [Int] = [1, 3], file: StaticString = #filePath, line: UInt = #line,
  _ build: (inout Graph, inout Seeded) throws -> Void
) throws {
  for batch in batches {
    var graph = Graph(name: "\(name)_b\(batch)", batch: batch)
    var rng = Seeded(seed)
    try build(&graph, &rng)
    try assertMatchesReference(graph, seed: seed &+ UInt64(batch), file: file, line: line)
  }
}

/// conv2d, linear, matmul, sdpa, local_attention against the reference (tolerance: see
/// `tolerance(for:)`, relative 1e-4).
final class ProductOpTests: XCTestCase {
  func testConv2d() throws {
    try checkOp("conv2d", seed: 11) { g, rng in
      // General path (im2col): odd sizes, stride and padding, with and without bias.
      let ci = rng.int(2...5), h = rng.int(7...11), w = rng.int(6...13)
      let x = g.input("x", [ci, h, w])
      let a = Conv2dAttrs(outChannels: rng.int(3...7), kernel: [3, 2], stride: [2, 1], padding: [1, 0], groups: 1, hasBias: true)
      let wa = g.param("a.weight", [a.outChannels, ci, 3, 2]), ba = g.param("a.bias", [a.outChannels], role: .bias)
      g.output("general", try g.add(.conv2d(a), [x, wa, ba]))
      // Patch embedding: kernel = stride, no bias.
      let p = Conv2dAttrs(outChannels: 6, kernel: [2, 3], stride: [2, 3], padding: [0, 0], groups: 1, hasBias: false)
      g.output("patch", try g.add(.conv2d(p), [x, g.param("p.weight", [6, ci, 2, 3])]))
      // 1×1 (a GEMM straight on the activations).
      let one = Conv2dAttrs(outChannels: 5, kernel: [1, 1], stride: [1, 1], padding: [0, 0], groups: 1, hasBias: true)
      g.output("pointwise", try g.add(.conv2d(one), [x, g.param("o.weight", [5, ci, 1, 1]), g.param("o.bias", [5], role: .bias)]))
    }
  }

  func testGroupedAndDepthwiseConv2d() throws {
    try checkOp("conv2d_groups", seed: 12) { g, rng in
      let h = rng.int(5...9), w = rng.int(5...9)
      let x = g.input("x", [6, h, w])
      let grouped = Conv2dAttrs(outChannels: 9, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 3, hasBias: true)
      g.output("grouped", try g.add(.conv2d(grouped), [x, g.param("g.weight", [9, 2, 3, 3]), g.param("g.bias", [9], role: .bias)]))
      let depthwise = Conv2dAttrs(outChannels: 6, kernel: [3, 3], stride: [2, 2], padding: [1, 1], groups: 6, hasBias: true)
      g.output("depthwise", try g.add(.conv2d(depthwise), [x, g.param("d.weight", [6, 1, 3, 3]), g.param("d.bias", [6], role: .bias)]))
    }
  }

  /// matmul_permuted (training graphs' attention products read and written through strides):
  /// operand permutations of the head split and kᵀ, an output permutation keeping the columns
  /// last (the head merge), and one putting the rows last (the transposed product Bᵀ·Aᵀ).
  func testMatmulPermuted() throws {
    try checkOp("matmul_permuted", seed: 27) { g, rng in
      let (n, h, d, m) = (rng.int(3...9), 2, rng.int(2...7), rng.int(3...8))
      let q = g.input("q", [n, h, 1, d]), k = g.input("k", [m, h, 1, d]), v = g.input("v", [m, h, 1, d])
      func permuted(_ a: [Int], _ b: [Int], _ out: [Int], _ x: ValueID, _ y: ValueID) throws -> ValueID {
        try g.add(.training(.matmulPermuted(a: a, b: b, out: out)), [x, y])
      }
      let scores = try permuted([1, 2, 0, 3], [1, 2, 3, 0], [0, 1, 2, 3], q, k)               // [h, 1, n, m]
      g.output("scores", scores)
      g.output("merged", try permuted([0, 1, 2, 3], [1, 2, 0, 3], [2, 0, 1, 3], scores, v))    // [n, h, 1, d]
      // kᵀ·v [h, 1, d, d], written with its row axis last: the GEMM computes the transposed product.
      g.output("transposed", try permuted([1, 2, 3, 0], [1, 2, 0, 3], [3, 0, 1, 2], k, v))         // [d, h, 1, d]
    }
  }

  func testLinear() throws {
    try checkOp("linear", seed: 21) { g, rng in
      let n = rng.int(3...9), k = rng.int(5...17), out = rng.int(3...13)
      let x = g.input("x", [n, k])
      g.output("y", try g.add(.linear(hasBias: true), [x, g.param("fc.weight", [out, k]), g.param("fc.bias", [out], role: .bias)]))
      // Rank 3 input, no bias.
      let x3 = g.input("x3", [2, n, k])
      g.output("y3", try g.add(.linear(hasBias: false), [x3, g.param("nb.weight", [out, k])]))
      // A linear of a parameter (class token through a projection): unbatched, computed once.
      g.output("of_param", try g.add(.linear(hasBias: true), [g.param("tok", [2, k]), g.param("tp.weight", [out, k]), g.param("tp.bias", [out], role: .bias)]))
    }
  }

  func testMatmul() throws {
    try checkOp("matmul", seed: 31) { g, rng in
      let m = rng.int(2...9), k = rng.int(3...11), n = rng.int(2...10), h = rng.int(2...3)
      // Batched × batched with a leading head axis.
      let a = g.input("a", [h, m, k]), b = g.input("b", [h, k, n])
      g.output("batched", try g.add(.matmul, [a, b]))
      // Batched × parameter: the parameter is shared by every sample (batch stride 0).
      let w = g.param("w", [k, n])
      g.output("shared", try g.add(.matmul, [a, w]))
      // Broadcast leading axes: [h, 1, m, k] × [1, 2, k, n] → [h, 2, m, n] (needs a C loop).
      let a4 = g.input("a4", [h, 1, m, k]), b4 = g.input("b4", [1, 2, k, n])
      g.output("broadcast", try g.add(.matmul, [a4, b4]))
      // Parameter with a leading 1 against a rank-2 activation: [1, k, n] squeezes to [k, n].
      let x2 = g.input("x2", [m, k])
      g.output("squeezed", try g.add(.matmul, [x2, g.param("w1", [1, k, n])]))
    }
  }

  func testSDPA() throws {
    try checkOp("sdpa", seed: 41) { g, rng in
      let nq = rng.int(3...13), nk = rng.int(2...11), d = rng.int(2...9)
      // Multi-head: H = Hk = 3.
      let q = g.input("q", [nq, 3 * d]), k = g.input("k", [nk, 3 * d]), v = g.input("v", [nk, 3 * d])
      g.output("mha", try g.add(.sdpa(heads: 3, kvHeads: 3), [q, k, v]))
      // Grouped query: H = 4, Hk = 2.
      let q4 = g.input("q4", [nq, 4 * d]), k2 = g.input("k2", [nk, 2 * d]), v2 = g.input("v2", [nk, 2 * d])
      g.output("gqa", try g.add(.sdpa(heads: 4, kvHeads: 2), [q4, k2, v2]))
      // Learned keys and values (parameters): the node runs once per sample.
      let pk = g.param("pk", [nk, 3 * d]), pv = g.param("pv", [nk, 3 * d])
      g.output("learned_kv", try g.add(.sdpa(heads: 3, kvHeads: 1 * 3), [q, pk, pv]))
    }
  }

  func testLocalAttention() throws {
    try checkOp("local_attention", seed: 51) { g, rng in
      let t = rng.int(2...5), n = rng.int(3...12), d = rng.int(2...8)
      let q = g.input("q", [n, 2 * d]), k = g.input("k", [t, n, 2 * d]), v = g.input("v", [t, n, 2 * d])
      g.output("mha", try g.add(.localAttention(heads: 2, kvHeads: 2), [q, k, v]))
      let q4 = g.input("q4", [n, 4 * d]), k1 = g.input("k1", [t, n, d]), v1 = g.input("v1", [t, n, d])
      g.output("mqa", try g.add(.localAttention(heads: 4, kvHeads: 1), [q4, k1, v1]))
    }
  }
}
