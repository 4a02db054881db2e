import Foundation
import LocusIR
import LocusReference
import XCTest

/// The reference must stay usable on the tiny test models: C 32, N 256 tokens, B 3.
final class SpeedTests: XCTestCase {
  /// A tiny Locally-SAG / LocalViT mix: 5 rolled variants → per-variant patch conv → local
  /// attention; then a global attention block and a conv FFN (1×1, BN, h-swish, 3×3 depthwise).
  func tinyModel() throws -> Graph {
    let (c, hidden, heads, image) = (32, 128, 4, 16)
    var g = Graph(name: "tiny", batch: 3)
    func param(_ name: String, _ shape: [Int]) -> ValueID {
      if g.parameter(named: name) == nil {  // "n1" is shared, as Locally-SAG shares a stage's norms
        g.parameters.append(Parameter(name: name, shape: shape, role: .weight, initializer: .zeros))
      }
      return g.append(.parameter(name: name), [], type: TensorType(shape, batched: false))
    }
    func conv(_ x: ValueID, _ name: String, out: Int, inputs: Int, kernel: Int, groups: Int = 1) throws -> ValueID {
      let a = Conv2dAttrs(outChannels: out, kernel: [kernel, kernel], stride: [1, 1], padding: [kernel / 2, kernel / 2], groups: groups, hasBias: true)
      return try g.add(.conv2d(a), [x, param("\(name).weight", [out, inputs / groups, kernel, kernel]), param("\(name).bias", [out])])
    }
    func linear(_ x: ValueID, _ name: String, out: Int, inputs: Int) throws -> ValueID {
      try g.add(.linear(hasBias: true), [x, param("\(name).weight", [out, inputs]), param("\(name).bias", [out])])
    }
    func norm(_ x: ValueID, _ name: String) throws -> ValueID {
      try g.add(.layernorm(eps: 1e-6), [x, param("\(name).weight", [c]), param("\(name).bias", [c])])
    }
    let pixels = g.append(.input(name: "pixels"), [], type: TensorType([3, image, image], batched: true))
    let shifts = [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1)]
    let variants = try shifts.enumerated().map { t, s in
      let shifted = t == 0 ? pixels : try g.add(.roll(dy: s.0, dx: s.1), [pixels])
      return try g.add(.img2seq, [try conv(shifted, "embed.\(t)", out: c, inputs: 3, kernel: 3)])  // [N, C]
    }
    let stacked = try g.add(.stack(axis: 0), variants)  // [T, N, C]
    var x = variants[0]
    let q = try linear(try norm(x, "n1"), "q", out: c, inputs: c)
    let kv = try linear(try norm(stacked, "n1"), "kv", out: 2 * c / heads, inputs: c)  // one kv head
    let k = try g.add(.slice(axis: -1, start: 0, length: c / heads), [kv])
    let v = try g.add(.slice(axis: -1, start: c / heads, length: c / heads), [kv])
    x = try g.add(.binary(.add), [x, try g.add(.localAttention(heads: heads, kvHeads: 1), [q, k, v])])
    let qkv = try linear(try norm(x, "n2"), "qkv", out: 3 * c, inputs: c)
    let parts = try (0..<3).map { try g.add(.slice(axis: -1, start: $0 * c, length: c), [qkv]) }
    let attention = try g.add(.sdpa(heads: heads, kvHeads: heads), parts)
    x = try g.add(.binary(.add), [x, try linear(attention, "proj", out: c, inputs: c)])
    let img = try g.add(.seq2img(height: image), [x])
    var h = try conv(img, "ffn.0", out: hidden, inputs: c, kernel: 1)
    h = try g.add(.batchnorm(eps: 1e-5), [h] + ["weight", "bias", "running_mean", "running_var"].map { param("ffn.1.\($0)", [hidden]) })
    h = try g.add(.unary(.hswish), [h])
    h = try g.add(.unary(.gelu), [try conv(h, "ffn.3", out: hidden, inputs: hidden, kernel: 3, groups: hidden)])
    h = try conv(h, "ffn.4", out: c, inputs: hidden, kernel: 1)
    x = try g.add(.binary(.add), [x, try g.add(.img2seq, [h])])
    let pooled = try g.add(.mean(axis: 0), [try norm(x, "norm")])
    g.outputs = [("logits", try linear(pooled, "head", out: 10, inputs: c))]
    try g.verify()
    return g
  }

  func testTinyModelRunsInSeconds() throws {
    let graph = try tinyModel()
    var rng = Seeded(9)
    let parameters = Dictionary(uniqueKeysWithValues: graph.parameters.map { p in
      (p.name, p.name.hasSuffix("running_var") ? Tensor(shape: p.shape, repeating: 1) : rng.tensor(p.shape, scale: 0.3))
    })
    let inputs = ["pixels": rng.tensor([3, 3, 16, 16])]
    let start = Date()
    let logits = try XCTUnwrap(Interpreter.run(graph: graph, parameters: parameters, inputs: inputs)["logits"])
    let seconds = Date().timeIntervalSince(start)
    print("tiny model (\(graph.forwardFlops / 1_000_000) MFLOP): \(String(format: "%.2f", seconds)) s")
    XCTAssertEqual(logits.shape, [3, 10])
    XCTAssertTrue(logits.data.allSatisfy(\.isFinite))
    // Generous bound (debug builds on a loaded 2-core machine); release takes a small fraction.
    XCTAssertLessThan(seconds, 30)
  }
}
