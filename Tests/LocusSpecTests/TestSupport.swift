// Helpers shared by the LocusSpec tests.
import Foundation
import XCTest

@testable import LocusSpec

enum Spec {
  /// The repository root, found from this file's path (Tests/LocusSpecTests/TestSupport.swift).
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  static func source(_ text: String, name: String = "x.locus") -> SourceFile {
    SourceFile(name: name, text: text)
  }

  /// Parses `text`, failing the test on any diagnostic.
  static func parseClean(
    _ text: String, file: StaticString = #filePath, line: UInt = #line
  ) -> LocusSpec.File {
    let (parsed, diagnostics) = Parser.parse(source(text))
    if !diagnostics.isEmpty {
      XCTFail(
        "unexpected diagnostics:\n" + DiagnosticRenderer.render(diagnostics), file: file,
        line: line)
    }
    return parsed
  }

  /// All diagnostics of `text`, rendered.
  static func rendered(_ text: String, name: String = "x.locus") -> String {
    DiagnosticRenderer.render(Parser.parse(source(text, name: name)).1)
  }

  /// The statements of `model m { <body> }`, one description per statement.
  static func statements(
    _ body: String, file: StaticString = #filePath, line: UInt = #line
  ) -> [String] {
    let parsed = parseClean("model m {\n\(body)\n}\n", file: file, line: line)
    return parsed.models.first?.body.statements.map(\.description) ?? []
  }

  /// The expression assigned in `x = <text>`.
  static func expression(
    _ text: String, file: StaticString = #filePath, line: UInt = #line
  ) -> String {
    let parsed = statements("x = \(text)", file: file, line: line)
    guard let first = parsed.first, first.hasPrefix("(= x "), first.hasSuffix(")") else {
      XCTFail("not an assignment: \(parsed)", file: file, line: line)
      return ""
    }
    return String(first.dropFirst(5).dropLast())
  }
}
