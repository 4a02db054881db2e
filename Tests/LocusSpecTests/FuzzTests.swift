// The parser must return normally on any input: thousands of seeded random mutations of a valid
// spec, plus a few pathological inputs (deep nesting, very long expressions).
import XCTest

@testable import LocusSpec

/// SplitMix64: tiny, seedable, identical on every platform, so a failure replays exactly.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

final class FuzzTests: XCTestCase {
  static let base =
    ParserTests.sample + """

      block extras(x, mode = "a\\"b", eps = 1e-5) {
        if mode == "fast" && !deep { y = x } else if eps > 0.5 { y = -x } else { y = x[0] }
        a, b = split(x, sizes: [1, 2], axis: -1)
        repeat 2 { y = y |> gelu @act } @stage.{1}
        return layernorm(y) @layers.0.0.norm1, b
      }
      """

  /// Fragments the mutations insert: the language's own pieces, broken pieces and odd text.
  static let fragments: [String] = [
    "(", ")", "[", "]", "{", "}", "@", ".", ",", ";", ":", "?", "=", "==", "|>", "-", "!", "+",
    "\n", "\n\n", " ", "\t", "#", "\"", "\\", "$", "&", "|", "λ", "0.0", "1e", "1e-6", "12abc",
    "99999999999999999999", "block", "model", "repeat", "if", "else", "in", "return", "output",
    "input", "param", "init", "const", "f32[", "x", "@blocks.{i}", "|> f(", "\r\n",
  ]

  func testRandomMutationsNeverCrash() {
    var random = SplitMix64(state: 0x10C0_5EED)
    let base = Array(Self.base.unicodeScalars)
    var filesWithErrors = 0
    for iteration in 0..<3000 {
      var text = base
      for _ in 0..<Int.random(in: 1...4, using: &random) {
        mutate(&text, using: &random)
      }
      var view = String.UnicodeScalarView()
      view.append(contentsOf: text)
      let source = SourceFile(name: "fuzz\(iteration).locus", text: String(view))
      let (file, diagnostics) = Parser.parse(source)
      // Everything downstream of parsing must cope with the result too.
      _ = file.description
      _ = DiagnosticRenderer.render(diagnostics)
      for diagnostic in diagnostics {
        XCTAssertLessThanOrEqual(diagnostic.range.endOffset, text.count, "iteration \(iteration)")
      }
      if !diagnostics.isEmpty { filesWithErrors += 1 }
      if iteration % 50 == 0 {
        XCTAssertEqual(Parser.parse(source).1, diagnostics, "parsing is deterministic")
      }
    }
    // Sanity check on the generator: most mutants are broken, but not all of them.
    XCTAssertGreaterThan(filesWithErrors, 1000)
    XCTAssertLessThan(filesWithErrors, 3000)
  }

  private func mutate(_ text: inout [Unicode.Scalar], using random: inout SplitMix64) {
    let position = Int.random(in: 0...text.count, using: &random)
    let fragment = Array(
      Self.fragments[Int.random(in: 0..<Self.fragments.count, using: &random)].unicodeScalars)
    let length = min(Int.random(in: 1...12, using: &random), text.count - position)
    switch Int.random(in: 0..<5, using: &random) {
    case 0: text.removeSubrange(position..<position + length)
    case 1: text.insert(contentsOf: fragment, at: position)
    case 2: text.replaceSubrange(position..<position + length, with: fragment)
    case 3:
      let copy = Array(text[position..<position + length])
      text.insert(contentsOf: copy, at: Int.random(in: 0...text.count, using: &random))
    default: text.removeSubrange(position..<text.count)
    }
  }

  func testPathologicalInputs() {
    let inputs = [
      "model m {\n  x = " + String(repeating: "(", count: 20_000) + "\n}",
      "model m {\n  x = " + String(repeating: "[", count: 20_000) + "\n}",
      "model m {\n  x = f(x) @a." + String(repeating: "{", count: 20_000) + "\n}",
      "model m {\n" + String(repeating: "repeat 1 {\n", count: 5_000) + "}",
      String(repeating: "model m {\n  block b(x) {\n", count: 2_000),
      "model m {\n  x = a" + String(repeating: " + a", count: 20_000) + "\n}",
      "model m {\n  x = a" + String(repeating: " |> f", count: 20_000) + "\n}",
      "model m {\n  x = f" + String(repeating: "(x)", count: 20_000) + "\n}",
      "model m {\n  x = " + String(repeating: "-(", count: 20_000) + "1\n}",
      "model m {\n  x = [" + String(repeating: "1, ", count: 20_000) + "1]\n}",
      String(repeating: "}", count: 10_000),
      String(repeating: "\"", count: 10_001),
    ]
    for input in inputs {
      let (file, diagnostics) = Parser.parse(Spec.source(input))
      _ = file.description
      _ = DiagnosticRenderer.render(diagnostics)
    }
  }

  func testDeepNestingIsReportedNotOverflowed() {
    let text = "model m {\n  x = " + String(repeating: "(", count: 1_000) + "1\n}"
    let diagnostics = Parser.parse(Spec.source(text)).1
    XCTAssertEqual(diagnostics.count, 1)
    XCTAssertEqual(
      diagnostics.first?.message, "the spec is nested too deeply here (more than 64 levels)")
  }

  func testAVeryLongListIsFine() {
    let text =
      "model m {\n  const widths = [" + repeatElement("64", count: 5_000).joined(separator: ", ")
      + "]\n}"
    XCTAssertTrue(Parser.parse(Spec.source(text)).1.isEmpty)
  }
}
