// primary = INT | FLOAT | STRING | "true" | "false" | IDENT | "(" expr ")" | "[" [ exprs ] "]" ;

extension Parser {
  func parsePrimary(asPipeTarget: Bool) throws(SyntaxAbort) -> Expr {
    let token = peek()
    switch (token.kind, token.literal) {
    case (.integer, .integer(let value)):
      advance()
      return Expr(.integer(value), range: token.range)
    case (.float, .float(let value)):
      advance()
      return Expr(.float(value), range: token.range)
    case (.string, .string(let value)):
      advance()
      return Expr(.string(value), range: token.range)
    case (.keyword(.true), _), (.keyword(.false), _):
      advance()
      return Expr(.bool(token.isKeyword(.true)), range: token.range)
    case (.identifier, _):
      advance()
      return Expr(.identifier(token.text), range: token.range)
    case (.symbol(.leftParen), _):
      return try parseParenthesized(open: advance())
    case (.symbol(.leftBracket), _):
      return try parseList(open: advance())
    default:
      throw failMissingExpression(asPipeTarget: asPipeTarget)
    }
  }

  private func failMissingExpression(asPipeTarget: Bool) -> SyntaxAbort {
    if asPipeTarget {
      return fail(
        "expected a function after '|>'", hint: "e.g. 'x |> gelu' or 'x |> linear(out: 10)'")
    }
    let token = peek()
    var hint: String?
    if case .keyword(let keyword) = token.kind, errorRange() == token.range {
      hint = "'\(keyword.rawValue)' is a keyword and cannot be used as a value"
    } else if let previous, Parser.unaryOperators[symbolOf(previous)] != nil,
      Parser.unaryOperators[symbolOf(token)] != nil
    {
      hint = "put the operand in parentheses, e.g. '-(-x)'"
    }
    return fail("expected an expression after \(previousDescription)", hint: hint)
  }

  private func symbolOf(_ token: Token) -> Symbol {
    if case .symbol(let symbol) = token.kind { return symbol }
    return .semicolon
  }

  /// The parentheses are kept in the range, so a diagnostic about `(a + b)` underlines them too.
  private func parseParenthesized(open: Token) throws(SyntaxAbort) -> Expr {
    try insideBrackets { () throws(SyntaxAbort) -> Expr in
      let inner = try parseExpression()
      if check(.comma) {
        throw fail(
          "expected ')' after the expression",
          hint: "parentheses hold one expression; a list is written '[a, b]'")
      }
      let close = try expectClosing(
        Closing(
          .rightParen, what: "the parenthesis", hint: "add ')' after the expression",
          sameLine: "expected ')' after the expression"), opener: open)
      return Expr(inner.kind, range: open.range.union(close.range))
    }
  }

  private func parseList(open: Token) throws(SyntaxAbort) -> Expr {
    try insideBrackets { () throws(SyntaxAbort) -> Expr in
      var elements: [Expr] = []
      if let close = accept(.rightBracket) {
        return Expr(.list(elements), range: open.range.union(close.range))
      }
      repeat {
        elements.append(try parseExpression())
      } while accept(.comma) != nil
      let close = try expectClosing(
        Closing(
          .rightBracket, what: "the list", hint: "add ']' after the last element",
          sameLine: "expected ',' or ']' after a list element"), opener: open)
      try countNode()
      return Expr(.list(elements), range: open.range.union(close.range))
    }
  }
}
