// Tokens, literals, lexical errors, and which line breaks end statements.
import XCTest

@testable import LocusSpec

final class LexerTests: XCTestCase {
  /// Compact token spellings: `ID(x)`, `KW(repeat)`, `INT(3)`, `FLOAT(0.02)`, `STR(a)`, symbols as
  /// written, `NL`, `BAD`; the final end-of-file token is left out.
  private func lex(_ text: String) -> [String] {
    Lexer.tokenize(Spec.source(text)).dropLast().map { token in
      switch (token.kind, token.literal) {
      case (.identifier, _): "ID(\(token.text))"
      case (.keyword(let keyword), _): "KW(\(keyword.rawValue))"
      case (.integer, .integer(let value)): "INT(\(value))"
      case (.float, .float(let value)): "FLOAT(\(value))"
      case (.string, .string(let value)): "STR(\(value))"
      case (.symbol(let symbol), _): symbol.rawValue
      case (.newline, _): "NL"
      case (.invalid, _): "BAD"
      default: "?"
      }
    }
  }

  private func lexicalErrors(_ text: String) -> [String] {
    Lexer.tokenize(Spec.source(text)).compactMap(\.diagnostic).map(DiagnosticRenderer.render)
  }

  func testEveryOperatorAndPunctuation() {
    let text = "|> == != <= >= && || + - * / % < > ! ? : @ . , ; = ( ) [ ] { }"
    XCTAssertEqual(lex(text), text.split(separator: " ").map(String.init))
  }

  func testOperatorsNeedNoSpaces() {
    XCTAssertEqual(lex("a|>b<=c==d"), ["ID(a)", "|>", "ID(b)", "<=", "ID(c)", "==", "ID(d)"])
    XCTAssertEqual(lex("!a&&-b"), ["!", "ID(a)", "&&", "-", "ID(b)"])
  }

  func testKeywordsAndIdentifiers() {
    let keywords = Keyword.allCases.map(\.rawValue)
    XCTAssertEqual(lex(keywords.joined(separator: " ")), keywords.map { "KW(\($0))" })
    XCTAssertEqual(
      lex("blocks input_x _tmp f32x in2"),
      ["ID(blocks)", "ID(input_x)", "ID(_tmp)", "ID(f32x)", "ID(in2)"])
  }

  func testNumbers() {
    XCTAssertEqual(
      lex("0 192 007 0.02 1e-6 1.5E+3 2e3"),
      [
        "INT(0)", "INT(192)", "INT(7)", "FLOAT(0.02)", "FLOAT(1e-06)", "FLOAT(1500.0)",
        "FLOAT(2000.0)",
      ])
  }

  func testDotsInScopePaths() {
    // `0.0` is one FLOAT (the parser splits it); a dot before a letter is always a dot.
    XCTAssertEqual(
      lex("@layers.0.0.norm1"), ["@", "ID(layers)", ".", "FLOAT(0.0)", ".", "ID(norm1)"])
    XCTAssertEqual(lex("@blocks.0.attn"), ["@", "ID(blocks)", ".", "INT(0)", ".", "ID(attn)"])
    XCTAssertEqual(lex("@blocks.{i}"), ["@", "ID(blocks)", ".", "{", "ID(i)", "}"])
  }

  func testStringsAndEscapes() {
    let tokens = Lexer.tokenize(Spec.source(#"s = "a\"b\\c\nd" "#))
    XCTAssertEqual(tokens[2].literal, .string("a\"b\\c\nd"))
    XCTAssertEqual(tokens[2].text, #""a\"b\\c\nd""#)
    XCTAssertEqual(lex(##""" "#x" "##), ["STR()", "STR(#x)"])
  }

  func testCommentsAndBlankLinesFoldIntoOneBreak() {
    XCTAssertEqual(
      lex("# header\n\na = 1   # trailing\n\n  # comment line\n\nb = 2\n"),
      ["ID(a)", "=", "INT(1)", "NL", "ID(b)", "=", "INT(2)", "NL"])
  }

  func testLineEndingInAnOperatorContinues() {
    XCTAssertEqual(lex("a = b +\n c"), ["ID(a)", "=", "ID(b)", "+", "ID(c)"])
    XCTAssertEqual(
      lex("const a = 1,\n  b = 2"),
      ["KW(const)", "ID(a)", "=", "INT(1)", ",", "ID(b)", "=", "INT(2)"])
    XCTAssertEqual(lex("a = b |> # pipe\n\n f"), ["ID(a)", "=", "ID(b)", "|>", "ID(f)"])
    XCTAssertEqual(lex("a = c ?\n b :\n d"), ["ID(a)", "=", "ID(c)", "?", "ID(b)", ":", "ID(d)"])
    XCTAssertEqual(lex("a = b &&\n c"), ["ID(a)", "=", "ID(b)", "&&", "ID(c)"])
  }

  func testLineStartingWithPipeContinuesThePreviousOne() {
    XCTAssertEqual(
      lex("x = a\n  # then\n  |> f\n  |> g\ny = 1"),
      ["ID(x)", "=", "ID(a)", "|>", "ID(f)", "|>", "ID(g)", "NL", "ID(y)", "=", "INT(1)"])
  }

  func testBreaksThatDoEndAStatement() {
    // `=` does not continue a line, and neither does a unary-looking `!` at the start of one.
    XCTAssertEqual(lex("x =\ny"), ["ID(x)", "=", "NL", "ID(y)"])
    XCTAssertEqual(lex("x = a\n-b"), ["ID(x)", "=", "ID(a)", "NL", "-", "ID(b)"])
    // The lexer keeps breaks inside brackets; the parser ignores them there.
    XCTAssertEqual(lex("f(a\n)"), ["ID(f)", "(", "ID(a)", "NL", ")"])
    XCTAssertEqual(lex("a; b"), ["ID(a)", ";", "ID(b)"])
  }

  func testLocationsAndLineStarts() {
    let tokens = Lexer.tokenize(Spec.source("model m {\n  x = λ1\n}"))
    let x = tokens[4]
    XCTAssertEqual([x.range.line, x.range.column, x.range.offset, x.range.length], [2, 3, 12, 1])
    XCTAssertTrue(x.startsLine)
    XCTAssertFalse(tokens[5].startsLine)
    // `λ` is not a letter of the language: an invalid token, and `1` after it is column 8
    // because columns count Unicode scalars.
    XCTAssertEqual(tokens[6].kind, .invalid)
    XCTAssertEqual(tokens[6].diagnostic?.message, "unknown character 'λ'")
    XCTAssertEqual(tokens[7].range.column, 8)
    XCTAssertEqual(tokens.last?.kind, .endOfFile)
  }

  func testCarriageReturnsAreWhitespace() {
    XCTAssertEqual(
      lex("a = 1\r\nb = 2\r\n"), ["ID(a)", "=", "INT(1)", "NL", "ID(b)", "=", "INT(2)", "NL"])
  }

  func testLexicalErrors() {
    // (input, message, column, length of the underlined range, hint)
    let cases: [(String, String, Int, Int, String?)] = [
      ("x = a $ b", "unknown character '$'", 7, 1, nil),
      ("x = a | b", "unknown character '|'", 7, 1, "did you mean '||' or '|>'?"),
      ("x = a & b", "unknown character '&'", 7, 1, "did you mean '&&'?"),
      ("x = 'a", "unknown character '''", 5, 1, "strings are written in double quotes"),
      ("x = \u{7}", "unknown character U+0007", 5, 1, nil),
      ("s = \"abc\r\n", "unterminated string", 5, 4, "add '\"' at the end of the string"),
      ("x = 3x", "malformed number '3x'", 5, 2, "a name cannot start with a digit"),
      ("x = 1e+", "malformed number '1e+'", 5, 3, "an exponent needs digits, e.g. '1e-6'"),
      ("x = 99999999999999999999", "integer '99999999999999999999' is too large", 5, 20, nil),
      (
        #"s = "a\qb""#, #"unknown escape sequence '\q' in a string"#, 7, 2,
        #"the escapes are \", \\ and \n"#
      ),
    ]
    for (input, message, column, length, hint) in cases {
      let diagnostics = Lexer.tokenize(Spec.source(input)).compactMap(\.diagnostic)
      XCTAssertEqual(diagnostics.count, 1, input)
      guard let diagnostic = diagnostics.first else { continue }
      XCTAssertEqual(diagnostic.message, message, input)
      XCTAssertEqual(diagnostic.range.column, column, input)
      XCTAssertEqual(diagnostic.range.length, length, input)
      XCTAssertEqual(diagnostic.hint, hint, input)
    }
  }

  func testUnknownCharacterAfterUnicodeLinesUpByScalar() {
    XCTAssertEqual(
      lexicalErrors("s = \"λé\" $"),
      ["x.locus:1:10: error: unknown character '$'\ns = \"λé\" $\n         ^"])
  }
}
