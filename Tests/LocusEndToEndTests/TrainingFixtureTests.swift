import Foundation
import XCTest
import LocusDriver
import LocusIR
import LocusRuntime
import LocusTraining

/// Every spec with a `Fixtures/<spec>/train/` folder (scripts/reference/make_train_fixtures.py),
/// compiled as a training library at the fixture's batch and bound to the inference fixture's
/// weights, reproduces PyTorch's float64 training reference:
/// 1. the label-smoothed loss and every parameter's gradient of one train-mode pass;
/// 2. the BatchNorm running statistics after one `Trainer.step` (and the no-decay parameter set);
/// 3. five AdamW steps on the same batch: the loss before each step, and per parameter the sum and
///    sum of squares of the weights and of their change after the five steps.
/// One compile per spec serves all three: `computeGradients` changes no parameter, so the AdamW run
/// that follows starts from the fixture's weights, and its first step gives the running statistics.
final class TrainingFixtureTests: XCTestCase {
  func testTrainingMatchesPyTorch() throws {
    let fixtures = try TrainingFixture.all()
    XCTAssertEqual(fixtures.count, 9, "one training fixture per bundled spec")
    let start = Date()
    for fixture in fixtures {
      try check(fixture)
    }
    print(String(format: "training fixtures: %d specs in %.1f s", fixtures.count, Date().timeIntervalSince(start)))
  }

  private func check(_ fixture: TrainingFixture) throws {
    let spec = fixture.spec
    let start = Date()
    let artifact = try Driver.compileTraining(fixture.request)
    let model = try Driver.load(artifact)
    let weights = try SafeTensorsFile.read(path: fixture.base.weightsPath)
    try model.bindWeights(weights)

    let images = try fixture.npy("input.npy")
    XCTAssertEqual(model.inputs.first?.shape, images.shape, "\(spec): image input shape")
    let labels = try fixture.npy("labels.npy")
    XCTAssertEqual(labels.shape, [fixture.batch], "\(spec): labels shape")
    let targetInput = try XCTUnwrap(model.inputs.last)
    let classes = targetInput.numel / fixture.batch
    XCTAssertEqual(targetInput.shape, [fixture.batch, classes], "\(spec): target input shape")
    let targets = try LabelSmoothing.targets(
      labels: labels.values.map { Int32(exactly: $0)! }, classes: classes, smoothing: fixture.labelSmoothing)

    // Parameters the optimizer trains: everything but the BatchNorm running statistics.
    let trainable = model.parameters.map(\.name).filter { !isRunningStatistic($0) }
    let runningStatistics = model.parameters.map(\.name).filter(isRunningStatistic)

    // The no-decay rule: timm's, as locus_ref/train.py states it.
    XCTAssertEqual(Set(trainable.filter { !artifact.decays($0) }), Set(fixture.noDecay),
                   "\(spec): parameters without weight decay (left: Locus, right: PyTorch)")

    let (beta1, beta2, eps, weightDecay) = fixture.adamW
    let trainer = try Trainer(
      model: model, optimizer: .adamW(beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay),
      maxGradNorm: nil, decays: artifact.decays)

    // MARK: 1. Loss and gradients of one train-mode pass.

    let pass = try images.values.withUnsafeBufferPointer { x in
      try targets.withUnsafeBufferPointer { t in try trainer.computeGradients(images: x, targets: t) }
    }
    let lossReference = try fixture.npy("loss.npy")
    let loss = Deviation.of([pass.loss], lossReference.values, rtol: fixture.rtol, atol: fixture.atol, what: "\(spec) loss")
    XCTAssertTrue(loss.ok, loss.description)

    let gradients = try SafeTensorsFile.read(path: fixture.path("grads.safetensors"))
    let fixtureNames = Set(gradients.names).union(fixture.gradsOmitted)
    XCTAssertEqual(Set(trainable), fixtureNames, "\(spec): gradient names (left: Locus's trainable parameters, right: PyTorch's)")
    let gradientOutputs = model.outputs.map(\.name).filter { $0.hasPrefix("grad:") }.map { String($0.dropFirst(5)) }
    XCTAssertTrue(Set(gradientOutputs).isSubset(of: fixtureNames), "\(spec): gradient outputs of no trainable parameter: \(Set(gradientOutputs).subtracting(fixtureNames).sorted())")

    var gradientDeviations: [Deviation] = []
    var referenceGradients: [String: [Float]] = [:]
    for name in gradients.names {
      let reference = try gradients.floats(name)
      referenceGradients[name] = reference
      guard let ours = trainer.gradient(name) else {
        XCTFail("\(spec): no parameter '\(name)' in the training library")
        continue
      }
      // Zero references (zero_grads) get max|ref| = 0, so the bound is atol alone.
      gradientDeviations.append(Deviation.of(ours, reference, rtol: fixture.rtol, atol: fixture.atol, what: "\(spec) grad \(name)"))
    }
    for d in gradientDeviations where !d.ok { XCTFail(d.description) }
    XCTAssertEqual(Set(fixture.zeroGrads), Set(referenceGradients.filter { $0.value.allSatisfy { $0 == 0 } }.keys),
                   "\(spec): config.json's zero_grads are the all-zero tensors of grads.safetensors")

    // Gradients left out of grads.safetensors (SAG's stage-1 pos_emb) come as sum, sum of squares and
    // max |g|. The per-element criterion |Δ| <= tol = atol + rtol·abs_max implies |Δ abs_max| <= tol,
    // |Δ sum| <= numel·tol and |Δ sumsq| <= 2·tol·sqrt(numel·sumsq) + numel·tol² (Cauchy–Schwarz), so
    // these bounds cannot fail a gradient the stored form would pass.
    var omittedDeviations: [Deviation] = []
    if !fixture.gradsOmitted.isEmpty {
      let checksums = try fixture.json("grad_checksums.json")
      for name in fixture.gradsOmitted {
        let want = try XCTUnwrap(checksums[name] as? [String: Double], "\(spec): grad_checksums.json has no '\(name)'")
        let ours = try XCTUnwrap(trainer.gradient(name), "\(spec): no parameter '\(name)'")
        let n = Double(ours.count), tol = fixture.atol + fixture.rtol * want["abs_max"]!
        XCTAssertEqual(ours.count, Int(want["numel"]!), "\(spec) grad \(name): element count")
        let (sum, sumsq) = sums(ours)
        let absMax = Double(ours.map(abs).max() ?? 0)
        for (key, got, bound) in [("abs_max", absMax, tol), ("sum", sum, n * tol),
                                  ("sumsq", sumsq, 2 * tol * (n * want["sumsq"]!).squareRoot() + n * tol * tol)] {
          let d = Deviation(name: "\(spec) grad \(name) \(key)", index: -1, got: got, want: want[key]!,
                            scale: abs(want[key]!), bound: bound)
          XCTAssertTrue(d.ok, d.description)
          omittedDeviations.append(d)
        }
      }
    }

    // MARK: 2 and 3. AdamW steps; running statistics after the first.

    let initial = Dictionary(uniqueKeysWithValues: try trainable.map { ($0, try weights.floats($0)) })
    let statisticsFile = fixture.path("running_stats.safetensors")
    let hasStatistics = FileManager.default.fileExists(atPath: statisticsFile)
    var statisticDeviations: [Deviation] = []
    var losses: [Float] = []
    // BatchNorms right after a bias whose reference gradient has exact zeros (CeiT's LeFF convs):
    // running_mean → (bias, which of its elements have a zero reference gradient), and the bias's
    // values before each step (see the buffer checksums below).
    let noisyBiases = biasesBeforeBatchNorms(artifact.inference).compactMapValues { bias -> (String, [Bool])? in
      guard let g = referenceGradients[bias], g.contains(0) else { return nil }
      return (bias, g.map { $0 == 0 })
    }
    var biasHistory: [String: [[Float]]] = [:]
    for step in 0..<fixture.steps {
      for (bias, _) in noisyBiases.values { biasHistory[bias, default: []].append(try XCTUnwrap(model.weights?.values(named: bias))) }
      let result = try images.values.withUnsafeBufferPointer { x in
        try targets.withUnsafeBufferPointer { t in try trainer.step(images: x, targets: t, learningRate: fixture.learningRate) }
      }
      losses.append(result.loss)
      guard step == 0 else { continue }
      XCTAssertEqual(result.loss, pass.loss, "\(spec): the first step's loss is the gradient pass's")
      let store = try XCTUnwrap(model.weights)
      if hasStatistics {
        let reference = try SafeTensorsFile.read(path: statisticsFile)
        XCTAssertEqual(Set(runningStatistics), Set(reference.names), "\(spec): running statistics (left: Locus, right: PyTorch)")
        for name in reference.names {
          guard let ours = store.values(named: name) else { continue }
          let d = Deviation.of(ours, try reference.floats(name), rtol: fixture.rtol, atol: fixture.atol, what: "\(spec) \(name) after 1 step")
          XCTAssertTrue(d.ok, d.description)
          statisticDeviations.append(d)
        }
      } else {
        XCTAssertEqual(runningStatistics, [], "\(spec): running statistics without a PyTorch reference")
      }
    }

    // The losses before each step: per tensor, like the gradients, with atol 0 (the script's rule).
    let lossesReference = try fixture.npy("adamw_losses.npy")
    let adamLosses = Deviation.of(losses, lossesReference.values, rtol: fixture.adamwRtol, atol: 0, what: "\(spec) AdamW losses")
    XCTAssertTrue(adamLosses.ok, adamLosses.description + "; Locus \(losses), PyTorch \(lossesReference.values)")

    // Checksums after the steps, as make_train_fixtures.checksum_err compares them: |ours − ref| <=
    // tol · scale with scale(sum) = sqrt(count · sumsq) and scale(sumsq) = sumsq. sqrt(count · sumsq)
    // bounds |sum| (Cauchy–Schwarz), so it is the floor a sum needs: a sum of ±values that nearly
    // cancel is held to its elements' magnitude, not to its own (possibly tiny) value. Sums run over
    // the `count` elements whose reference gradient is nonzero: Adam turns an exactly-zero gradient's
    // rounding noise into steps of up to lr. `checksum_rtol` holds sum/sumsq of the final weights,
    // `delta_rtol` those of final − initial (the script's documented use; the change is ~lr·steps,
    // much smaller than the weights, so it gets a looser relative tolerance but a far smaller scale).
    let checksums = try fixture.json("adamw_checksums.json")
    let store = try XCTUnwrap(model.weights)
    var checksumDeviations: [Deviation] = [], deltaDeviations: [Deviation] = []
    var noiseCorrections: [(name: String, largest: Double)] = []
    XCTAssertEqual(Set(checksums.keys), Set(trainable).union(runningStatistics), "\(spec): adamw_checksums.json entries")
    for name in checksums.keys.sorted() {
      guard let want = checksums[name] as? [String: Double], let final = store.values(named: name) else {
        XCTFail("\(spec): no parameter '\(name)' for adamw_checksums.json"); continue
      }
      if want["count"] == nil {
        // A buffer (BatchNorm running statistics after the 5 forwards): sum and sumsq over every element.
        // A running mean right after a bias with exactly-zero reference gradients moves with that bias:
        // the same float32 rounding noise Adam turns into steps of the masked weights (see above) shifts
        // the BatchNorm's batch mean by exactly the bias's change (it cancels in the normalized output,
        // so nothing else sees it; PyTorch's own float32 run misses ceit_tiny's blocks.0.leff.bn3 mean
        // checksum by 1.7e-4 of its scale). Such elements' change is subtracted as it enters the running
        // mean, Σ_t m(1−m)^(T−1−t)·(b_t − b_0), which leaves the float64 run's trajectory to compare.
        var values = final.map(Double.init)
        if let (bias, masked) = noisyBiases[name], let history = biasHistory[bias], masked.count == values.count {
          let m = Double(trainer.momentum), steps = history.count
          for (t, b) in history.enumerated() {
            let weight = m * pow(1 - m, Double(steps - 1 - t))
            for c in values.indices where masked[c] { values[c] -= weight * (Double(b[c]) - Double(history[0][c])) }
          }
          noiseCorrections.append((name, zip(values, final).map { abs($0 - Double($1)) }.max() ?? 0))
        }
        let (sum, sumsq) = sums(values)
        checksumDeviations += Deviation.checksums(name: "\(spec) \(name) after \(fixture.steps) steps", sum: sum, sumsq: sumsq,
                                                  want: want, prefix: "", count: Double(final.count), rtol: fixture.checksumRtol)
        continue
      }
      let count = Int(want["count"]!)
      let mask: [Bool]
      if let g = referenceGradients[name] {
        mask = g.map { $0 != 0 }
      } else {
        // An omitted gradient: its checksum must cover every element, or the mask is unknown.
        XCTAssertEqual(count, final.count, "\(spec) \(name): masked checksum of an omitted gradient")
        mask = Array(repeating: true, count: final.count)
      }
      XCTAssertEqual(mask.filter { $0 }.count, count, "\(spec) \(name): nonzero reference gradient elements vs the checksum's count")
      let before = initial[name]!
      var kept: [Double] = [], delta: [Double] = []
      for i in final.indices where mask[i] {
        kept.append(Double(final[i]))
        delta.append(Double(final[i]) - Double(before[i]))
      }
      let (sum, sumsq) = sums(kept), (dsum, dsumsq) = sums(delta)
      checksumDeviations += Deviation.checksums(name: "\(spec) \(name) after \(fixture.steps) steps", sum: sum, sumsq: sumsq,
                                                want: want, prefix: "", count: Double(count), rtol: fixture.checksumRtol)
      deltaDeviations += Deviation.checksums(name: "\(spec) \(name) after \(fixture.steps) steps", sum: dsum, sumsq: dsumsq,
                                             want: want, prefix: "delta_", count: Double(count), rtol: fixture.deltaRtol)
    }
    for d in checksumDeviations + deltaDeviations where !d.ok { XCTFail(d.description) }

    // One line per spec with the worst relative error of each check (the deviation over its scale)
    // and, in brackets, the worst fraction of its tolerance used.
    func worst(_ ds: [Deviation]) -> String {
      guard let w = ds.max(by: { $0.relative < $1.relative }) else { return "-" }
      let used = ds.map(\.used).max() ?? 0
      return String(format: "%.1e [%.2f] (%@)", w.relative, used, w.short)
    }
    print("\(spec): loss \(worst([loss]))  grads \(worst(gradientDeviations))"
          + (omittedDeviations.isEmpty ? "" : "  omitted grads \(worst(omittedDeviations))") + "  stats \(worst(statisticDeviations))  "
          + "adamw losses \(worst([adamLosses]))  checksums \(worst(checksumDeviations))  deltas \(worst(deltaDeviations))  "
          + String(format: "%.1f s", Date().timeIntervalSince(start))
          + (noiseCorrections.isEmpty ? "" : "  bias-noise corrections: " + noiseCorrections.map { String(format: "%@ %.1e", $0.name, $0.largest) }.joined(separator: ", ")))
  }
}

/// One `Fixtures/<spec>/train/` folder and its config.json.
struct TrainingFixture {
  var base: Fixture
  var directory: URL
  var batch: Int
  var labelSmoothing: Float
  var learningRate: Float
  var adamW: (beta1: Float, beta2: Float, eps: Float, weightDecay: Float)
  var steps: Int
  var rtol, atol, adamwRtol, checksumRtol, deltaRtol: Double
  var noDecay, zeroGrads, gradsOmitted: [String]

  static func all() throws -> [TrainingFixture] {
    try Fixture.all().compactMap { base in
      let directory = base.directory.appendingPathComponent("train")
      guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("config.json").path) else { return nil }
      return try TrainingFixture(base: base, directory: directory)
    }
  }

  init(base: Fixture, directory: URL) throws {
    self.base = base
    self.directory = directory
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json"))) as? [String: Any] ?? [:]
    func number(_ key: String, in object: [String: Any] = json) throws -> Double {
      try XCTUnwrap((object[key] as? NSNumber)?.doubleValue, "\(directory.path)/config.json: no number '\(key)'")
    }
    func names(_ key: String) throws -> [String] {
      try XCTUnwrap(json[key] as? [String], "\(directory.path)/config.json: no list '\(key)'")
    }
    let set = json["set"] as? [String: Any] ?? [:]
    XCTAssertEqual(set.keys.sorted().map { "\($0)=\(set[$0]!)" }, base.overrides.map { "\($0.name)=\($0.value)" },
                   "\(base.spec): the training fixture's configuration is the inference fixture's")
    let optimizer = try XCTUnwrap(json["optimizer"] as? [String: Any], "\(directory.path)/config.json: no optimizer")
    XCTAssertEqual(optimizer["kind"] as? String, "adamw")
    batch = Int(try number("batch"))
    labelSmoothing = Float(try number("label_smoothing"))
    learningRate = Float(try number("lr", in: optimizer))
    adamW = (Float(try number("beta1", in: optimizer)), Float(try number("beta2", in: optimizer)),
             Float(try number("eps", in: optimizer)), Float(try number("weight_decay", in: optimizer)))
    steps = Int(try number("steps"))
    rtol = try number("rtol")
    atol = try number("atol")
    adamwRtol = try number("adamw_rtol")
    checksumRtol = try number("checksum_rtol")
    deltaRtol = try number("delta_rtol")
    noDecay = try names("no_decay")
    zeroGrads = try names("zero_grads")
    gradsOmitted = json["grads_omitted"] as? [String] ?? []
  }

  var spec: String { base.spec }
  var request: CompileRequest { base.request(batch: batch) }
  func path(_ file: String) -> String { directory.appendingPathComponent(file).path }
  func npy(_ file: String) throws -> NpyArray { try Npy.read(path: path(file)) }
  func json(_ file: String) throws -> [String: Any] {
    try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(file))) as? [String: Any])
  }
}

/// The worst element of a comparison `|got − want| <= bound`, with what a failure message needs.
struct Deviation {
  var name: String
  /// Element index (-1 for a scalar checksum).
  var index: Int
  var got: Double
  var want: Double
  /// What the relative error is relative to: max |reference| of the tensor, or a checksum's scale.
  var scale: Double
  var bound: Double

  var diff: Double { abs(got - want) }
  var ok: Bool { diff <= bound }  // NaN fails
  var relative: Double { scale > 0 ? diff / scale : diff }
  /// diff / bound (infinite for a nonzero diff against a zero bound).
  var used: Double { bound > 0 ? diff / bound : (diff == 0 ? 0 : .infinity) }
  var short: String { index >= 0 ? "\(name)[\(index)]" : name }
  var description: String {
    "\(short): got \(got), expected \(want), |Δ| = \(diff) > bound \(bound) (scale \(scale), relative \(relative))"
  }

  /// Per tensor: max |got − want| <= atol + rtol · max |want|, reporting the worst element.
  static func of(_ got: [Float], _ want: [Float], rtol: Double, atol: Double, what: String) -> Deviation {
    let scale = Double(want.map(abs).max() ?? 0)
    let bound = atol + rtol * scale
    guard got.count == want.count else {
      return Deviation(name: "\(what) (\(got.count) values, expected \(want.count))", index: -1, got: .nan, want: 0, scale: scale, bound: bound)
    }
    var worst = 0, worstDiff = -1.0
    for i in got.indices {
      let d = abs(Double(got[i]) - Double(want[i]))
      if !(d <= worstDiff) { worst = i; worstDiff = d }  // NaN counts as worst
    }
    return Deviation(name: what, index: got.isEmpty ? -1 : worst, got: got.isEmpty ? 0 : Double(got[worst]),
                     want: want.isEmpty ? 0 : Double(want[worst]), scale: scale, bound: bound)
  }

  /// `<prefix>sum` and `<prefix>sumsq` against `want`: scale(sum) = sqrt(count · sumsq), scale(sumsq) =
  /// sumsq, bound = rtol · scale (a zero scale, count 0, demands an exact 0).
  static func checksums(name: String, sum: Double, sumsq: Double, want: [String: Double], prefix: String,
                        count: Double, rtol: Double) -> [Deviation] {
    let wantSum = want[prefix + "sum"] ?? .nan, wantSumsq = want[prefix + "sumsq"] ?? .nan
    let sumScale = (count * wantSumsq).squareRoot()
    return [
      Deviation(name: "\(name) \(prefix)sum", index: -1, got: sum, want: wantSum, scale: sumScale, bound: rtol * sumScale),
      Deviation(name: "\(name) \(prefix)sumsq", index: -1, got: sumsq, want: wantSumsq, scale: wantSumsq, bound: rtol * wantSumsq),
    ]
  }
}

/// running_mean name → the bias added right before its BatchNorm: the bias of a conv2d or linear
/// that feeds the BatchNorm directly or through views.
private func biasesBeforeBatchNorms(_ graph: Graph) -> [String: String] {
  func parameterName(_ v: ValueID) -> String? {
    if case .parameter(let name) = graph[v].op { return name }
    return nil
  }
  func isView(_ op: Op) -> Bool {
    switch op {
    case .reshape, .transpose, .seq2img, .img2seq: true
    default: false
    }
  }
  var biases: [String: String] = [:]
  for node in graph.nodes {
    guard case .batchnorm = node.op, node.operands.count == 5, let mean = parameterName(node.operands[3]) else { continue }
    var x = graph[node.operands[0]]
    while isView(x.op) { x = graph[x.operands[0]] }
    switch x.op {
    case .conv2d, .linear(hasBias: true):
      if x.operands.count == 3, let bias = parameterName(x.operands[2]) { biases[mean] = bias }
    default: break
    }
  }
  return biases
}

/// Sum and sum of squares in float64.
private func sums(_ values: [Float]) -> (Double, Double) { sums(values.map(Double.init)) }

private func sums(_ values: [Double]) -> (Double, Double) {
  var s = 0.0, q = 0.0
  for d in values {
    s += d
    q += d * d
  }
  return (s, q)
}

private func isRunningStatistic(_ name: String) -> Bool { name.hasSuffix("running_mean") || name.hasSuffix("running_var") }
