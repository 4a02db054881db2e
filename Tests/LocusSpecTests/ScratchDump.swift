import Foundation
import XCTest
@testable import LocusSpec
final class ScratchDump: XCTestCase {
  func testDump() throws {
    let dir = ProcessInfo.processInfo.environment["DUMP"] ?? ""
    guard !dir.isEmpty else { return }
    for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
      let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
      let (file, diagnostics) = Parser.parse(SourceFile(name: name, text: text))
      print("===== \(name)\n\(text)-----\n\(DiagnosticRenderer.render(diagnostics))\n-- AST: \(file)")
    }
  }
}
