// Bracketed lists: call arguments, tensor types, initialiser calls; and what to say when their
// closing bracket is missing.

extension Parser {
  /// How to report a missing closing bracket:
  ///  - something unexpected follows on the same line: `sameLine` ("expected ',' or ')' after
  ///    an argument"), at it;
  ///  - the line ends, and the next line closes the bracket: a ',' was forgotten at the end of
  ///    the line;
  ///  - the line ends (or a body's `{` comes): the closer itself was forgotten, "expected ')' to
  ///    close the call to 'f'", just past the last token.
  struct Closing {
    let closer: Symbol
    let what: String
    let hint: String
    let sameLine: String

    init(_ closer: Symbol, what: String, hint: String, sameLine: String) {
      self.closer = closer
      self.what = what
      self.hint = hint
      self.sameLine = sameLine
    }
  }

  func expectClosing(_ closing: Closing, opener: Token) throws(SyntaxAbort) -> Token {
    if let token = accept(closing.closer) { return token }
    let token = peek()
    let lastLine = previous?.range.line ?? 0
    let lineEnded = token.kind == .endOfFile || token.range.line != lastLine
    guard lineEnded || token.isSymbol(.leftBrace) else { throw fail(closing.sameLine) }
    let here = previous?.range.afterEnd
    if lineEnded, token.kind != .endOfFile, lineClosesOuterBracket(from: position) {
      throw fail(closing.sameLine, hint: "add ',' at the end of the line", at: here)
    }
    let notes =
      opener.range.line != lastLine
      ? [DiagnosticNote("'\(opener.text)' opened here", at: opener.range)] : []
    throw fail(
      "expected '\(closing.closer.rawValue)' to close \(closing.what)", hint: closing.hint,
      notes: notes, at: here)
  }

  /// `[ arg { "," arg } ] ")"` after the `(`; arg = [ IDENT ":" ] expr.
  /// Returns the arguments and the range of the `)`.
  func parseArguments(after open: Token, callee: Expr) throws(SyntaxAbort)
    -> ([Argument], SourceRange)
  {
    try insideBrackets { () throws(SyntaxAbort) -> ([Argument], SourceRange) in
      var arguments: [Argument] = []
      if let close = accept(.rightParen) { return (arguments, close.range) }
      repeat {
        arguments.append(try parseArgument())
      } while accept(.comma) != nil
      var what = "the call"
      if case .identifier(let name) = callee.kind { what = "the call to '\(name)'" }
      let close = try expectClosing(
        Closing(
          .rightParen, what: what, hint: "add ')' after the last argument",
          sameLine: "expected ',' or ')' after an argument"), opener: open)
      return (arguments, close.range)
    }
  }

  private func parseArgument() throws(SyntaxAbort) -> Argument {
    let token = peek()
    guard token.kind == .identifier, peek(ahead: 1).isSymbol(.colon) else {
      let value = try parseExpression()
      return Argument(label: nil, value: value, range: value.range)
    }
    advance()
    advance()
    let label = Identifier(token.text, range: token.range)
    if !canStartExpression(peek()) {
      throw fail("expected a value after '\(label.name):'")
    }
    let value = try parseExpression()
    return Argument(label: label, value: value, range: label.range.union(value.range))
  }

  func canStartExpression(_ token: Token) -> Bool {
    switch token.kind {
    case .integer, .float, .string, .identifier, .keyword(.true), .keyword(.false): true
    case .symbol(let symbol): [.leftParen, .leftBracket, .minus, .bang].contains(symbol)
    default: false
    }
  }

  /// type = "f32" "[" expr { "," expr } "]" ;
  func parseTensorType() throws(SyntaxAbort) -> TensorType {
    guard let element = accept(.f32) else {
      throw fail(
        "expected a tensor type such as 'f32[3, 224, 224]' after \(previousDescription)")
    }
    let open = try expect(
      .leftBracket, "expected '[' after 'f32'",
      hint: "a tensor type lists its shape, e.g. 'f32[3, 224, 224]'")
    return try insideBrackets { () throws(SyntaxAbort) -> TensorType in
      if check(.rightBracket) {
        throw fail("a tensor type needs at least one dimension", hint: "e.g. 'f32[192]'")
      }
      var dimensions: [Expr] = []
      repeat {
        dimensions.append(try parseExpression())
      } while accept(.comma) != nil
      let close = try expectClosing(
        Closing(
          .rightBracket, what: "the shape", hint: "add ']' after the last dimension",
          sameLine: "expected ',' or ']' after a dimension"), opener: open)
      return TensorType(
        element: .f32, dimensions: dimensions, range: element.range.union(close.range))
    }
  }

  /// An initialiser: a name and an argument list (`zeros()`, `trunc_normal(std: 0.02)`).
  func parseInitializerCall() throws(SyntaxAbort) -> InitializerCall {
    let token = peek()
    guard token.kind == .identifier, errorRange() == token.range else {
      throw fail(
        "expected an initialiser call such as 'zeros()' after \(previousDescription)",
        hint: "e.g. 'zeros()' or 'trunc_normal(std: 0.02)'")
    }
    advance()
    let name = Identifier(token.text, range: token.range)
    guard let open = accept(.leftParen) else {
      throw fail(
        "expected '(' after the initialiser '\(name.name)'",
        hint: "an initialiser is a call: write '\(name.name)()'")
    }
    let callee = Expr(.identifier(name.name), range: name.range)
    let (arguments, close) = try parseArguments(after: open, callee: callee)
    return InitializerCall(name: name, arguments: arguments, range: name.range.union(close))
  }

  func accept(_ keyword: Keyword) -> Token? {
    check(keyword) ? advance() : nil
  }
}
