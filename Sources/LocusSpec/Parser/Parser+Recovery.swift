// Where parsing resumes after a syntax error.
//
// Inside a body, a broken statement is skipped up to its end: the next line break or `;` that is
// not inside brackets opened by the skipped tokens themselves, or the `}` that closes the body.
// One refinement keeps an unclosed call from swallowing the next statement:
//
//     x = conv2d(pixels, out: 64      <- "expected ')'", reported at the end of this line
//     y = gelu(x)                      <- resumes here: the line closes nothing it did not open
//
// A line that does close an outer bracket (`  out: 64)`) is still part of the broken statement.

extension Parser {
  /// Skips the rest of the statement that started at token index `start`.
  func recoverFromStatementError(startedAt start: Int) {
    if position == start { advance() }
    let token = peek()
    if position > start, token.startsLine, token.kind != .endOfFile,
      token.isSymbol(.rightBrace) || (canStartStatement(token) && !lineClosesOuterBracket())
    {
      return
    }
    skipToStatementEnd()
  }

  /// Consumes tokens up to and including the next statement terminator at depth 0; stops before
  /// a `}` at depth 0 (it closes the body) and at the end of the file.
  func skipToStatementEnd() {
    var depth = 0
    while true {
      let token = tokens[position]
      switch token.kind {
      case .endOfFile:
        return
      case .newline where depth == 0, .symbol(.semicolon) where depth == 0:
        advance()
        return
      case .symbol(.rightBrace) where depth == 0:
        return
      case .symbol(.leftParen), .symbol(.leftBracket), .symbol(.leftBrace):
        depth += 1
      case .symbol(.rightParen), .symbol(.rightBracket), .symbol(.rightBrace):
        depth = max(0, depth - 1)
      default:
        break
      }
      advance()
    }
  }

  /// Whether the tokens from here to the end of the line close a `(` or `[` opened before.
  func lineClosesOuterBracket() -> Bool {
    var depth = 0
    var index = position
    while index < tokens.count {
      let token = tokens[index]
      if index > position && token.startsLine { return false }
      switch token.kind {
      case .newline, .endOfFile: return false
      case .symbol(.leftParen), .symbol(.leftBracket): depth += 1
      case .symbol(.rightParen), .symbol(.rightBracket):
        depth -= 1
        if depth < 0 { return true }
      default: break
      }
      index += 1
    }
    return false
  }

  /// At the top level, skips to the next `block` or `model` that starts a line, so a run of
  /// stray text costs one error.
  func skipToNextDeclaration() {
    advance()
    while true {
      let token = tokens[position]
      if token.kind == .endOfFile { return }
      if token.startsLine, token.isKeyword(.block) || token.isKeyword(.model) { return }
      advance()
    }
  }

  func canStartStatement(_ token: Token) -> Bool {
    switch token.kind {
    case .identifier: return true
    case .keyword(let keyword): return Parser.statementParsers[keyword] != nil
    default: return false
    }
  }
}
