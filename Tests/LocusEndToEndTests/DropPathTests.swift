import Foundation
import XCTest
import LocusDriver
import LocusIR
import LocusRuntime
import LocusTraining

/// Stochastic depth against PyTorch (scripts/reference/make_drop_path_fixtures.py): deit_tiny (masks on
/// attention and MLP) and ceit_tiny (attention and LeFF) at the tiny size, drop_path_rate 0.5 so the
/// second block's branches drop half the samples. The fixture holds the masks the script drew with
/// its own copy of the hash: the trainer must draw the same ones, and the loss and every gradient of
/// one train-mode pass with them must match PyTorch's float64 run (per tensor max|Δ| ≤ rtol·max|ref| +
/// atol, rtol 1e-4, atol 1e-6). Then drop-path off (no seed) must give the train/ fixture's loss.
final class DropPathTests: XCTestCase {
  /// The mask names the compiler writes (LocusIR's DropPath) are the ones the runtime reads back.
  func testRuntimeReadsTheCompilersMaskNames() {
    let names = ["x", DropPath.inputName(index: 3, rate: 0.25), DropPath.inputName(index: 0, rate: 0.1), "drop_path:bad"]
    let masks = DropPathMasks(inputs: names).masks
    XCTAssertEqual(masks.map(\.input), [1, 2])
    XCTAssertEqual(masks.map(\.index), [3, 0])
    XCTAssertEqual(masks.map(\.rate), [0.25, 0.1])
  }

  func testDropPathMatchesPyTorch() throws {
    for spec in ["deit_tiny", "ceit_tiny"] { try check(spec) }
  }

  private func check(_ spec: String) throws {
    let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(spec)
    let folder = root.appendingPathComponent("drop_path")
    let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("config.json"))) as? [String: Any])
    let set = try XCTUnwrap(config["set"] as? [String: Any])
    let seed = try XCTUnwrap(config["seed"] as? Int), step = try XCTUnwrap(config["step"] as? Int)
    let masks = try XCTUnwrap(config["masks"] as? [[Double]])
    let rtol = try XCTUnwrap(config["rtol"] as? Double), atol = try XCTUnwrap(config["atol"] as? Double)
    XCTAssertEqual(step, 1, "the fixture's masks are those of the first step")

    let request = CompileRequest(specPath: repositoryRoot().appendingPathComponent("specs/\(spec).locus").path, batch: 4,
                                 overrides: set.keys.sorted().map { ($0, "\(set[$0]!)") })
    let artifact = try Driver.compileTraining(request)
    let model = try Driver.load(artifact)
    try model.bindWeights(try SafeTensorsFile.read(path: root.appendingPathComponent("weights.safetensors").path))

    // The masks: one input per live drop_path, drawn as the script drew them.
    let maskInputs = DropPathMasks(inputs: model.inputs.map(\.name)).masks
    XCTAssertEqual(maskInputs.count, masks.count, "\(spec): mask inputs \(model.inputs.map(\.name))")
    for (m, want) in zip(maskInputs, masks) {
      let got = DropPathMasks.values(seed: UInt64(seed), step: step, index: m.index, rate: m.rate, batch: 4)
      XCTAssertEqual(got, want.map(Float.init), "\(spec): mask \(m.index) (rate \(m.rate))")
    }

    let images = try Npy.read(path: root.appendingPathComponent("train/input.npy").path)
    let labels = try Npy.read(path: root.appendingPathComponent("train/labels.npy").path)
    let trainer = try Trainer(model: model, optimizer: .sgd(momentum: 0), decays: artifact.decays)
    let targets = try LabelSmoothing.targets(labels: labels.values.map { Int32($0) }, classes: trainer.classes, smoothing: 0.1)
    trainer.dropPathSeed = UInt64(seed)
    let pass = try trainer.computeGradients(images: images.values, targets: targets)

    let lossReference = try Npy.read(path: folder.appendingPathComponent("loss.npy").path)
    let loss = Deviation.of([pass.loss], lossReference.values, rtol: rtol, atol: atol, what: "\(spec) loss")
    XCTAssertTrue(loss.ok, loss.description)
    let gradients = try SafeTensorsFile.read(path: folder.appendingPathComponent("grads.safetensors").path)
    var worst: Deviation?
    for name in gradients.names {
      let d = Deviation.of(try XCTUnwrap(trainer.gradient(name), name), try gradients.floats(name), rtol: rtol, atol: atol, what: name)
      XCTAssertTrue(d.ok, "\(spec): \(d.description)")
      if worst.map({ d.used > $0.used }) ?? true { worst = d }
    }
    XCTAssertEqual(Set(gradients.names), Set(trainer.trainableParameters), "\(spec): gradient names")
    if let worst { print("\(spec) drop-path: loss \(pass.loss) (ref \(lossReference.values[0])); worst gradient \(worst.short) relative \(worst.relative) (rtol \(rtol))") }

    // Off: every mask is 1, so the pass is the plain train-mode one of train/.
    trainer.dropPathSeed = nil
    let plain = try trainer.computeGradients(images: images.values, targets: targets)
    let plainReference = try Npy.read(path: root.appendingPathComponent("train/loss.npy").path)
    let off = Deviation.of([plain.loss], plainReference.values, rtol: rtol, atol: atol, what: "\(spec) loss without drop-path")
    XCTAssertTrue(off.ok, off.description)
  }

  /// Over many draws the dropped fraction is the rate, and kept samples are scaled by 1/keep.
  func testMaskStatistics() {
    var dropped = 0, total = 0
    for step in 1...200 {
      let m = DropPathMasks.values(seed: 7, step: step, index: 3, rate: 0.25, batch: 64)
      dropped += m.filter { $0 == 0 }.count
      total += m.count
      XCTAssertTrue(m.allSatisfy { $0 == 0 || $0 == 1 / Float(0.75) })
    }
    let fraction = Double(dropped) / Double(total)  // 12,800 Bernoulli(0.25) draws: σ ≈ 0.0038
    XCTAssertEqual(fraction, 0.25, accuracy: 0.02, "dropped fraction")
    XCTAssertEqual(DropPathMasks.values(seed: nil, step: 1, index: 0, rate: 0.5, batch: 3), [1, 1, 1], "off means all ones")
    XCTAssertNotEqual(DropPathMasks.values(seed: 7, step: 1, index: 0, rate: 0.5, batch: 32),
                      DropPathMasks.values(seed: 7, step: 2, index: 0, rate: 0.5, batch: 32), "each step draws anew")
  }
}
