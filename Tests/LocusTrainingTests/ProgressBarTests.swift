import XCTest

@testable import LocusTraining

final class ProgressBarTests: XCTestCase {
  func testLineFormat() {
    let snapshot = ProgressSnapshot(
      epoch: 2, epochs: 5, done: 412, total: 937, loss: 0.5123, imagesPerSecond: 1830.4, elapsed: 32)
    // ETA: 32 s for 412 batches → 525 more take 40.8 s.
    XCTAssertEqual(snapshot.formatted(), "epoch 2/5 [========>           ] 412/937 loss 0.512 1830 img/s ETA 0:41")
    let done = ProgressSnapshot(
      epoch: 5, epochs: 5, done: 937, total: 937, loss: 0.25, imagesPerSecond: 1900, elapsed: 3725)
    XCTAssertEqual(done.formatted(barWidth: 10), "epoch 5/5 [==========] 937/937 loss 0.250 1900 img/s in 1:02:05")
    let start = ProgressSnapshot(epoch: 1, epochs: 5, done: 0, total: 937, loss: nil, imagesPerSecond: nil, elapsed: 0)
    XCTAssertEqual(start.formatted(barWidth: 4), "epoch 1/5 [>   ] 0/937")
  }

  func testBarAndDuration() {
    XCTAssertEqual(ProgressSnapshot.bar(done: 5, total: 10, width: 10), "[=====>    ]")
    XCTAssertEqual(ProgressSnapshot.bar(done: 99, total: 100, width: 10), "[=========>]")
    XCTAssertEqual(ProgressSnapshot.bar(done: 12, total: 10, width: 3), "[===]")
    XCTAssertEqual(ProgressSnapshot.bar(done: 0, total: 0, width: 3), "[===]")
    XCTAssertEqual(ProgressSnapshot.duration(0.4), "0:00")
    XCTAssertEqual(ProgressSnapshot.duration(59.6), "1:00")
    XCTAssertEqual(ProgressSnapshot.duration(3599), "59:59")
    XCTAssertEqual(ProgressSnapshot.duration(36000), "10:00:00")
    XCTAssertEqual(ProgressSnapshot.duration(.infinity), "?")
  }

  /// A fake clock and a sink that records what would go to stderr.
  final class Harness {
    var now = 100.0
    var written: [String] = []
  }

  func testTerminalRedrawsAtMostTenTimesASecond() {
    let h = Harness()
    let bar = ProgressBar(
      epochs: 1, batchSize: 32, interactive: true, output: { h.written.append($0) }, clock: { h.now })
    bar.startEpoch(1, batches: 1000)
    for done in 1...1000 {
      h.now += 0.002  // 2 s for the epoch
      bar.update(done: done, loss: 1)
    }
    bar.finishEpoch(loss: 0.9, summary: "epoch 1: test accuracy 80.00%")
    // 2 s at ≤ 10 draws/s: about 20 draws, plus the last batch and the final line.
    XCTAssertLessThanOrEqual(h.written.count, 24)
    XCTAssertGreaterThanOrEqual(h.written.count, 19)
    XCTAssertTrue(
      h.written.dropLast().allSatisfy { $0.hasPrefix("\r") && $0.hasSuffix("\u{1B}[K") || $0.hasSuffix("\n") })
    XCTAssertEqual(
      h.written[h.written.count - 2],
      "\repoch 1/1 [====================] 1000/1000 loss 0.900 16000 img/s in 0:02\u{1B}[K\n")
    XCTAssertEqual(h.written.last, "epoch 1: test accuracy 80.00%\n")
  }

  func testPipesGetAPlainLineEveryTenthOfTheEpoch() {
    let h = Harness()
    let bar = ProgressBar(
      epochs: 2, batchSize: 8, interactive: false, output: { h.written.append($0) }, clock: { h.now })
    bar.startEpoch(2, batches: 95)
    for done in 1...95 {
      h.now += 0.01
      bar.update(done: done, loss: 0.5)
    }
    bar.finishEpoch(loss: 0.5)
    // Every 10 batches (⌈9.5⌉): 9 lines at 10…90, then the end; no \r anywhere.
    XCTAssertEqual(h.written.count, 10)
    XCTAssertTrue(h.written.allSatisfy { !$0.contains("\r") && $0.hasSuffix("\n") })
    XCTAssertTrue(
      h.written[0].hasPrefix("epoch 2/2 [==>                 ] 10/95 loss 0.500 800 img/s ETA 0:01"), h.written[0])
    XCTAssertTrue(h.written.last!.contains("95/95"))
  }
}
