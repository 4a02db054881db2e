import Foundation
import XCTest

/// `locus bench --json` on a tiny spec: one JSON object with the fields the issue names, whose
/// values hang together (timing order, images/s from the median, GFLOP/s against the measured peak,
/// a child process's resident memory). Nothing here judges speed: that is the benchmark's job.
final class BenchCommandTests: XCTestCase {
  func testJSONReport() throws {
    let r = try runLocus(["bench", "specs/localvit_fmnist.locus", "--set", "dim=16", "--set", "depth=1", "--set", "reduction=16",
                          "--batch", "2", "--runs", "5", "--warmup", "1", "--threads", "1", "--json"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    for key in ["median_ms", "min_ms", "p90_ms", "images_per_s", "gflops", "peak_fraction", "peak_rss_bytes", "peak_gflops"] {
      XCTAssertNotNil(object[key], "missing \(key) in \(r.stdout)")
    }
    let median = try XCTUnwrap(object["median_ms"] as? Double), low = try XCTUnwrap(object["min_ms"] as? Double)
    let p90 = try XCTUnwrap(object["p90_ms"] as? Double)
    XCTAssertTrue(0 < low && low <= median && median <= p90, r.stdout)
    // Every timed run, in run order: 5 of them, whose sorted middle is the median and least the min.
    let times = try XCTUnwrap(object["times_ms"] as? [Double], r.stdout).sorted()
    XCTAssertEqual(times.count, 5, r.stdout)
    XCTAssertEqual(times.first, low, r.stdout)
    XCTAssertEqual(times[2], median, r.stdout)
    XCTAssertEqual(try XCTUnwrap(object["images_per_s"] as? Double), 2 / (median / 1000), accuracy: 1e-6 * 2 / (median / 1000))
    let gflops = try XCTUnwrap(object["gflops"] as? Double), peak = try XCTUnwrap(object["peak_gflops"] as? Double)
    XCTAssertTrue(peak > 0 && gflops > 0, r.stdout)
    XCTAssertEqual(try XCTUnwrap(object["peak_fraction"] as? Double), gflops / peak, accuracy: 1e-9)
    let rss = try XCTUnwrap(object["peak_rss_bytes"] as? Int)
    XCTAssertTrue(rss > 1 << 20 && rss < 1 << 31, "peak RSS \(rss) bytes")
    // The hypervisor's steal over the runs: a share when /proc/stat saw enough ticks, else absent.
    if let steal = object["steal_fraction"] { XCTAssertTrue((steal as? Double).map { 0...1 ~= $0 } ?? false, r.stdout) }

    let missing = try runLocus(["bench", "specs/nothing.locus"])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("specs/nothing.locus"), missing.stderr)
  }

  /// `locus train --benchmark-steps N --json` (what scripts/reference/bench_train.py pools over its
  /// rounds): every timed step in run order, consistent with the median and min it prints.
  func testTrainBenchmarkJSON() throws {
    let r = try runLocus(["train", "specs/localvit_fmnist.locus", "--set", "dim=16", "--set", "depth=1", "--set", "reduction=16",
                          "--batch", "4", "--threads", "1", "--benchmark-steps", "3", "--json"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let line = try XCTUnwrap(r.stdout.split(separator: "\n").last.map(String.init), r.stdout)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], r.stdout)
    let median = try XCTUnwrap(object["median_ms"] as? Double), low = try XCTUnwrap(object["min_ms"] as? Double)
    let times = try XCTUnwrap(object["times_ms"] as? [Double], r.stdout)
    XCTAssertEqual(times.count, 3, r.stdout)
    XCTAssertTrue(times.allSatisfy { $0 > 0 }, r.stdout)
    XCTAssertEqual(times.sorted()[1], median, r.stdout)
    XCTAssertEqual(times.min(), low, r.stdout)
  }
}
