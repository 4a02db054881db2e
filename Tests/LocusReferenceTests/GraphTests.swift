import LocusIR
import LocusReference
import XCTest

/// Whole graphs through `Interpreter.run` / `evaluate`, and the errors a caller or a bad IR gets.
final class GraphTests: XCTestCase {
  // B 3 batch, C 8 channels, patch 2 over a 3×4×4 image: N 4 patches + 1 class token, 6 outputs.
  let (batch, channels, patch, classes) = (3, 8, 2, 6)

  /// patch-embed conv → img2seq → concat with an unbatched cls → + unbatched pos → layernorm → linear.
  func tinyViTStem() throws -> Graph {
    var g = Graph(name: "stem", batch: batch)
    func param(_ name: String, _ shape: [Int], _ role: ParameterRole) -> ValueID {
      g.parameters.append(Parameter(name: name, shape: shape, role: role, initializer: .zeros))
      return g.append(.parameter(name: name), [], type: TensorType(shape, batched: false))
    }
    let pixels = g.append(.input(name: "pixels"), [], type: TensorType([3, 4, 4], batched: true))
    let convW = param("patch_embed.proj.weight", [channels, 3, patch, patch], .weight)
    let convB = param("patch_embed.proj.bias", [channels], .bias)
    let cls = param("cls_token", [1, 1, channels], .embedding)
    let pos = param("pos_embed", [1, 5, channels], .embedding)
    let lnW = param("norm.weight", [channels], .norm), lnB = param("norm.bias", [channels], .norm)
    let headW = param("head.weight", [classes, channels], .weight), headB = param("head.bias", [classes], .bias)
    let conv = Conv2dAttrs(outChannels: channels, kernel: [patch, patch], stride: [patch, patch], padding: [0, 0], groups: 1, hasBias: true)
    let embedded = try g.add(.conv2d(conv), [pixels, convW, convB])  // [C, 2, 2]
    let tokens = try g.add(.img2seq, [embedded])  // [4, C]
    let withCls = try g.add(.concat(axis: 0), [cls, tokens])  // [5, C]
    let positioned = try g.add(.binary(.add), [withCls, pos])
    let normed = try g.add(.layernorm(eps: 1e-6), [positioned, lnW, lnB])
    let logits = try g.add(.linear(hasBias: true), [normed, headW, headB])  // [5, classes]
    g.outputs = [("logits", logits)]
    try g.verify()
    return g
  }

  func randomArguments(_ graph: Graph, seed: UInt64) -> (parameters: [String: Tensor], inputs: [String: Tensor]) {
    var rng = Seeded(seed)
    let parameters = Dictionary(uniqueKeysWithValues: graph.parameters.map { ($0.name, rng.tensor($0.shape)) })
    return (parameters, ["pixels": rng.tensor([batch, 3, 4, 4])])
  }

  func testTinyStemMatchesIndependentComputation() throws {
    let graph = try tinyViTStem()
    let (p, inputs) = randomArguments(graph, seed: 42)
    let logits = try XCTUnwrap(Interpreter.run(graph: graph, parameters: p, inputs: inputs)["logits"])

    // The same model written out as loops over a [B, N+1, C] token array, all in Double.
    let x = inputs["pixels"]!, w = p["patch_embed.proj.weight"]!
    var expected = Tensor.zeros([batch, 5, classes])
    for b in 0..<batch {
      var tokens = [[Double]](repeating: [Double](repeating: 0, count: channels), count: 5)
      for c in 0..<channels { tokens[0][c] = Double(p["cls_token"]![0, 0, c]) }
      for py in 0..<2 {
        for px in 0..<2 {
          for o in 0..<channels {
            var sum = Double(p["patch_embed.proj.bias"]![o])
            for i in 0..<3 { for ky in 0..<patch { for kx in 0..<patch {
              sum += Double(x[b, i, py * patch + ky, px * patch + kx]) * Double(w[o, i, ky, kx])
            } } }
            tokens[1 + py * 2 + px][o] = sum  // patch (py, px) is token py·2 + px, after the class token
          }
        }
      }
      for n in 0..<5 {
        let t = (0..<channels).map { tokens[n][$0] + Double(p["pos_embed"]![0, n, $0]) }
        let mean = t.reduce(0, +) / Double(channels)
        let variance = t.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(channels)
        let normed = (0..<channels).map {
          (t[$0] - mean) / (variance + 1e-6).squareRoot() * Double(p["norm.weight"]![$0]) + Double(p["norm.bias"]![$0])
        }
        for k in 0..<classes {
          let dot = (0..<channels).reduce(Double(p["head.bias"]![k])) { $0 + normed[$1] * Double(p["head.weight"]![k, $1]) }
          expected[b, n, k] = Float(dot)
        }
      }
    }
    // The interpreter rounds every node to f32 and layernorm amplifies by 1/σ: 1e-5 abs + 1e-5 rel.
    assertClose(logits, expected, Tolerance(absolute: 1e-5, relative: 1e-5), "stem logits")
  }

  func testEvaluateGivesEveryNodeWithItsFullShape() throws {
    let graph = try tinyViTStem()
    let (p, inputs) = randomArguments(graph, seed: 1)
    let values = try Interpreter.evaluate(graph: graph, parameters: p, inputs: inputs)
    XCTAssertEqual(values.count, graph.nodes.count)
    for node in graph.nodes { XCTAssertEqual(values[node.id]?.shape, node.type.fullShape(batch: batch), "\(node.id)") }
  }

  func testArgumentProblemsAreReportedTogether() throws {
    let graph = try tinyViTStem()
    var (p, inputs) = randomArguments(graph, seed: 1)
    p["cls_token"] = nil
    p["pos_embed"] = .zeros([5, channels])
    p["head.wieght"] = .zeros([classes, channels])
    inputs["pixels"] = .zeros([3, 4, 4])
    inputs["image"] = .zeros([batch, 3, 4, 4])
    XCTAssertThrowsError(try Interpreter.run(graph: graph, parameters: p, inputs: inputs)) { error in
      guard case ReferenceError.invalidArguments(let problems) = error else { return XCTFail("\(error)") }
      XCTAssertEqual(problems.count, 5, "\(problems)")
      let text = "\(error)"
      for fragment in ["'cls_token' [1, 1, 8] is missing", "'pos_embed' has shape [5, 8], expected [1, 5, 8]",
                       "'head.wieght' is not a parameter", "'pixels' has shape [3, 4, 4], expected [3, 3, 4, 4]",
                       "'image' is not an input"] {
        XCTAssertTrue(text.contains(fragment), "missing '\(fragment)' in:\n\(text)")
      }
    }
  }

  func testApplyRejectsInconsistentTypes() throws {
    let x = Tensor([2, 3], [1, 2, 3, 4, 5, 6])
    let type = TensorType([3], batched: true)
    XCTAssertThrowsError(try Interpreter.apply(op: .unary(.relu), operands: [x], operandTypes: [type], batch: 2,
                                               resultType: TensorType([4], batched: true))) { error in
      XCTAssertEqual(error as? ReferenceError, .typeMismatch(op: "relu", declared: TensorType([4], batched: true), inferred: type))
    }
    XCTAssertThrowsError(try Interpreter.apply(op: .unary(.relu), operands: [x], operandTypes: [type], batch: 3, resultType: type)) { error in
      XCTAssertEqual(error as? ReferenceError, .operandShape(op: "relu", operand: 0, expected: [3, 3], got: [2, 3]))
    }
  }

  /// A learned, parameter-only query attending over per-sample tokens gives a per-sample result:
  /// the IR types it batched, and with a zero query the attention is uniform, so each sample's
  /// output is the mean of its own value rows.
  func testParameterQueryOverBatchedTokensIsPerSample() throws {
    let q = TensorType([1, 2], batched: false), kv = TensorType([3, 2], batched: true)
    let resultType = try Op.sdpa(heads: 1, kvHeads: 1).inferType([q, kv, kv])
    XCTAssertEqual(resultType, TensorType([1, 2], batched: true))
    let v = Tensor([2, 3, 2], [1, 2, 3, 4, 5, 6, /* sample 1 */ 10, 20, 30, 40, 50, 60])
    let out = try Interpreter.apply(op: .sdpa(heads: 1, kvHeads: 1), operands: [.zeros([1, 2]), v, v],
                                    operandTypes: [q, kv, kv], batch: 2, resultType: resultType)
    XCTAssertEqual(out.shape, [2, 1, 2])
    // Tolerance 1e-6 absolute: a mean of three small integers, accumulated in Double.
    for (got, want) in zip(out.data, [3, 4, 30, 40] as [Float]) { XCTAssertEqual(got, want, accuracy: 1e-6) }
  }
}
