import XCTest
final class LocusSpecTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
