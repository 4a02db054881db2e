import LocusDriver
import XCTest

/// StolenTime reads the hypervisor's steal from /proc/stat texts: the aggregate line's eighth
/// counter over the sum of the first eight, only across enough ticks to mean something.
final class StolenTimeTests: XCTestCase {
  func testStealShareOfTwoReadings() throws {
    let before = "cpu  100 5 20 1000 3 0 2 10 0 0\ncpu0 50 2 10 500 1 0 1 5 0 0\n"
    let after = "cpu  160 5 25 1020 3 0 2 30 0 0\ncpu0 80 2 12 510 1 0 1 15 0 0\n"
    let a = try XCTUnwrap(StolenTime.ticks(procStat: before)), b = try XCTUnwrap(StolenTime.ticks(procStat: after))
    XCTAssertEqual(a, [100, 5, 20, 1000, 3, 0, 2, 10])
    // Deltas: user 60, system 5, idle 20, steal 20 → 20 / 105; guest columns (9th, 10th) not counted.
    XCTAssertEqual(try XCTUnwrap(StolenTime.fraction(from: a, to: b)), 20.0 / 105.0, accuracy: 1e-12)
    XCTAssertNotNil(StolenTime.warning(20.0 / 105.0))
    XCTAssertNil(StolenTime.warning(0.01))
    XCTAssertNil(StolenTime.warning(nil))
  }

  func testUnknownOrTooShortIsNil() throws {
    let a = try XCTUnwrap(StolenTime.ticks(procStat: "cpu  1 0 0 1 0 0 0 0\n"))
    XCTAssertNil(StolenTime.fraction(from: a, to: StolenTime.ticks(procStat: "cpu  5 0 0 6 0 0 0 1\n")), "10 ticks: too few")
    XCTAssertNil(StolenTime.fraction(from: a, to: nil))
    XCTAssertNil(StolenTime.fraction(from: [5, 0, 0, 5, 0, 0, 0, 9], to: a), "counters went backwards")
    XCTAssertNil(StolenTime.ticks(procStat: "intr 1 2 3\n"))
    XCTAssertNil(StolenTime.ticks(procStat: "cpu  1 2 3\n"), "no steal column")
    XCTAssertNil(StolenTime.ticks(procStat: nil))
  }
}
