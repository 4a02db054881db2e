// Numbers and strings: the only tokens whose text needs decoding, and the only ones that can be
// malformed in more than one way.

extension Lexer {
  /// INT = digits; FLOAT = digits "." digits [exponent] | digits exponent, exponent = e[+-]digits.
  /// A "." not followed by a digit is left alone, so the scope path `@blocks.0.attn` lexes as
  /// `blocks . 0 . attn` while `@layers.0.0.norm1` gives the FLOAT `0.0` the parser splits.
  mutating func scanNumber() {
    let start = position
    skipDigits()
    var isFloat = false
    if peek() == ".", let next = peek(1), Lexer.isDigit(next) {
      position += 1
      skipDigits()
      isFloat = true
    }
    if let marker = peek(), marker == "e" || marker == "E" {
      let signed = peek(1) == "+" || peek(1) == "-"
      let firstDigit = peek(signed ? 2 : 1)
      if let firstDigit, Lexer.isDigit(firstDigit) {
        position += signed ? 2 : 1
        skipDigits()
        isFloat = true
      } else {
        position += signed ? 2 : 1
        let text = slice(start, position)
        emitInvalid(
          from: start, message: "malformed number '\(text)'",
          hint: "an exponent needs digits, e.g. '1e-6'")
        return
      }
    }
    if let next = peek(), Lexer.isIdentifierPart(next) {
      while let scalar = peek(), Lexer.isIdentifierPart(scalar) { position += 1 }
      let text = slice(start, position)
      emitInvalid(
        from: start, message: "malformed number '\(text)'",
        hint: "a name cannot start with a digit")
      return
    }
    emitNumber(from: start, isFloat: isFloat)
  }

  private mutating func emitNumber(from start: Int, isFloat: Bool) {
    let text = slice(start, position)
    if isFloat {
      guard let value = Double(text), value.isFinite else {
        emitInvalid(from: start, message: "number '\(text)' is too large")
        return
      }
      emit(.float, from: start, literal: .float(value))
    } else {
      guard let value = Int(text) else {
        emitInvalid(from: start, message: "integer '\(text)' is too large")
        return
      }
      emit(.integer, from: start, literal: .integer(value))
    }
  }

  private mutating func skipDigits() {
    while let scalar = peek(), Lexer.isDigit(scalar) { position += 1 }
  }

  /// What each escape after a backslash stands for.
  static let escapes: [Unicode.Scalar: Unicode.Scalar] = ["\"": "\"", "\\": "\\", "n": "\n"]

  /// A string ends at the next unescaped `"` on the same line. A bad escape is reported but the
  /// scan continues to the closing quote, so the rest of the line still lexes normally.
  mutating func scanString() {
    let start = position
    position += 1
    var value = String.UnicodeScalarView()
    var badEscape: (offset: Int, scalar: Unicode.Scalar)?
    while let scalar = peek(), scalar != "\n" {
      position += 1
      if scalar == "\"" {
        if let badEscape {
          emitInvalid(
            from: start,
            message: "unknown escape sequence '\\\(badEscape.scalar)' in a string",
            hint: "the escapes are \\\", \\\\ and \\n",
            at: file.range(from: badEscape.offset, to: badEscape.offset + 2))
        } else {
          emit(.string, from: start, literal: .string(String(value)))
        }
        return
      }
      guard scalar == "\\", let escaped = peek(), escaped != "\n" else {
        value.append(scalar)
        continue
      }
      position += 1
      if let decoded = Lexer.escapes[escaped] {
        value.append(decoded)
      } else if badEscape == nil {
        badEscape = (position - 2, escaped)
      }
    }
    // The diagnostic spans the string to the end of its line, a trailing "\r" excluded.
    let lineEnd = position > start && scalars[position - 1] == "\r" ? position - 1 : position
    emitInvalid(
      from: start, message: "unterminated string", hint: "add '\"' at the end of the string",
      at: file.range(from: start, to: lineEnd))
  }
}
