import Foundation
import XCTest
import LocusDriver
import LocusRuntime

/// `--profile` builds: the counters see every kernel of forward once per run, their FLOPs add up to
/// the model's, the logits are bit-identical to a normal build's, and a normal build's C carries
/// nothing of it. `locus profile` prints the table and writes a Chrome trace that parses.
final class ProfileTests: XCTestCase {
  let overrides = [("dim", "16"), ("depth", "1"), ("reduction", "16")]

  func testCountersAndIdenticalResults() throws {
    var request = CompileRequest(specPath: repositoryRoot().appendingPathComponent("specs/localvit_fmnist.locus").path, batch: 2, overrides: overrides)
    let plain = try Driver.compile(request)
    XCTAssertFalse(plain.emitted.source.contains("LK_PROF"), "a normal build carries no profiling")
    request.profile = true
    let profiled = try Driver.compile(request)
    XCTAssertTrue(profiled.emitted.source.contains("LK_PROF_BEGIN(0);"))

    let weights = try Driver.initialWeights(for: plain.graph, seed: 4)
    let input: [Float] = (0..<(2 * 784)).map { (i: Int) -> Float in Float((i * 37) % 101) / 50 - 1 }
    var logits: [[Float]] = []
    for artifact in [plain, profiled] {
      let model = try Driver.load(artifact)
      try model.bindWeights(weights, sourceName: "seed 4")
      for _ in 0..<3 { logits.append(try model.run(inputs: [input])[0]) }
    }
    XCTAssertEqual(logits[0], logits[3], "profiling changes no result")

    let counters = try ProfileCounters(libraryPath: profiled.library.path, model: profiled.graph.name)
    let records = counters.records()
    XCTAssertGreaterThanOrEqual(records.count, 5)
    for r in records {
      XCTAssertEqual(r.calls, 3, "\(r.name): one call per run")
      XCTAssertTrue(r.seconds >= 0 && r.lastEnd >= r.lastStart, r.name)
    }
    XCTAssertEqual(records.reduce(0) { $0 + $1.flops }, Double(profiled.manifest.forwardFlops), "the kernels' FLOPs are the model's")
    counters.reset()
    XCTAssertTrue(counters.records().allSatisfy { $0.calls == 0 && $0.seconds == 0 })

    let noCounters = try? ProfileCounters(libraryPath: plain.library.path, model: plain.graph.name)
    XCTAssertNil(noCounters, "a normal build has no counters to read")
  }

  func testProfileCommand() throws {
    let trace = FileManager.default.temporaryDirectory.appendingPathComponent("locus-trace-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: trace) }
    let r = try runLocus(["profile", "specs/localvit_fmnist.locus", "--set", "dim=16", "--set", "depth=1", "--set", "reduction=16",
                          "--runs", "3", "--top", "0", "--threads", "1", "--trace", trace.path])
    XCTAssertEqual(r.status, 0, r.stderr)
    let lines = r.stdout.split(separator: "\n")
    let words = lines.first?.split(separator: " ").map(String.init) ?? []
    let position = try XCTUnwrap(words.firstIndex(of: "kernels,"), r.stdout)
    let kernels = try XCTUnwrap(Int(words[position - 1]), r.stdout)
    XCTAssertEqual(lines.filter { $0.contains("%") && $0.contains(" %") }.count, kernels, "one row per kernel with --top 0:\n\(r.stdout)")
    let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: trace)) as? [String: Any])
    let events = try XCTUnwrap(json["traceEvents"] as? [[String: Any]])
    XCTAssertEqual(events.count, kernels)
    XCTAssertTrue(events.allSatisfy { ($0["ph"] as? String) == "X" && ($0["dur"] as? Double ?? -1) >= 0 })
  }

  func testProfileTrainingStep() throws {
    let r = try runLocus(["profile", "specs/localvit_fmnist.locus", "--set", "dim=16", "--set", "depth=1", "--set", "reduction=16",
                          "--runs", "2", "--warmup", "1", "--top", "0", "--threads", "1", "--batch", "2", "--train"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let lines = r.stdout.split(separator: "\n").map(String.init)
    XCTAssertTrue(lines.first?.hasPrefix("localvit_fmnist_train batch 2: ") ?? false, r.stdout)
    XCTAssertTrue(lines.first?.contains("training step median") ?? false, r.stdout)
    let rows = lines.filter { $0.contains("%") && $0.contains(" %") }
    XCTAssertTrue(rows.contains { $0.contains("linear_grad_weight") }, "backward kernels are timed:\n\(r.stdout)")
    XCTAssertTrue(rows.contains { $0.contains("cross_entropy") }, "the loss is timed:\n\(r.stdout)")
    XCTAssertFalse(r.stdout.contains("(null)"), r.stdout)
  }
}
