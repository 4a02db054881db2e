import LocusFrontend
import LocusIR
import LocusReference
import LocusSpec
import XCTest

@testable import LocusPasses

/// The gradient rules against central finite differences of the loss, both through the reference
/// interpreter: for bundled specs at a tiny size (directional derivatives), and for graphs that
/// exercise one op each (every component).
///
/// Tolerance: the reference rounds every op's result to f32, so a difference quotient with step
/// h carries ≈ 1e-7·|loss|/h of rounding noise plus O(h²) truncation. A component passes when
/// |analytic − numeric| ≤ 2e-3·max(|analytic|, |numeric|) + 1e-4·(largest gradient component of
/// that parameter) + 5e-7/h (5e-5 at the usual h = 1e-2).
final class AutodiffTests: XCTestCase {
  func testDeiTGradients() throws { try checkSpec("deit_tiny", BundledSpecFusionTests.vit.merging(["image": "16", "patch": "8"]) { $1 }) }
  func testLocalViTGradients() throws { try checkSpec("localvit_tiny", BundledSpecFusionTests.vit.merging(["image": "16", "patch": "8", "reduction": "32"]) { $1 }) }
  func testLocalViTFashionMNISTGradients() throws { try checkSpec("localvit_fmnist", ["dim": "16", "depth": "1", "reduction": "16", "image": "16"]) }
  func testCeiTGradients() throws { try checkSpec("ceit_tiny", BundledSpecFusionTests.ceit) }
  // Locally-SAG's graphs take minutes per forward pass in the (debug-built) reference interpreter;
  // their gradients are compared with PyTorch's by TrainingFixtureTests, and their ops (roll,
  // circular_pad, stack, index, local attention's matmuls and softmax) each have a case below.

  /// Ops that the bundled specs reach only in some configurations: each feeds a small linear head.
  func testSingleOpGradients() throws {
    typealias Build = (inout GraphSketch, ValueID) throws -> ValueID
    // A case may take a smaller step: a max-pool window's argmax must not switch within ±h, and a
    // LayerNorm over three values curves strongly.
    let steps: [String: Float] = ["maxpool": 1e-3, "layernorm+transpose": 1e-3]
    let cases: [(String, [Int], Build)] = [
      ("roll", [2, 4, 5], { s, x in try s.add(.roll(dy: 1, dx: -2), x) }),
      ("circular_pad", [2, 4, 5], { s, x in try s.add(.circularPad(left: 2, right: 0, top: 1, bottom: 3), x) }),
      ("maxpool", [2, 5, 5], { s, x in try s.add(.maxpool(kernel: [3, 3], stride: [2, 2], padding: [1, 1]), x) }),
      ("gap", [3, 4, 4], { s, x in try s.add(.gap, x) }),
      ("mean", [3, 4, 5], { s, x in try s.add(.mean(axis: 1), x) }),
      ("stack+index", [3, 4], { s, x in
        let y = try s.add(.stack(axis: 1), x, try s.add(.unary(.sigmoid), x))
        return try s.add(.index(axis: 2, at: 1), y)
      }),
      ("div", [3, 4], { s, x in
        let d = try s.add(.scalar(.add, 3, scalarFirst: false), try s.add(.unary(.sigmoid), x))
        return try s.add(.binary(.div), x, d)
      }),
      ("scalar div", [3, 4], { s, x in
        try s.add(.scalar(.div, 2, scalarFirst: true), try s.add(.scalar(.add, 3, scalarFirst: false), try s.add(.unary(.relu6), x)))
      }),
      ("sub", [3, 4], { s, x in try s.add(.binary(.sub), try s.add(.unary(.gelu), x), s.param("p", [4], .bias)) }),
      ("softmax axis 0", [3, 4], { s, x in try s.add(.softmax(axis: 0), x) }),
      ("matmul", [3, 4], { s, x in try s.add(.matmul, x, s.param("m", [4, 5])) }),
      ("conv grouped strided", [4, 6, 5], { s, x in
        let a = Conv2dAttrs(outChannels: 6, kernel: [3, 2], stride: [2, 1], padding: [1, 1], groups: 2, hasBias: true)
        return try s.add(.conv2d(a), x, s.param("c.weight", [6, 2, 3, 2]), s.param("c.bias", [6], .bias))
      }),
      ("hswish hsigmoid", [3, 4], { s, x in try s.add(.binary(.mul), try s.add(.unary(.hswish), x), try s.add(.unary(.hsigmoid), x)) }),
      ("batchnorm", [3, 2, 2], { s, x in try s.batchnorm(x, "bn") }),
      // Over tokens (`token-layout`), fused with its activation (`batchnorm-activation`), or alone
      // when its result has two readers.
      ("batchnorm over tokens + gelu (batch_norm_act)", [6, 4], { s, x in
        let bn = try s.batchnorm(try s.add(.seq2img(height: 2), x), "bn")                          // [4, 2, 3]
        return try s.add(.img2seq, try s.add(.unary(.gelu), bn))
      }),
      ("batchnorm over tokens, two readers (batch_norm_act identity)", [6, 4], { s, x in
        let bn = try s.batchnorm(try s.add(.seq2img(height: 2), x), "bn")
        return try s.add(.img2seq, try s.add(.binary(.mul), bn, try s.add(.unary(.sigmoid), bn)))
      }),
      ("layernorm+transpose", [3, 4], { s, x in
        let t = try s.add(.transpose([1, 0]), x)
        return try s.add(.layernorm(eps: 1e-5), t, s.param("ln.weight", [3], .norm), s.param("ln.bias", [3], .norm))
      }),
      // The primitives the cases above and the bundled specs leave out, as PrimitiveGradientTests
      // (the end-to-end PyTorch comparison) has them.
      ("relu gelu identity", [3, 4], { s, x in
        try s.add(.binary(.add), try s.add(.binary(.mul), try s.add(.unary(.relu), x), try s.add(.unary(.gelu), x)), try s.add(.unary(.identity), x))
      }),
      ("linear without bias 3-D", [2, 3, 4], { s, x in try s.add(.linear(hasBias: false), x, s.param("fc.weight", [3, 4])) }),
      ("matmul broadcast and of two activations", [2, 3, 2], { s, x in
        let a = try s.add(.matmul, x, s.param("m", [1, 2, 3]))                                  // [2, 3, 3]
        return try s.add(.matmul, a, try s.add(.transpose([0, 2, 1]), try s.add(.unary(.sigmoid), a)))
      }),
      ("seq2img dwconv img2seq", [6, 2], { s, x in
        let a = Conv2dAttrs(outChannels: 2, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 2, hasBias: true)
        let image = try s.add(.seq2img(height: 2), x)                                           // [2, 2, 3]
        return try s.add(.img2seq, try s.add(.conv2d(a), image, s.param("c.weight", [2, 1, 3, 3]), s.param("c.bias", [2], .bias)))
      }),
      ("concat param, concat_cls, slice", [3, 4], { s, x in
        let wide = try s.add(.concat(axis: 1), x, s.param("p", [3, 2]))                         // [3, 6]
        let narrow = try s.add(.slice(axis: 1, start: 1, length: 4), wide)                        // [3, 4]
        return try s.add(.concat(axis: 0), s.param("token", [1, 1, 4], .embedding), narrow)       // [4, 4]
      }),
      ("broadcast add mul, scalar add sub mul", [2, 3, 2], { s, x in
        let y = try s.add(.binary(.mul), try s.add(.binary(.add), x, s.param("a", [3, 1], .bias)), s.param("m", [2, 1, 2]))
        let p = try s.add(.scalar(.add, 2, scalarFirst: true), y), q = try s.add(.scalar(.sub, 3, scalarFirst: true), y)
        let r = try s.add(.scalar(.mul, 0.5, scalarFirst: true), try s.add(.binary(.mul), p, q))
        return try s.add(.scalar(.sub, 1, scalarFirst: false), try s.add(.scalar(.mul, 1.5, scalarFirst: false), r))
      }),
      ("reshape softmax axis 1, transpose 3-D", [2, 3, 2], { s, x in
        let y = try s.add(.softmax(axis: 1), try s.add(.reshape([3, 2, 2]), x))
        return try s.add(.softmax(axis: -1), try s.add(.transpose([2, 0, 1]), y))
      }),
      ("slices tiling their operand (qkv split)", [3, 6], { s, x in
        let parts = try [(0, 2), (2, 1), (3, 3)].map { try s.add(.slice(axis: 1, start: $0.0, length: $0.1), x) }
        let qk = try s.add(.matmul, parts[0], try s.add(.transpose([1, 0]), try s.add(.unary(.sigmoid), parts[0])))  // [3, 3]
        return try s.add(.concat(axis: 1), try s.add(.binary(.mul), qk, parts[2]), parts[1])                             // [3, 4]
      }),
      ("sdpa grouped, fewer keys", [3, 8], { s, x in
        let kv = try s.add(.slice(axis: 0, start: 1, length: 2), x)                               // [2, 8]
        let k = try s.add(.linear(hasBias: false), kv, s.param("k.weight", [4, 8]))
        let v = try s.add(.linear(hasBias: true), kv, s.param("v.weight", [4, 8]), s.param("v.bias", [4], .bias))
        return try s.add(.sdpa(heads: 4, kvHeads: 2), x, k, v)
      }),
      ("sdpa self-attention grouped (sdpa_grad)", [3, 8], { s, x in
        let k = try s.add(.linear(hasBias: false), x, s.param("k.weight", [4, 8]))
        let v = try s.add(.linear(hasBias: true), x, s.param("v.weight", [4, 8]), s.param("v.bias", [4], .bias))
        return try s.add(.sdpa(heads: 4, kvHeads: 2), x, k, v)
      }),
      ("sdpa over a fused qkv (sdpa_grad, no concat)", [3, 4], { s, x in
        let qkv = try s.add(.linear(hasBias: true), x, s.param("qkv.weight", [16, 4]), s.param("qkv.bias", [16], .bias))
        let (q, k, v) = try (s.add(.slice(axis: 1, start: 0, length: 8), qkv), s.add(.slice(axis: 1, start: 8, length: 4), qkv),
                             s.add(.slice(axis: 1, start: 12, length: 4), qkv))
        return try s.add(.sdpa(heads: 2, kvHeads: 1), q, k, v)
      }),
      ("local_attention grouped", [3, 2, 4], { s, x in
        let q = try s.add(.index(axis: 0, at: 0), x)                                              // [2, 4]
        let kv = try s.add(.slice(axis: 0, start: 1, length: 2), x)                               // [T 2, 2, 4]
        let k = try s.add(.linear(hasBias: false), kv, s.param("k.weight", [2, 4]))
        let v = try s.add(.linear(hasBias: true), kv, s.param("v.weight", [2, 4]), s.param("v.bias", [2], .bias))
        return try s.add(.localAttention(heads: 2, kvHeads: 1), q, k, v)
      }),
      ("local_attention over a fused K/V projection (no concat)", [3, 2, 4], { s, x in
        let q = try s.add(.index(axis: 0, at: 0), x)                                              // [2, 4]
        let variants = try s.add(.slice(axis: 0, start: 1, length: 2), x)                         // [T 2, 2, 4]
        let kv = try s.add(.linear(hasBias: true), variants, s.param("kv.weight", [4, 4]), s.param("kv.bias", [4], .bias))
        let (k, v) = try (s.add(.slice(axis: 2, start: 0, length: 2), kv), s.add(.slice(axis: 2, start: 2, length: 2), kv))
        return try s.add(.localAttention(heads: 2, kvHeads: 1), q, k, v)
      }),
    ]
    for (name, shape, build) in cases {
      var s = GraphSketch(batch: 3)
      let x0 = s.input("x", shape)
      // A trainable scale in front so the op's operand has a gradient.
      let x = try s.add(.binary(.mul), x0, s.param("scale", shape, .weight))
      let y = try build(&s, x)
      let flat = try s.add(.reshape([s.graph[y].type.count]), y)
      let logits = try s.add(.linear(hasBias: true), flat, s.param("head.weight", [4, s.graph[y].type.count]), s.param("head.bias", [4], .bias))
      s.output("logits", logits)
      try checkGradients(s.graph, name, step: steps[name] ?? 1e-2)
    }
  }

  /// A value read only by slices that tile it gets the concat of their gradients: no zero_pad and
  /// no sum. (Gradient values: the "slices tiling their operand" case above.)
  func testSlicesTilingAValueConcatTheirGradients() throws {
    var s = GraphSketch(batch: 2)
    let x = try s.add(.linear(hasBias: false), s.input("x", [5, 4]), s.param("qkv.weight", [6, 4]))      // [5, 6]
    let (q, k, v) = try (s.add(.slice(axis: 1, start: 0, length: 2), x), s.add(.slice(axis: 1, start: 2, length: 2), x),
                         s.add(.slice(axis: 1, start: 4, length: 2), x))
    let y = try s.add(.binary(.add), try s.add(.binary(.mul), q, k), v)
    s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([10]), y), s.param("head.weight", [3, 10])))
    let counts = try Autodiff.trainingGraph(s.graph).graph.opCounts
    XCTAssertNil(counts["zero_pad"])
    XCTAssertEqual(counts["concat"], 1)
  }

  /// Self-attention keeps its sdpa in the training forward and differentiates it with one
  /// sdpa_grad, whose [dq | dk | dv] is the fused qkv's gradient itself: no matmul, softmax or
  /// concat. Attention with fewer queries than keys is still lowered to matmuls.
  func testSelfAttentionGradientIsOneKernel() throws {
    func counts(queries: Int) throws -> [String: Int] {
      var s = GraphSketch(batch: 2)
      let x = try s.add(.linear(hasBias: false), s.input("x", [5, 4]), s.param("qkv.weight", [12, 4]))     // [5, 12]
      var q = try s.add(.slice(axis: 1, start: 0, length: 4), x)
      if queries < 5 { q = try s.add(.slice(axis: 0, start: 5 - queries, length: queries), q) }
      let (k, v) = try (s.add(.slice(axis: 1, start: 4, length: 4), x), s.add(.slice(axis: 1, start: 8, length: 4), x))
      let y = try s.add(.sdpa(heads: 2, kvHeads: 2), q, k, v)
      s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([queries * 4]), y), s.param("head.weight", [3, queries * 4])))
      return try Autodiff.trainingGraph(s.graph).graph.opCounts
    }
    let selfAttention = try counts(queries: 5)
    XCTAssertEqual(selfAttention["sdpa"], 1)
    XCTAssertEqual(selfAttention["sdpa_grad"], 1)
    XCTAssertNil(selfAttention["matmul"])
    XCTAssertNil(selfAttention["softmax"])
    XCTAssertNil(selfAttention["concat"])
    let classToken = try counts(queries: 1)
    XCTAssertNil(classToken["sdpa"])
    XCTAssertNil(classToken["sdpa_grad"])
    XCTAssertEqual(classToken["softmax"], 1)
  }

  /// Local attention stays in the training forward and is differentiated by its two kernels; over
  /// a fused K/V projection, [dk | dv] is the projection's gradient itself: no matmul, softmax or
  /// concat.
  func testLocalAttentionGradientIsTwoKernels() throws {
    var s = GraphSketch(batch: 2)
    let x = s.input("x", [3, 5, 4])
    let q = try s.add(.linear(hasBias: false), try s.add(.index(axis: 0, at: 0), x), s.param("q.weight", [4, 4]))   // [5, 4]
    let kv = try s.add(.linear(hasBias: false), x, s.param("kv.weight", [4, 4]))                                    // [3, 5, 4]
    let (k, v) = try (s.add(.slice(axis: 2, start: 0, length: 2), kv), s.add(.slice(axis: 2, start: 2, length: 2), kv))
    let y = try s.add(.localAttention(heads: 2, kvHeads: 1), q, k, v)
    s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([20]), y), s.param("head.weight", [3, 20])))
    let counts = try Autodiff.trainingGraph(s.graph).graph.opCounts
    XCTAssertEqual(counts["local_attention"], 1)
    XCTAssertEqual(counts["local_attention_grad_q"], 1)
    XCTAssertEqual(counts["local_attention_grad_kv"], 1)
    for op in ["matmul", "matmul_permuted", "softmax", "concat"] { XCTAssertNil(counts[op], op) }
  }

  /// BatchNorm over tokens in a training graph (`batchnorm-activation`): one batch_statistics whose
  /// first two rows are the running statistics' moments, one batch_norm_act that absorbs its sole
  /// reader's activation, and its two gradient kernels; no BatchNorm, activation or activation
  /// gradient of its own. A BatchNorm whose result has another reader keeps the activation apart.
  func testBatchNormOverTokensIsFusedWithItsActivation() throws {
    func graph(secondReader: Bool) throws -> Graph {
      var s = GraphSketch(batch: 2)
      let x = try s.add(.linear(hasBias: false), s.input("x", [6, 4]), s.param("fc.weight", [4, 4]))
      let bn = try s.batchnorm(try s.add(.seq2img(height: 2), x), "bn")
      var y = try s.add(.unary(.hswish), bn)
      if secondReader { y = try s.add(.binary(.add), y, bn) }
      s.output("logits", try s.add(.linear(hasBias: false), try s.add(.reshape([24]), try s.add(.img2seq, y)), s.param("head.weight", [3, 24])))
      return try Autodiff.trainingGraph(s.graph).graph
    }
    let fused = try graph(secondReader: false), counts = fused.opCounts
    for op in ["batch_statistics", "batch_norm_act", "batch_norm_act_param_grad", "batch_norm_act_grad"] { XCTAssertEqual(counts[op], 1, op) }
    for gone in ["batch_normalize", "batch_moments", "batch_normalize_grad", "batch_normalize_param_grad", "hswish", "hswish_grad"] {
      XCTAssertNil(counts[gone], "\(gone) remains:\n\(fused.dump())")
    }
    XCTAssertTrue(fused.nodes.contains { $0.op == .training(.batchNormAct(eps: 1e-5, act: .hswish)) }, fused.dump())
    let stats = fused.outputs.first { $0.name == "running_stats:bn.running_mean" }!.value
    XCTAssertEqual(fused[stats].op, .slice(axis: 0, start: 0, length: 2))
    XCTAssertEqual(fused[fused[stats].operands[0]].op, .training(.batchStatistics))
    let apart = try graph(secondReader: true)
    XCTAssertTrue(apart.nodes.contains { $0.op == .training(.batchNormAct(eps: 1e-5, act: .identity)) }, apart.dump())
    XCTAssertEqual(apart.opCounts["hswish"], 1)
    XCTAssertEqual(apart.opCounts["hswish_grad"], 1)
  }

  func testFusedOpsAreRejectedByName() throws {
    var s = GraphSketch(batch: 2)
    let x = s.input("x", [4])
    let y = try s.add(.fusedLinear(FusedLinearAttrs(hasBias: false, activation: .gelu)), x, s.param("w", [3, 4]))
    s.output("logits", y)
    XCTAssertThrowsError(try Autodiff.trainingGraph(s.graph)) { error in
      XCTAssertTrue("\(error)".contains("no gradient rule for 'fused_linear'"), "\(error)")
    }
  }

  func testRunningStatisticsAreOutputs() throws {
    var s = GraphSketch(batch: 2)
    let x = s.input("x", [3, 2, 2])
    let y = try s.add(.gap, try s.batchnorm(x, "bn"))
    s.output("logits", y)
    let t = try Autodiff.trainingGraph(s.graph)
    XCTAssertEqual(t.runningStatistics, [RunningStatistics(output: "running_stats:bn.running_mean", mean: "bn.running_mean", variance: "bn.running_var")])
    XCTAssertEqual(t.graph.outputs.map(\.name), ["loss", "grad:bn.weight", "grad:bn.bias", "running_stats:bn.running_mean"])
  }

  // MARK: - Support

  private func checkSpec(_ spec: String, _ overrides: [String: String], file: StaticString = #filePath, line: UInt = #line) throws {
    let graph = try Frontend.compile(bundledSpec(spec), batch: 2, overrides: overrides.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).graph
    try checkGradients(graph, spec, coordinates: false, file: file, line: line)
  }

  /// Compares the training graph's gradients with central differences of the loss. With
  /// `coordinates`, every component of every trainable parameter is checked on its own (small
  /// graphs); otherwise along three seeded random directions through all parameters at once
  /// (Σ grad·u against (L(θ + h·u) − L(θ − h·u)) / 2h), which a wrong rule anywhere breaks and
  /// which costs two forward runs per direction. Per-parameter gradients of the specs are
  /// compared with PyTorch by the end-to-end fixtures.
  private func checkGradients(_ graph: Graph, _ what: String, coordinates: Bool = true, step h: Float = 1e-2,
                              file: StaticString = #filePath, line: UInt = #line) throws {
    let training = try Autodiff.trainingGraph(graph)
    try training.graph.verify()
    var (parameters, inputs) = randomArguments(for: training.graph, seed: 7)
    let classes = training.graph.inputs.first { $0.op == .input(name: TrainingGraph.targetsInput) }!.type.shape[0]
    inputs[TrainingGraph.targetsInput] = LocusReference.Tensor(shape: [graph.batch, classes]) { i in
      // Smoothed one-hot targets (label smoothing 0.1), label = sample index mod classes.
      (i % classes == (i / classes) % classes ? 0.9 : 0) + 0.1 / Float(classes)
    }
    let results = try Interpreter.run(graph: training.graph, parameters: parameters, inputs: inputs)
    func loss(_ p: [String: LocusReference.Tensor]) throws -> Double {
      Double(try Interpreter.run(graph: training.graph, parameters: p, inputs: inputs)[TrainingGraph.lossOutput]!.data[0])
    }
    var worst = (excess: -Double.infinity, text: "")
    func compare(_ label: String, analytic: Double, numeric: Double, scale: Double) {
      // The rounding noise of a difference quotient grows as 1/h (5e-5 at h = 1e-2).
      let allowed = 2e-3 * max(abs(analytic), abs(numeric)) + 1e-4 * scale + 5e-7 / Double(h)
      let error = abs(analytic - numeric)
      if error - allowed > worst.excess { worst = (error - allowed, "\(label): analytic \(analytic), numeric \(numeric), allowed \(allowed)") }
      XCTAssertLessThanOrEqual(error, allowed, "\(what): \(label) analytic \(analytic) vs numeric \(numeric)", file: file, line: line)
    }
    if coordinates {
      for name in training.gradients {
        let grad = results[TrainingGraph.gradientOutput(name)]!
        let scale = grad.data.reduce(0) { max($0, Double(abs($1))) }
        for i in 0..<grad.count {
          var plus = parameters, minus = parameters
          plus[name]!.data[i] += h
          minus[name]!.data[i] -= h
          let numeric = (try loss(plus) - loss(minus)) / Double(plus[name]!.data[i] - minus[name]!.data[i])
          compare("\(name)[\(i)]", analytic: Double(grad.data[i]), numeric: numeric, scale: scale)
        }
      }
    } else {
      // The step moves θ by 0.02 in Euclidean norm whatever the parameter count, so the curvature
      // term stays small; the scale for the absolute part of the tolerance is |grad|·|u|.
      var rng = SplitMix(11)
      for direction in 0..<3 {
        let u = training.gradients.map { name in (0..<results[TrainingGraph.gradientOutput(name)]!.count).map { _ in Double(rng.unit()) } }
        let norm = u.joined().reduce(0) { $0 + $1 * $1 }.squareRoot()
        let t = 0.02 / norm
        var plus = parameters, minus = parameters
        var analytic = 0.0, gradNorm = 0.0
        for (k, name) in training.gradients.enumerated() {
          let grad = results[TrainingGraph.gradientOutput(name)]!
          for i in 0..<grad.count {
            plus[name]!.data[i] += Float(t * u[k][i])
            minus[name]!.data[i] -= Float(t * u[k][i])
            analytic += Double(grad.data[i]) * u[k][i] * t
            gradNorm += Double(grad.data[i]) * Double(grad.data[i])
          }
        }
        // Both sides are the change of the loss per unit of the step t·u (norm 0.02).
        let numeric = (try loss(plus) - loss(minus)) / 2
        compare("direction \(direction)", analytic: analytic / 0.02, numeric: numeric / 0.02, scale: gradNorm.squareRoot())
      }
    }
    // Parameters with no gradient output must be ones the loss cannot reach.
    let reached = Set(training.gradients)
    for p in graph.parameters where p.role.isTrainable && !reached.contains(p.name) {
      XCTAssertFalse(eliminateDeadCode(graph).readParameters.contains(p.name), "\(what): \(p.name) is read but has no gradient", file: file, line: line)
    }
    print("\(what): \(training.gradients.count) gradients; closest to the tolerance: \(worst.text)")
  }
}
