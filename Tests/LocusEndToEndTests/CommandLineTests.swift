import Foundation
import XCTest
import LocusRuntime

/// The `locus` binary as a user meets it: every bad input ends in a clear message on stderr, a
/// non-zero exit and no half-written output; good input round-trips through init → run.
final class CommandLineTests: XCTestCase {
  var scratch: URL!

  override func setUpWithError() throws {
    scratch = FileManager.default.temporaryDirectory.appendingPathComponent("locus-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(at: scratch)
  }

  func locus(_ arguments: [String]) throws -> LocusResult { try runLocus(arguments) }

  func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

  func testMalformedSpecFailsWithDiagnosticsAndWritesNothing() throws {
    let spec = path("bad.locus")
    try "model m {\n  input x: f32[4, 8]\n  output y = relu(x, slope: 2)\n}\n".write(toFile: spec, atomically: true, encoding: .utf8)
    let r = try locus(["compile", spec, "-o", path("out")])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("bad.locus:3:22: error: 'relu' has no argument 'slope'"), r.stderr)
    XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")), "no output after a failure")
  }

  func testMissingSpecFileIsNamed() throws {
    let r = try locus(["params", path("nowhere.locus")])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("nowhere.locus: cannot read the spec"), r.stderr)
  }

  func testInitThenRunRoundTripsAndChecksShapesAndWeights() throws {
    let spec = "specs/localvit_fmnist.locus"
    let tiny = ["--set", "dim=32", "--set", "depth=2"]
    var r = try locus(["init", spec] + tiny + ["--seed", "3", "-o", path("w.safetensors")])
    XCTAssertEqual(r.status, 0, r.stderr)
    try Npy.write(NpyArray(shape: [2, 1, 28, 28], values: (0..<(2 * 784)).map { Float($0 % 17) / 17 }), to: path("x.npy"))
    r = try locus(["run", spec] + tiny + ["--weights", path("w.safetensors"), "--input", path("x.npy"), "--output", path("y.npy")])
    XCTAssertEqual(r.status, 0, r.stderr)
    let y = try Npy.read(path: path("y.npy"))
    XCTAssertEqual(y.shape, [2, 10])
    XCTAssertTrue(y.values.allSatisfy(\.isFinite))

    // A wrong input shape names both shapes.
    try Npy.write(NpyArray(shape: [2, 3, 28, 28], values: Array(repeating: 0, count: 2 * 3 * 784)), to: path("x3.npy"))
    r = try locus(["run", spec] + tiny + ["--weights", path("w.safetensors"), "--input", path("x3.npy"), "--output", path("y3.npy")])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("takes 'pixels' as [B, 1, 28, 28]; the file holds [2, 3, 28, 28]"), r.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("y3.npy")))

    // Weights of another size: every mismatching tensor is named, in one error.
    r = try locus(["run", spec, "--weights", path("w.safetensors"), "--input", path("x.npy"), "--output", path("y4.npy")])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("blocks.0.attn.qkv.weight"), r.stderr)
    XCTAssertTrue(r.stderr.contains("blocks.2.norm1.weight") || r.stderr.contains("missing"), r.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("y4.npy")))
  }

  func testGarbageWeightsFileIsRejectedClearly() throws {
    try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: path("junk.safetensors")))
    try Npy.write(NpyArray(shape: [1, 1, 28, 28], values: Array(repeating: 0, count: 784)), to: path("x.npy"))
    let r = try locus(["run", "specs/localvit_fmnist.locus", "--weights", path("junk.safetensors"), "--input", path("x.npy"), "--output", path("y.npy")])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("junk.safetensors"), r.stderr)
    XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
  }

  func testMissingCompilerIsExplained() throws {
    let spec = path("m.locus")
    try "model m {\n  input x: f32[4, 8]\n  output y = relu(x)\n}\n".write(toFile: spec, atomically: true, encoding: .utf8)
    setenv("LOCUS_CC", "/nonexistent/clang", 1)
    defer { unsetenv("LOCUS_CC") }
    let r = try locus(["compile", spec, "-o", path("out")])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("/nonexistent/clang"), r.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
  }

  func testCompileWritesTheFourFilesAndAManifest() throws {
    let r = try locus(["compile", "specs/localvit_fmnist.locus", "--batch", "4", "-o", path("fm")])
    XCTAssertEqual(r.status, 0, r.stderr)
    for f in ["localvit_fmnist.c", "localvit_fmnist.h", "liblocalvit_fmnist.so", "manifest.json"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: path("fm/\(f)")), f)
    }
    let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("fm/manifest.json")))) as? [String: Any]
    XCTAssertEqual(manifest?["model"] as? String, "localvit_fmnist")
    XCTAssertEqual(manifest?["batch"] as? Int, 4)
    for key in ["inputs", "outputs", "arena_bytes", "forward_flops", "parameter_count", "parameter_bytes", "flags", "c_files"] {
      XCTAssertNotNil(manifest?[key], "manifest.json lacks '\(key)'")
    }
  }

  /// --report lists the fusions per block and the arena before and after them, and --dump-ir prints
  /// the graph after every pass, for the inference library and for the training library (whose
  /// passes run before and after differentiation).
  func testReportAndDumpIRCoverInferenceAndTraining() throws {
    let tiny = ["--set", "dim=16", "--set", "depth=1", "--set", "reduction=16"]
    for (training, pass, fusion) in [(false, "epilogues", "epilogues:"), (true, "layernorm-training", "layernorm-training: layernorm in one pass")] {
      let r = try locus(["compile", "specs/localvit_fmnist.locus"] + tiny + ["--batch", "2", "--report", "--dump-ir", "-o", path("r\(training)")]
                        + (training ? ["--training"] : []))
      XCTAssertEqual(r.status, 0, r.stderr)
      for expected in ["// after \(pass)\n", "fusions applied (", fusion, "activation arena: "] {
        XCTAssertTrue(r.stdout.contains(expected), "training \(training): no '\(expected)' in\n\(r.stdout.suffix(3000))")
      }
    }
  }
}
