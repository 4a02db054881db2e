import Foundation
import XCTest

/// Examples/c-demo end to end, as its README runs it: a tiny LocalViT trained for one short epoch
/// by `locus train`, compiled with --emit c-library by the demo's Makefile, built with the
/// system's cc through pkg-config, run on the first 300 test images; its accuracy must be the one
/// `locus eval` reports for the same weights and images.
final class CDemoTests: XCTestCase {
  func testTheDemoPrintsTheAccuracyOfLocusEval() throws {
    try requireFashionMNIST()
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("locus-cdemo-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let tiny = ["--set", "dim=16", "--set", "depth=1", "--set", "reduction=16"]
    let run = scratch.appendingPathComponent("run").path
    let train = try runLocus(["train", "specs/localvit_fmnist.locus"] + tiny + ["--limit-train", "512", "--limit-test", "100", "--batch", "32",
                              "--eval-batch", "100", "--epochs", "1", "--out", run])
    XCTAssertEqual(train.status, 0, train.stderr)
    let weights = run + "/weights.safetensors"

    let demo = try CLibrarySupport.run(["/usr/bin/env", "make", "-s", "-C", repositoryRoot().appendingPathComponent("Examples/c-demo").path, "run",
                                        "LOCUS=\(try locusBinary().path)", "SET=\(tiny.joined(separator: " "))", "BUILD=\(scratch.path)/build",
                                        "WEIGHTS=\(weights)", "ARGS=--limit 300"])
    XCTAssertEqual(demo.status, 0, demo.stdout + demo.stderr)
    let eval = try runLocus(["eval", "specs/localvit_fmnist.locus"] + tiny + ["--limit-test", "300", "--batch", "100", "--weights", weights])
    XCTAssertEqual(eval.status, 0, eval.stderr)
    let demoLine = try XCTUnwrap(accuracyLine(demo.stdout), demo.stdout), evalLine = try XCTUnwrap(accuracyLine(eval.stdout), eval.stdout)
    XCTAssertEqual(demoLine, evalLine)
    XCTAssertTrue(demo.stdout.contains("image 0: predicted"), demo.stdout)
  }
}
