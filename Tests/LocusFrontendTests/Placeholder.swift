import XCTest
final class LocusFrontendTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
