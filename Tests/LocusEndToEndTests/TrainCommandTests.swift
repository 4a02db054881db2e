import Foundation
import LocusRuntime
import XCTest

/// `locus train`, `eval` and `grad` as a user runs them, on a tiny LocalViT and a few hundred
/// Fashion-MNIST images (Debian's dataset-fashion-mnist, which CI installs).
final class TrainCommandTests: XCTestCase {
  var scratch: URL!
  static let tiny = ["--set", "dim=16", "--set", "depth=1", "--set", "reduction=16"]
  static let small = ["--limit-train", "256", "--limit-test", "200", "--batch", "32", "--eval-batch", "100"]

  override func setUpWithError() throws {
    scratch = FileManager.default.temporaryDirectory.appendingPathComponent("locus-train-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(at: scratch)
  }

  func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

  func requireDataset() throws {
    guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
      let message = "Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist)"
      if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message); throw CancellationError() }
      throw XCTSkip(message)
    }
  }

  func train(_ out: String, _ extra: [String]) throws -> LocusResult {
    try runLocus(["train", "specs/localvit_fmnist.locus"] + Self.tiny + Self.small + ["--epochs", "2", "--out", out] + extra)
  }

  /// Two epochs straight, and one epoch then `--resume`, end with identical weights and metrics
  /// (the kernels are deterministic and the batches are a function of seed and epoch).
  func testResumeMatchesAnUninterruptedRun() throws {
    try requireDataset()
    let straight = try train(path("a"), [])
    XCTAssertEqual(straight.status, 0, straight.stderr)
    let first = try train(path("b"), ["--stop-after", "1"])
    XCTAssertEqual(first.status, 0, first.stderr)
    let second = try train(path("b"), ["--resume"])
    XCTAssertEqual(second.status, 0, second.stderr)
    XCTAssertTrue(second.stderr.contains("resuming"), second.stderr)

    let a = try SafeTensorsFile.read(path: path("a/weights.safetensors")), b = try SafeTensorsFile.read(path: path("b/weights.safetensors"))
    XCTAssertEqual(a.names.sorted(), b.names.sorted())
    for name in a.names {
      XCTAssertEqual(try a.floats(name), try b.floats(name), "\(name) differs between the straight and the resumed run")
    }
    let metricsA = try metrics(path("a")), metricsB = try metrics(path("b"))
    XCTAssertEqual(metricsA.map(\.accuracy), metricsB.map(\.accuracy))
    XCTAssertEqual(metricsA.map(\.loss), metricsB.map(\.loss))
    XCTAssertEqual(metricsA.count, 2)
    for file in ["metrics.csv", "metrics.json", "curves.svg", "weights.safetensors"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: path("a/\(file)")), file)
    }

    // eval on the saved weights reports the accuracy the last epoch logged.
    let eval = try runLocus(["eval", "specs/localvit_fmnist.locus"] + Self.tiny + ["--limit-test", "200", "--batch", "100", "--weights", path("a/weights.safetensors")])
    XCTAssertEqual(eval.status, 0, eval.stderr)
    XCTAssertTrue(eval.stdout.contains(String(format: "top-1 accuracy %.2f%%", 100 * metricsA[1].accuracy)), eval.stdout)
  }

  func testANewRunDoesNotOverwriteAnOldOne() throws {
    try requireDataset()
    XCTAssertEqual(try train(path("a"), ["--stop-after", "1"]).status, 0)
    let again = try train(path("a"), [])
    XCTAssertEqual(again.status, 1)
    XCTAssertTrue(again.stderr.contains("pass --resume"), again.stderr)
  }

  func testMissingDatasetSaysHowToInstallIt() throws {
    let r = try runLocus(["train", "specs/localvit_fmnist.locus", "--data-dir", path("nowhere"), "--out", path("run")])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("apt-get install dataset-fashion-mnist"), r.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("run")), "nothing written after a failure")
  }

  /// `locus grad` on the PyTorch fixture: the loss and every gradient as the fixture has them.
  func testGradMatchesThePyTorchFixture() throws {
    let fixture = repositoryRoot().appendingPathComponent("Tests/LocusEndToEndTests/Fixtures/localvit_fmnist").path
    let r = try runLocus(["grad", "specs/localvit_fmnist.locus", "--set", "dim=32", "--set", "depth=2", "--set", "reduction=32",
                          "--weights", "\(fixture)/weights.safetensors", "--input", "\(fixture)/train/input.npy",
                          "--labels", "\(fixture)/train/labels.npy", "--label-smoothing", "0.1", "--output", path("g.safetensors")])
    XCTAssertEqual(r.status, 0, r.stderr)
    let ours = try SafeTensorsFile.read(path: path("g.safetensors")), reference = try SafeTensorsFile.read(path: "\(fixture)/train/grads.safetensors")
    XCTAssertEqual(Set(ours.names), Set(reference.names).union(["loss"]))
    let loss = try Npy.read(path: "\(fixture)/train/loss.npy").values[0]
    XCTAssertEqual(try ours.floats("loss")[0], loss, accuracy: 1e-5 * abs(loss))
    // Tolerance: 1e-4 of the tensor's largest reference magnitude, plus 1e-6.
    for name in reference.names {
      let want = try reference.floats(name), got = try ours.floats(name)
      let scale = want.map(abs).max() ?? 0
      let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
      XCTAssertLessThanOrEqual(worst, 1e-4 * scale + 1e-6, "\(name): worst |Δ| \(worst), max |ref| \(scale)")
    }
  }

  private func metrics(_ run: String) throws -> [(accuracy: Double, loss: Double)] {
    let data = try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.json"))
    let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    let records = object?["epochs"] as? [[String: Any]] ?? []
    return records.map { (($0["test_accuracy"] as? Double) ?? -1, ($0["train_loss"] as? Double) ?? -1) }
  }
}
