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
    let resumesHere =
      token.isSymbol(.rightBrace)
      || (canStartStatement(token) && !lineClosesOuterBracket(from: position))
    if position > start, token.startsLine, token.kind != .endOfFile, resumesHere { return }
    skipToStatementEnd()
  }

  /// Consumes tokens up to and including the next statement terminator outside the brackets
  /// the skipped tokens open; stops before a `}` that closes the body, and at the end of the
  /// file. A `(` or `[` left open in the skipped text does not hide the statements after it:
  /// the skip ends at a line break followed by a line that reads as a statement.
  func skipToStatementEnd() {
    var open: [Symbol] = []
    while true {
      let token = tokens[position]
      switch token.kind {
      case .endOfFile:
        return
      case .newline, .symbol(.semicolon):
        if open.isEmpty || (!open.contains(.leftBrace) && nextLineStartsStatement()) {
          advance()
          return
        }
      case .symbol(.leftParen), .symbol(.leftBracket), .symbol(.leftBrace):
        if case .symbol(let symbol) = token.kind { open.append(symbol) }
      case .symbol(.rightBrace):
        guard let index = open.lastIndex(of: .leftBrace) else { return }
        open.removeSubrange(index...)
      case .symbol(.rightParen):
        if let index = open.lastIndex(of: .leftParen) { open.removeSubrange(index...) }
      case .symbol(.rightBracket):
        if let index = open.lastIndex(of: .leftBracket) { open.removeSubrange(index...) }
      default:
        break
      }
      advance()
    }
  }

  /// Whether the token after the current line break starts a line that reads as a statement.
  private func nextLineStartsStatement() -> Bool {
    let next = position + 1
    guard next < tokens.count, tokens[position].kind == .newline else { return false }
    return canStartStatement(tokens[next]) && !lineClosesOuterBracket(from: next)
  }

  /// Whether the tokens from `start` to the end of their line close a `(` or `[` opened before.
  func lineClosesOuterBracket(from start: Int) -> Bool {
    var depth = 0
    var index = start
    while index < tokens.count {
      let token = tokens[index]
      if index > start && token.startsLine { return false }
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
