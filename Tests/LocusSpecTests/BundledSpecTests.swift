// The prelude and every bundled spec must parse without a single diagnostic.
import Foundation
import XCTest

@testable import LocusSpec

final class BundledSpecTests: XCTestCase {
  func testPreludeParses() throws {
    let (file, diagnostics) = Parser.parse(Prelude.source)
    XCTAssertEqual(DiagnosticRenderer.render(diagnostics), "")
    XCTAssertTrue(file.models.isEmpty, "the prelude holds only blocks")
  }

  func testBundledSpecsParse() throws {
    let folder = Spec.root.appendingPathComponent("specs")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
      .filter { $0.hasSuffix(".locus") }.sorted()
    XCTAssertFalse(names.isEmpty, "no specs found in \(folder.path)")
    for name in names {
      let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
      let (file, diagnostics) = Parser.parse(SourceFile(name: "specs/\(name)", text: text))
      XCTAssertEqual(DiagnosticRenderer.render(diagnostics), "", name)
      XCTAssertEqual(file.models.count, 1, name)
    }
  }
}
