// Turns a SourceFile into tokens. Never fails: unreadable text becomes an `.invalid` token that
// carries its diagnostic. Line breaks come out as `.newline` tokens, already folded by the
// continuation rules (see LineContinuation.swift); the parser ignores the remaining ones inside
// `(...)` and `[...]`.

public struct Lexer {
  let file: SourceFile
  let scalars: [Unicode.Scalar]
  var position = 0
  var tokens: [Token] = []
  /// True until the first token of the current source line has been emitted.
  var atLineStart = true

  /// All tokens of `file`, ending with one `.endOfFile`.
  public static func tokenize(_ file: SourceFile) -> [Token] {
    var lexer = Lexer(file: file)
    lexer.scanAll()
    return LineContinuation.apply(to: lexer.tokens)
  }

  init(file: SourceFile) {
    self.file = file
    self.scalars = file.scalars
  }

  mutating func scanAll() {
    while let scalar = peek() {
      switch scalar {
      case " ", "\t", "\r":
        position += 1
      case "\n":
        emitNewline()
        position += 1
      case "#":
        while let next = peek(), next != "\n" { position += 1 }
      case "0"..."9":
        scanNumber()
      case "\"":
        scanString()
      default:
        if Lexer.isIdentifierStart(scalar) {
          scanWord()
        } else if !scanSymbol() {
          scanUnknown(scalar)
        }
      }
    }
    let end = tokens.last?.range.endOffset ?? 0
    tokens.append(
      Token(kind: .endOfFile, text: "", range: file.range(from: end, to: end), startsLine: true))
  }

  // MARK: - Small scanners

  mutating func scanWord() {
    let start = position
    while let scalar = peek(), Lexer.isIdentifierPart(scalar) { position += 1 }
    let text = slice(start, position)
    let kind = Keyword.bySpelling[text].map(TokenKind.keyword) ?? .identifier
    emit(kind, from: start, spelling: text)
  }

  /// Longest match against the symbol table; false when nothing matches here.
  mutating func scanSymbol() -> Bool {
    guard let first = peek(), let candidates = Symbol.byFirstScalar[first] else { return false }
    for symbol in candidates where matches(symbol.rawValue) {
      let start = position
      position += symbol.rawValue.unicodeScalars.count
      emit(.symbol(symbol), from: start, spelling: symbol.rawValue)
      return true
    }
    return false
  }

  /// Hints for characters people type expecting another language's operator.
  static let unknownCharacterHints: [Unicode.Scalar: String] = [
    "&": "did you mean '&&'?",
    "|": "did you mean '||' or '|>'?",
    "'": "strings are written in double quotes",
    "^": "there is no power operator; multiply instead",
    "\\": "a backslash is only allowed inside a string",
  ]

  mutating func scanUnknown(_ scalar: Unicode.Scalar) {
    let start = position
    position += 1
    let shown =
      scalar.properties.isWhitespace || scalar.value < 0x20 || scalar.value == 0x7F
      ? "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
      : "'\(scalar)'"
    emitInvalid(
      from: start, message: "unknown character \(shown)",
      hint: Lexer.unknownCharacterHints[scalar])
  }

  mutating func emitNewline() {
    // Only the first break after a token matters: blank lines and comment lines fold into it.
    atLineStart = true
    guard let last = tokens.last, last.kind != .newline else { return }
    tokens.append(
      Token(
        kind: .newline, text: "\n", range: file.range(from: position, to: position),
        startsLine: false))
  }

  // MARK: - Emitting

  /// `spelling` saves rebuilding the text of symbols and keywords from scalars.
  mutating func emit(
    _ kind: TokenKind, from start: Int, literal: TokenLiteral = .none, spelling: String? = nil
  ) {
    tokens.append(
      Token(
        kind: kind, text: spelling ?? slice(start, position),
        range: file.range(from: start, to: position), startsLine: atLineStart, literal: literal))
    atLineStart = false
  }

  /// An `.invalid` token over the scanned text; the diagnostic may point at a narrower range
  /// (the bad escape inside a string).
  mutating func emitInvalid(
    from start: Int, message: String, hint: String? = nil, at diagnosticRange: SourceRange? = nil
  ) {
    let range = file.range(from: start, to: position)
    var token = Token(
      kind: .invalid, text: slice(start, position), range: range, startsLine: atLineStart)
    token.diagnostic = .error(message, at: diagnosticRange ?? range, hint: hint)
    tokens.append(token)
    atLineStart = false
  }

  // MARK: - Character helpers

  func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
    let index = position + ahead
    return index < scalars.count ? scalars[index] : nil
  }

  func matches(_ spelling: String) -> Bool {
    var index = position
    for scalar in spelling.unicodeScalars {
      guard index < scalars.count, scalars[index] == scalar else { return false }
      index += 1
    }
    return true
  }

  func slice(_ start: Int, _ end: Int) -> String {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars[start..<end])
    return String(view)
  }

  /// Names are ASCII: `[A-Za-z_][A-Za-z0-9_]*`.
  static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
    let value = scalar.value
    return value == 0x5F || (0x61...0x7A).contains(value) || (0x41...0x5A).contains(value)
  }

  static func isIdentifierPart(_ scalar: Unicode.Scalar) -> Bool {
    isIdentifierStart(scalar) || isDigit(scalar)
  }

  static func isDigit(_ scalar: Unicode.Scalar) -> Bool { (0x30...0x39).contains(scalar.value) }
}

extension String {
  fileprivate func leftPadded(to width: Int) -> String {
    String(repeating: "0", count: max(0, width - count)) + self
  }
}
