import XCTest
final class LocusCodegenTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
