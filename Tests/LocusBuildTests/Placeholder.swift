import XCTest
final class LocusBuildTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
