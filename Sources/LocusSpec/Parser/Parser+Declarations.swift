// file = { block | model } ; block = "block" IDENT "(" [ param { "," param } ] ")" body ;
// model = "model" IDENT body ; body = "{" { stmt NL } "}" ;

extension Parser {
  func parseFile() -> File {
    var declarations: [Declaration] = []
    while true {
      while peek().isTerminator { advance() }
      let token = peek()
      if token.kind == .endOfFile { break }
      if token.isKeyword(.block) || token.isKeyword(.model) {
        if let declaration = parseDeclaration() { declarations.append(declaration) }
        continue
      }
      reportTopLevel(token)
      skipToNextDeclaration()
    }
    return File(source: file, declarations: declarations)
  }

  private func reportTopLevel(_ token: Token) {
    if token.isSymbol(.rightBrace) {
      _ = fail(
        "unexpected '}' with no matching '{'", hint: "remove it, or add the missing '{'",
        at: token.range)
    } else {
      _ = fail(
        "expected 'block' or 'model' at the top level of the file",
        hint: "statements belong inside the body of a 'model' or a 'block'", at: token.range)
    }
  }

  /// Parses a `block` or `model` at the current token. A broken header is reported, and the body
  /// (when one follows) is still parsed so that its errors are reported too; the declaration is
  /// then dropped.
  func parseDeclaration() -> Declaration? {
    let keyword = advance()
    let kind: Keyword = keyword.isKeyword(.block) ? .block : .model
    declarationStack.append(kind)
    defer { declarationStack.removeLast() }
    nodeCount = 0
    do {
      let name = try expectName("expected a name after '\(kind.rawValue)'")
      let parameters = kind == .block ? try parseBlockParameters(of: name) : []
      let owner = "\(kind.rawValue) '\(name.name)'"
      let body = try parseBody(
        of: owner, missing: "expected '{' to start the body of \(owner)", hint: headerHint(kind))
      let range = keyword.range.union(body.range)
      return kind == .block
        ? .block(BlockDecl(name: name, parameters: parameters, body: body, range: range))
        : .model(ModelDecl(name: name, body: body, range: range))
    } catch {
      skipBrokenHeader()
      if check(.leftBrace), nesting < Parser.maxNesting {
        _ = try? parseBody(of: "this \(kind.rawValue)", missing: "", hint: "")
      }
      return nil
    }
  }

  private func headerHint(_ kind: Keyword) -> String {
    kind == .model
      ? "a model takes no parameters: declare its inputs with 'input' inside the body"
      : "write the block as 'block name(x, option = 1) { ... }'"
  }

  /// `( [ param { "," param } ] )`, param = IDENT [ "=" expr ].
  private func parseBlockParameters(of block: Identifier) throws(SyntaxAbort) -> [BlockParameter] {
    let open = try expect(
      .leftParen, "expected '(' after the name of block '\(block.name)'",
      hint: "a block lists its parameters, e.g. 'block \(block.name)(x) { ... }'")
    return try insideBrackets { () throws(SyntaxAbort) -> [BlockParameter] in
      var parameters: [BlockParameter] = []
      if accept(.rightParen) != nil { return parameters }
      repeat {
        let name = try expectName("expected a parameter name after \(previousDescription)")
        var defaultValue: Expr?
        if accept(.equal) != nil { defaultValue = try parseExpression() }
        parameters.append(
          BlockParameter(
            name: name, defaultValue: defaultValue,
            range: name.range.union(defaultValue?.range ?? name.range)))
      } while accept(.comma) != nil
      _ = try expectClosing(
        Closing(
          .rightParen, what: "the parameters of block '\(block.name)'",
          hint: "add ')' after the last parameter",
          sameLine: "expected ',' or ')' after a parameter"),
        opener: open)
      return parameters
    }
  }

  /// After a broken header: skip to the body's `{`, stopping at the next declaration.
  private func skipBrokenHeader() {
    while true {
      let token = tokens[position]
      if token.kind == .endOfFile || token.isSymbol(.leftBrace) { return }
      if token.startsLine, token.isKeyword(.block) || token.isKeyword(.model) { return }
      advance()
    }
  }

  // MARK: - Bodies

  /// `{ { stmt NL } }`. `owner` names the construct in messages ("model 'vit'", "'repeat'");
  /// `missing` is the message when there is no `{`. The last statement may end at the `}`
  /// itself, so `{ return x }` is accepted on one line.
  func parseBody(of owner: String, missing: String, hint: String) throws(SyntaxAbort) -> Body {
    try nested { () throws(SyntaxAbort) -> Body in
      guard let open = accept(.leftBrace) else { throw fail(missing, hint: hint) }
      var statements: [Stmt] = []
      var previousWasIf = false
      while true {
        while peek().isTerminator { advance() }
        let token = peek()
        if let close = accept(.rightBrace) {
          return Body(statements: statements, range: open.range.union(close.range))
        }
        if token.kind == .endOfFile || (token.range.column == 1 && isDeclarationKeyword(token)) {
          reportUnclosed(open, owner: owner, stoppedAt: token)
          return Body(statements: statements, range: open.range.union(token.range))
        }
        if isDeclarationKeyword(token) {
          reportNestedDeclaration(token)
          continue
        }
        let statement = parseStatementRecovering(afterIf: previousWasIf)
        if let statement { statements.append(statement) }
        if case .ifChain? = statement?.kind { previousWasIf = true } else { previousWasIf = false }
      }
    }
  }

  private func isDeclarationKeyword(_ token: Token) -> Bool {
    token.isKeyword(.block) || token.isKeyword(.model)
  }

  /// A `{` still open at the end of the file, or when a declaration starts in column 1 (read as
  /// the next top-level declaration, so that one missing `}` does not nest the rest of the file).
  private func reportUnclosed(_ open: Token, owner: String, stoppedAt token: Token) {
    let note =
      token.kind == .endOfFile
      ? DiagnosticNote("the file ends here", at: token.range)
      : DiagnosticNote("the next declaration starts here", at: token.range)
    diagnostics.error(
      "this '{' is never closed", at: open.range,
      hint: "add '}' at the end of the body of \(owner)", notes: [note])
  }

  /// Declarations only live at the top level; the nested one is parsed (its errors reported
  /// too) and dropped.
  private func reportNestedDeclaration(_ token: Token) {
    let outer = declarationStack.last ?? .model
    diagnostics.error(
      "a '\(token.text)' cannot be nested inside a '\(outer.rawValue)'", at: token.range,
      hint: "move it to the top level of the file")
    _ = parseDeclaration()
  }
}
