import XCTest
final class LocusRuntimeTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
