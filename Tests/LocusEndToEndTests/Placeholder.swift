import XCTest
final class LocusEndToEndTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
