// Source files, locations and the diagnostic renderer, independent of the parser (the
// elaborator reports through the same types).
import XCTest

@testable import LocusSpec

final class DiagnosticTests: XCTestCase {
  let file = SourceFile(
    name: "specs/x.locus", text: "model m {\n  x = conv2d(pixels)\n\ty = 1\r\n}\n")

  func testLineTable() {
    XCTAssertEqual(file.lineCount, 4)
    XCTAssertEqual(file.lineText(2), "  x = conv2d(pixels)")
    XCTAssertEqual(file.lineText(3), "\ty = 1")
    XCTAssertEqual(file.lineText(9), "")
    let location = file.location(at: 16)
    XCTAssertEqual([location.line, location.column, location.offset], [2, 7, 16])
    XCTAssertEqual(location.description, "specs/x.locus:2:7")
    XCTAssertEqual(file.location(at: -5).offset, 0)
    XCTAssertEqual(file.location(at: 10_000).offset, file.text.unicodeScalars.count)
    XCTAssertEqual(SourceFile(name: "e", text: "").lineCount, 1)
  }

  func testRanges() {
    let call = file.range(from: 16, to: 30)
    XCTAssertEqual(call.text, "conv2d(pixels)")
    XCTAssertEqual(call.end.column, 21)
    XCTAssertEqual(call.afterEnd.length, 0)
    XCTAssertEqual(
      file.range(from: 16, to: 22).union(file.range(from: 23, to: 29)).text, "conv2d(pixels")
    XCTAssertEqual(file.range(from: 20, to: 10).length, 0)
  }

  func testRenderingWithRangeHintAndNotes() {
    let diagnostic = Diagnostic.error(
      "unknown block 'conv2d'", at: file.range(from: 16, to: 22), hint: "did you mean 'conv'?",
      notes: [
        DiagnosticNote("the model starts here", at: file.range(from: 0, to: 5)),
        DiagnosticNote("blocks are looked up in the prelude first"),
      ])
    XCTAssertEqual(
      diagnostic.description,
      """
      specs/x.locus:2:7: error: unknown block 'conv2d'
        x = conv2d(pixels)
            ^~~~~~
      hint: did you mean 'conv'?
      specs/x.locus:1:1: note: the model starts here
      model m {
      ^~~~~
      note: blocks are looked up in the prelude first
      """)
  }

  func testCaretsFollowTabsAndStopAtTheEndOfTheLine() {
    // The range runs past the end of line 3: only its first line is underlined.
    let warning = Diagnostic.warning("unused value", at: file.range(from: 35, to: 45))
    XCTAssertEqual(
      warning.description, "specs/x.locus:3:5: warning: unused value\n\ty = 1\n\t   ^~~")
    // An insertion point just past the end of a line.
    let missing = Diagnostic.error("expected ')'", at: file.range(from: 30, to: 30))
    XCTAssertEqual(
      missing.description,
      "specs/x.locus:2:21: error: expected ')'\n  x = conv2d(pixels)\n                    ^")
  }

  func testEngineAndSpecError() {
    var engine = DiagnosticEngine()
    engine.warning("first", at: file.range(from: 0, to: 5))
    XCTAssertFalse(engine.hasErrors)
    XCTAssertNoThrow(try engine.checked())
    engine.error("second", at: file.range(from: 12, to: 13), hint: "fix it")
    engine.report(.error("third", at: file.range(from: 0, to: 0)))
    XCTAssertEqual(engine.errorCount, 2)
    XCTAssertThrowsError(try engine.checked()) { error in
      guard let error = error as? SpecError else { return XCTFail("not a SpecError") }
      XCTAssertEqual(error.diagnostics.map(\.message), ["first", "second", "third"])
      XCTAssertEqual(
        error.description,
        """
        specs/x.locus:1:1: warning: first
        model m {
        ^~~~~
        specs/x.locus:2:3: error: second
          x = conv2d(pixels)
          ^
        hint: fix it
        specs/x.locus:1:1: error: third
        model m {
        ^
        """)
    }
  }
}
