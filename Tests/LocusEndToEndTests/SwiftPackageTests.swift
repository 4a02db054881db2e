import Foundation
import XCTest
import LocusDriver
import LocusRuntime

/// `locus compile --emit swift-package` as apps use it:
/// 1. a consumer package depending on the generated package *by version* (a git repository tagged
///    1.0.0, `.package(url:from:)`): it builds (so no unsafe flags leak: SwiftPM refuses them in
///    versioned dependencies), and its predictions and three AdamW steps equal the compiler's own
///    library and `Trainer` on the same weights and data. The model is a tiny DeiT with
///    drop_path_rate 0.5, so the steps also hold the C context's drop-path masks (seed 3) to the
///    Swift trainer's;
/// 2. Examples/FashionApp on a generated package: it prints the accuracy `locus eval` prints for the
///    same weights and test images.
final class SwiftPackageTests: XCTestCase {
  let tiny = ["--set", "dim=16", "--set", "depth=1", "--set", "reduction=16"]
  var scratch: URL!

  override func setUpWithError() throws {
    scratch = FileManager.default.temporaryDirectory.appendingPathComponent("locus-swiftpkg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

  func testVersionedDependencyMatchesTheCompiler() throws {
    let deit = ["--set", "dim=32", "--set", "depth=2", "--set", "heads=2", "--set", "image=32", "--set", "patch=8",
                "--set", "classes=10", "--set", "drop_path_rate=0.5"]
    let package = scratch.appendingPathComponent("TinyDeiT")
    let weights = scratch.appendingPathComponent("w.safetensors").path
    for args in [["init", "specs/deit_tiny.locus"] + deit + ["--seed", "3", "-o", weights],
                 ["compile", "specs/deit_tiny.locus"] + deit + ["--emit", "swift-package", "--batch", "2", "--train-batch", "4", "-o", package.path]] {
      let r = try runLocus(args)
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    for argv in [["init", "-q"], ["add", "-A"], ["-c", "user.email=ci@locus", "-c", "user.name=ci", "commit", "-qm", "generated"], ["tag", "1.0.0"]] {
      let r = try CLibrarySupport.run(["/usr/bin/env", "git"] + argv, in: package)
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    let app = scratch.appendingPathComponent("App")
    try write(app.appendingPathComponent("Package.swift"), """
      // swift-tools-version:6.0
      import PackageDescription
      let package = Package(
        name: "App", platforms: [.macOS(.v13)],
        dependencies: [.package(url: "\(package.absoluteString)", from: "1.0.0")],
        targets: [.executableTarget(name: "App", dependencies: [.product(name: "TinyDeiT", package: "TinyDeiT")])])
      """)
    try write(app.appendingPathComponent("Sources/App/main.swift"), """
      import Foundation
      import TinyDeiT
      \(Self.imagesFunction)
      // Three images, batch 2 compiled: predict must run two chunks, the second padded.
      let x = \(Self.images(3 * 3072))
      let model = try TinyDeiT(weights: URL(fileURLWithPath: "\(weights)"))
      let logits: [Float] = try model.predict(x)
      print("logits", logits.map { (v: Float) -> String in String(v.bitPattern) }.joined(separator: " "))
      let trainer = try TinyDeiT.Trainer(weights: URL(fileURLWithPath: "\(weights)"), optimizer: .adamW(lr: 1e-3), seed: 3)
      let xb = \(Self.images(4 * 3072, salt: 1))
      for _ in 0..<3 {
        let loss: Float = try trainer.step(images: xb, labels: [3, 1, 4, 1])
        print("loss", loss.bitPattern)
      }
      do { _ = try model.predict([1, 2]); print("no error") } catch { print("error", error) }
      print("facts", TinyDeiT.inputShape, TinyDeiT.classes, TinyDeiT.compiledBatch, TinyDeiT.trainingBatch, TinyDeiT.parameters.count)
      """)
    let build = try CLibrarySupport.run(["/usr/bin/env", "swift", "build", "--package-path", app.path])
    XCTAssertEqual(build.status, 0, build.stdout + build.stderr)
    let run = try CLibrarySupport.run([app.appendingPathComponent(".build/debug/App").path])
    XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
    let lines = run.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    let logits = try XCTUnwrap(lines.first { $0.first == "logits" }).dropFirst().compactMap { UInt32($0).map(Float.init(bitPattern:)) }
    let losses = lines.filter { $0.first == "loss" }.compactMap { $0.last.flatMap(UInt32.init).map(Float.init(bitPattern:)) }

    // The compiler's own library and trainer on the same weights and data.
    let request = CompileRequest(specPath: repositoryRoot().appendingPathComponent("specs/deit_tiny.locus").path, batch: 3,
                                 overrides: stride(from: 1, to: deit.count, by: 2).map { i in
                                   let pair = deit[i].split(separator: "=")
                                   return (String(pair[0]), String(pair[1]))
                                 })
    let bound = try SafeTensorsFile.read(path: weights)
    let model = try Driver.load(Driver.compile(request))
    try model.bindWeights(bound)
    let reference = try model.run(inputs: [Self.values(3 * 3072)])[0]
    XCTAssertEqual(logits.count, reference.count, "logits of 3 images")
    let scale = reference.map(abs).max() ?? 0
    let worst = zip(logits, reference).map { abs($0 - $1) }.max() ?? .infinity
    XCTAssertLessThanOrEqual(worst, 1e-5 * scale, "predict vs the compiler's library: worst |Δ| \(worst), scale \(scale), tolerance 1e-5 relative")

    var training = request
    training.batch = 4
    let artifact = try Driver.compileTraining(training)
    let trainModel = try Driver.load(artifact)
    try trainModel.bindWeights(bound)
    let trainer = try Trainer(model: trainModel, optimizer: .adamW(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05), decays: artifact.decays)
    trainer.dropPathSeed = 3
    XCTAssertEqual(trainModel.inputs.filter { $0.name.hasPrefix("drop_path:") }.count, 2, "block 1's two branches have masks")
    var targets = [Float](repeating: 0, count: 40)
    for (b, label) in [3, 1, 4, 1].enumerated() { targets[b * 10 + label] = 1 }
    let expected = try (0..<3).map { _ in try trainer.step(images: Self.values(4 * 3072, salt: 1), targets: targets, learningRate: 1e-3).loss }
    XCTAssertEqual(losses.count, 3, run.stdout)
    for (got, want) in zip(losses, expected) {
      XCTAssertEqual(got, want, accuracy: 1e-5 * abs(want), "AdamW losses: package \(losses), Trainer \(expected) (tolerance 1e-5 relative)")
    }
    XCTAssertTrue(run.stdout.contains("error predict: expected a multiple of 3072 floats"), run.stdout)
    XCTAssertTrue(run.stdout.contains("facts [3, 32, 32] 10 2 4 \(model.parameters.count)"), run.stdout)
  }

  func testFashionAppPrintsTheAccuracyOfLocusEval() throws {
    try requireFashionMNIST()
    let run = scratch.appendingPathComponent("run").path
    let train = try runLocus(["train", "specs/localvit_fmnist.locus"] + tiny + ["--limit-train", "512", "--limit-test", "100", "--batch", "32",
                              "--eval-batch", "100", "--epochs", "1", "--out", run])
    XCTAssertEqual(train.status, 0, train.stderr)
    let weights = run + "/weights.safetensors"

    // The example as committed (its sources and manifest), on a package generated for the tiny model.
    let app = scratch.appendingPathComponent("FashionApp")
    try FileManager.default.copyItem(at: repositoryRoot().appendingPathComponent("Examples/FashionApp/Sources"), to: app.appendingPathComponent("Sources"))
    try FileManager.default.copyItem(at: repositoryRoot().appendingPathComponent("Examples/FashionApp/Package.swift"), to: app.appendingPathComponent("Package.swift"))
    let generate = try runLocus(["compile", "specs/localvit_fmnist.locus"] + tiny + ["--emit", "swift-package", "--batch", "100", "--train-batch", "0",
                                 "-o", app.appendingPathComponent("Gen/LocalViTFMNIST").path])
    XCTAssertEqual(generate.status, 0, generate.stderr)
    let build = try CLibrarySupport.run(["/usr/bin/env", "swift", "build", "--package-path", app.path])
    XCTAssertEqual(build.status, 0, build.stdout + build.stderr)
    let demo = try CLibrarySupport.run([app.appendingPathComponent(".build/debug/FashionApp").path, "--weights", weights, "--limit", "300"])
    XCTAssertEqual(demo.status, 0, demo.stdout + demo.stderr)
    let eval = try runLocus(["eval", "specs/localvit_fmnist.locus"] + tiny + ["--limit-test", "300", "--batch", "100", "--weights", weights])
    XCTAssertEqual(eval.status, 0, eval.stderr)
    let appLine = try XCTUnwrap(accuracyLine(demo.stdout), demo.stdout), evalLine = try XCTUnwrap(accuracyLine(eval.stdout), eval.stdout)
    XCTAssertEqual(appLine, evalLine)
    XCTAssertTrue(demo.stdout.contains("image 0: "), demo.stdout)

    let missing = try CLibrarySupport.run([app.appendingPathComponent(".build/debug/FashionApp").path, "--weights", scratch.appendingPathComponent("none").path])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("FashionApp: error:") && missing.stderr.contains("none"), missing.stderr)
  }

  /// `-o` replaces only what Locus wrote: a file or someone's folder is refused untouched, and a
  /// regenerated output keeps its hidden entries (a package's .git when consumed by version).
  func testOutputFolderIsReplacedOnlyWhenLocusWroteIt() throws {
    let fm = FileManager.default
    let project = scratch.appendingPathComponent("project"), file = scratch.appendingPathComponent("file.txt")
    try write(project.appendingPathComponent("main.c"), "int main(void) { return 0; }\n")
    try write(file, "notes\n")
    let emit = ["compile", "specs/localvit_fmnist.locus"] + tiny + ["--emit", "c-sources", "-o"]
    for (target, message) in [(project, "is a folder Locus did not write"), (file, "exists and is not a folder")] {
      let r = try runLocus(emit + [target.path])
      XCTAssertNotEqual(r.status, 0, "\(target.path) must be refused")
      XCTAssertTrue(r.stderr.contains(message), r.stderr)
    }
    XCTAssertEqual(try String(contentsOf: project.appendingPathComponent("main.c"), encoding: .utf8), "int main(void) { return 0; }\n")
    XCTAssertEqual(try fm.contentsOfDirectory(atPath: project.path), ["main.c"])
    XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "notes\n")

    let output = scratch.appendingPathComponent("sources")
    XCTAssertEqual(try runLocus(emit + [output.path]).status, 0)
    try write(output.appendingPathComponent(".git/HEAD"), "ref: refs/heads/main\n")
    let again = try runLocus(emit + [output.path])
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertTrue(fm.fileExists(atPath: output.appendingPathComponent(".git/HEAD").path), "hidden entries survive a regeneration")
    XCTAssertTrue(fm.fileExists(atPath: output.appendingPathComponent("src/localvit_fmnist.c").path))
  }

  /// Deterministic pseudo-images: the literal for the app's source and the same values here.
  static func values(_ n: Int, salt: Int = 0) -> [Float] { (0..<n).map { Float(($0 * 7919 + salt * 104_729) % 401) / 200 - 1 } }
  static func images(_ n: Int, salt: Int = 0) -> String { "images(\(n), salt: \(salt))" }
  static let imagesFunction = """
    func images(_ n: Int, salt: Int) -> [Float] {
      (0..<n).map { (i: Int) -> Float in Float((i * 7919 + salt * 104_729) % 401) / 200 - 1 }
    }
    """

  private func write(_ url: URL, _ text: String) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try text.write(to: url, atomically: true, encoding: .utf8)
  }
}
