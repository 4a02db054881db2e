import XCTest
final class LocusPassesTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
