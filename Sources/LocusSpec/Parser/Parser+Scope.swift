// scope = "@" seg { "." seg } ;   seg = IDENT | INT | "{" expr "}" ;
//
// Two readings beyond the bare grammar, both because scope paths copy parameter names from
// foreign checkpoints: a FLOAT token is read as its digits (`@layers.0.0.norm1` lexes `0.0` as
// one FLOAT and gives the segments 0 and 0), and a keyword is read as a name (`@model.block`).

extension Parser {
  func parseScope() throws(SyntaxAbort) -> Scope {
    let at = advance()
    var segments: [ScopeSegment] = []
    repeat {
      segments += try parseScopeSegments()
    } while accept(.dot) != nil
    let end = segments.last?.range ?? at.range
    return Scope(segments: segments, range: at.range.union(end))
  }

  /// One segment, or two when a FLOAT stands for `digits.digits`.
  private func parseScopeSegments() throws(SyntaxAbort) -> [ScopeSegment] {
    let token = peek()
    switch (token.kind, token.literal) {
    case (.identifier, _), (.keyword, _):
      guard errorRange() == token.range else { break }
      advance()
      return [ScopeSegment(.name(token.text), range: token.range)]
    case (.integer, .integer(let value)):
      advance()
      return [ScopeSegment(.integer(value), range: token.range)]
    case (.float, _):
      return try splitFloatSegment(token)
    case (.symbol(.leftBrace), _):
      return [try parseInterpolation(open: advance())]
    default:
      break
    }
    let isFirst = previous?.isSymbol(.at) == true
    throw fail(
      isFirst
        ? "expected a scope name after '@'"
        : "expected a name, an integer or '{expr}' after '.' in the scope",
      hint: "e.g. '@attn', '@blocks.{i}' or '@layers.0.norm1'")
  }

  private func splitFloatSegment(_ token: Token) throws(SyntaxAbort) -> [ScopeSegment] {
    let parts = token.text.split(separator: ".", omittingEmptySubsequences: false)
    let values = parts.compactMap { Int($0) }
    guard parts.count == 2, values.count == 2 else {
      throw fail(
        "'\(token.text)' is not a valid scope segment",
        hint: "scope segments are names, integers or '{expr}'")
    }
    advance()
    let start = token.range.offset
    let dot = start + parts[0].count
    return [
      ScopeSegment(.integer(values[0]), range: file.range(from: start, to: dot)),
      ScopeSegment(
        .integer(values[1]), range: file.range(from: dot + 1, to: token.range.endOffset)),
    ]
  }

  private func parseInterpolation(open: Token) throws(SyntaxAbort) -> ScopeSegment {
    try insideBrackets { () throws(SyntaxAbort) -> ScopeSegment in
      let expr = try parseExpression()
      let close = try expectClosing(
        Closing(
          .rightBrace, what: "the '{' in the scope", hint: "add '}' after the expression",
          sameLine: "expected '}' after the expression in the scope"), opener: open)
      return ScopeSegment(.interpolated(expr), range: open.range.union(close.range))
    }
  }
}
