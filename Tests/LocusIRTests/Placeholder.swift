import XCTest
final class LocusIRTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
