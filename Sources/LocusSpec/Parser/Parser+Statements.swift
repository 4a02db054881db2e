// stmt = "const" ... | "input" ... | "param" ... | "init" ... | IDENT { "," IDENT } "=" expr
//      | "repeat" ... | "if" ... | "return" ... | "output" IDENT "=" expr ;

extension Parser {
  /// Statement keywords and the function that parses the rest of the statement (the keyword
  /// itself already consumed).
  static let statementParsers:
    [Keyword: @Sendable (Parser) -> () throws(SyntaxAbort) -> Stmt.Kind] = [
      .const: Parser.parseConstants,
      .input: Parser.parseInput,
      .param: Parser.parseParameter,
      .`init`: Parser.parseInitializers,
      .repeat: Parser.parseRepeat,
      .if: Parser.parseIf,
      .return: Parser.parseReturn,
      .output: Parser.parseOutput,
    ]

  /// Statements that only make sense in one kind of declaration, and what to do instead.
  static let placement: [Keyword: (only: Keyword, hint: String)] = [
    .input: (.model, "a block receives its inputs as parameters"),
    .output: (.model, "a block hands its results back with 'return'"),
    .`init`: (.model, "set default initialisers in the model that uses the block"),
    .return: (.block, "a model names its results with 'output name = ...'"),
  ]

  /// One statement and its terminator; nil after an error, once recovery has skipped it.
  func parseStatementRecovering(afterIf: Bool) -> Stmt? {
    let start = position
    nodeCount = 0
    do {
      let first = peek()
      let statement = try parseStatement(afterIf: afterIf)
      try checkPlacement(of: first)
      try expectStatementEnd()
      return statement
    } catch {
      recoverFromStatementError(startedAt: start)
      return nil
    }
  }

  private func parseStatement(afterIf: Bool) throws(SyntaxAbort) -> Stmt {
    let first = peek()
    let kind: Stmt.Kind
    if case .keyword(let keyword) = first.kind, let parse = Parser.statementParsers[keyword] {
      advance()
      kind = try parse(self)()
    } else if first.kind == .identifier {
      kind = try parseAssignment()
    } else {
      throw failAtStatementStart(first, afterIf: afterIf)
    }
    return Stmt(kind, range: rangeFrom(first))
  }

  private func failAtStatementStart(_ token: Token, afterIf: Bool) -> SyntaxAbort {
    if token.isKeyword(.else) {
      return afterIf
        ? fail(
          "'else' must be on the same line as the '}' that closes the 'if'",
          hint: "write '} else {'", at: token.range)
        : fail("'else' without a matching 'if'", at: token.range)
    }
    if token.isSymbol(.at) {
      return fail(
        "a scope must be on the same line as the call or the '}' it applies to",
        hint: "move it to the end of the previous line", at: token.range)
    }
    return fail(
      "expected a statement",
      hint: "a statement is an assignment 'name = ...' or starts with const, input, param, init, "
        + "repeat, if, return or output", at: token.range)
  }

  private func expectStatementEnd() throws(SyntaxAbort) {
    let token = peek()
    if token.isTerminator {
      advance()
    } else if !token.isSymbol(.rightBrace) && token.kind != .endOfFile {
      throw fail(
        "unexpected \(token) at the end of the statement",
        hint: "each statement ends at a newline or ';'")
    }
  }

  private func checkPlacement(of first: Token) throws(SyntaxAbort) {
    guard case .keyword(let keyword) = first.kind, let rule = Parser.placement[keyword],
      let enclosing = declarationStack.last, enclosing != rule.only
    else { return }
    throw fail(
      "'\(keyword.rawValue)' can only be used inside a '\(rule.only.rawValue)'",
      hint: rule.hint, at: first.range)
  }

  /// From `first` to the last token consumed.
  func rangeFrom(_ first: Token) -> SourceRange {
    first.range.union(previous?.range ?? first.range)
  }

  // MARK: - The statements

  private func parseConstants() throws(SyntaxAbort) -> Stmt.Kind {
    var bindings: [Binding] = []
    repeat {
      let name = try expectName(
        bindings.isEmpty ? "expected a name after 'const'" : "expected a name after ',' in 'const'")
      try expect(
        .equal, "expected '=' after the name of constant '\(name.name)'",
        hint: "a constant needs a value, e.g. 'const \(name.name) = 4'")
      let value = try parseExpression()
      bindings.append(Binding(name: name, value: value, range: name.range.union(value.range)))
    } while accept(.comma) != nil
    return .constants(bindings)
  }

  private func parseInput() throws(SyntaxAbort) -> Stmt.Kind {
    let name = try expectName("expected a name after 'input'")
    try expect(
      .colon, "expected ':' after the name of input '\(name.name)'",
      hint: "declare its shape, e.g. 'input \(name.name): f32[3, 224, 224]'")
    return .input(name, try parseTensorType())
  }

  private func parseParameter() throws(SyntaxAbort) -> Stmt.Kind {
    let name = try expectName("expected a name after 'param'")
    try expect(
      .colon, "expected ':' after the name of parameter '\(name.name)'",
      hint: "declare its shape, e.g. 'param \(name.name): f32[1, 1, 192]'")
    let type = try parseTensorType()
    let initializer = accept(.equal) != nil ? try parseInitializerCall() : nil
    return .parameter(name, type, initializer: initializer)
  }

  /// `init kind: call { "," kind: call }`. The kind `param` is a keyword elsewhere; here it is
  /// read as a name, because DESIGN.md uses `init ..., param: trunc_normal(...)`.
  private func parseInitializers() throws(SyntaxAbort) -> Stmt.Kind {
    var rules: [InitializerRule] = []
    repeat {
      let token = peek()
      guard token.kind == .identifier || token.isKeyword(.param) else {
        throw fail(
          "expected a primitive kind after \(previousDescription)",
          hint: "e.g. 'init linear: trunc_normal(std: 0.02)'")
      }
      advance()
      let kind = Identifier(token.text, range: token.range)
      try expect(
        .colon, "expected ':' after '\(kind.name)' in 'init'",
        hint: "e.g. 'init \(kind.name): trunc_normal(std: 0.02)'")
      let call = try parseInitializerCall()
      rules.append(
        InitializerRule(kind: kind, initializer: call, range: kind.range.union(call.range)))
    } while accept(.comma) != nil
    return .initializers(rules)
  }

  private func parseAssignment() throws(SyntaxAbort) -> Stmt.Kind {
    var targets = [try expectName("expected a name")]
    while accept(.comma) != nil {
      targets.append(try expectName("expected a name after ',' in the assignment"))
    }
    guard accept(.equal) != nil else {
      let token = peek()
      let hint =
        token.isSymbol(.equalEqual)
        ? "use '=' to assign; '==' compares two values"
        : token.isSymbol(.leftParen)
          ? "a call's result must be assigned, e.g. 'y = f(x)'"
          : "an assignment has the form 'name = expression'"
      throw fail("missing '=' in assignment", hint: hint)
    }
    return .assignment(targets: targets, value: try parseExpression())
  }

  /// `repeat [ IDENT "in" ] expr body [ scope ]`: `repeat i in n` has a loop variable because
  /// `in` follows the name; `repeat n` has none.
  private func parseRepeat() throws(SyntaxAbort) -> Stmt.Kind {
    var index: Identifier?
    if peek().kind == .identifier, peek(ahead: 1).isKeyword(.in) {
      let name = advance()
      index = Identifier(name.text, range: name.range)
      advance()
    } else if check(.in) {
      throw fail("expected a loop variable before 'in'", hint: "write 'repeat i in n { ... }'")
    }
    if check(.leftBrace) {
      throw fail(
        "expected a count after \(previousDescription)",
        hint: "write 'repeat n { ... }' or 'repeat i in n { ... }'")
    }
    let count = try parseExpression()
    let body = try parseBody(
      of: "'repeat'", missing: "'repeat' needs a body in braces",
      hint: "write 'repeat i in n { ... }'")
    let scope = check(.at) ? try parseScope() : nil
    return .repeatLoop(RepeatLoop(index: index, count: count, body: body, scope: scope))
  }

  /// `if expr body [ "else" ( body | ifstmt ) ]`, collected into one chain.
  private func parseIf() throws(SyntaxAbort) -> Stmt.Kind {
    var clauses: [IfClause] = []
    var elseBody: Body?
    while true {
      if check(.leftBrace) {
        throw fail(
          "expected a condition after \(previousDescription)", hint: "write 'if condition { ... }'")
      }
      let condition = try parseExpression()
      let body = try parseBody(
        of: "'if'", missing: "'if' needs a body in braces", hint: "write 'if condition { ... }'")
      clauses.append(IfClause(condition: condition, body: body))
      guard check(.else) else { break }
      advance()
      if check(.if) {
        advance()
        continue
      }
      elseBody = try parseBody(
        of: "'else'", missing: "'else' needs a body in braces or another 'if'",
        hint: "write 'else { ... }' or 'else if condition { ... }'")
      break
    }
    return .ifChain(IfChain(clauses: clauses, elseBody: elseBody))
  }

  private func parseReturn() throws(SyntaxAbort) -> Stmt.Kind {
    var values = [try parseExpression()]
    while accept(.comma) != nil { values.append(try parseExpression()) }
    return .returnValues(values)
  }

  private func parseOutput() throws(SyntaxAbort) -> Stmt.Kind {
    let name = try expectName("expected a name after 'output'")
    try expect(
      .equal, "expected '=' after the name of output '\(name.name)'",
      hint: "e.g. 'output \(name.name) = linear(x, out: 1000)'")
    return .output(name, try parseExpression())
  }

  /// A name, or `message`; a keyword in a name's place gets its own message.
  func expectName(_ message: String) throws(SyntaxAbort) -> Identifier {
    let token = peek()
    if token.kind == .identifier {
      advance()
      return Identifier(token.text, range: token.range)
    }
    if case .keyword(let keyword) = token.kind, errorRange() == token.range {
      throw fail(
        "'\(keyword.rawValue)' is a keyword and cannot be used as a name",
        hint: "choose another name")
    }
    throw fail(message)
  }
}
