// expr = ternary { "|>" postfix } ; ternary = or [ "?" expr ":" expr ] ;
// or / and / cmp / sum / prod: binary levels, loosest first ; unary = [ "-" | "!" ] postfix ;
// primary = INT | FLOAT | STRING | "true" | "false" | IDENT | "(" expr ")" | "[" [ exprs ] "]" ;
//
// The pipe is desugared here: `a |> f(b)` becomes the call `f(a, b)`, `a |> f` becomes `f(a)`,
// and `a |> f @s` becomes `f(a) @s`, so later stages only ever see calls. A pipe target that is
// some other postfix expression (`a |> fs[0]`) is called with `a` as its only argument.

extension Parser {
  /// One precedence level: its operators, and whether they chain (`a + b + c`) or not
  /// (`a < b < c` is rejected rather than read as `(a < b) < c`).
  struct BinaryLevel {
    let operators: [Symbol: BinaryOperator]
    let chains: Bool
  }

  /// Loosest first, as in the grammar.
  static let binaryLevels: [BinaryLevel] = [
    BinaryLevel(operators: [.orOr: .or], chains: true),
    BinaryLevel(operators: [.andAnd: .and], chains: true),
    BinaryLevel(
      operators: [
        .equalEqual: .equal, .notEqual: .notEqual, .less: .less, .lessEqual: .lessEqual,
        .greater: .greater, .greaterEqual: .greaterEqual,
      ], chains: false),
    BinaryLevel(operators: [.plus: .add, .minus: .subtract], chains: true),
    BinaryLevel(
      operators: [.star: .multiply, .slash: .divide, .percent: .remainder], chains: true),
  ]

  static let unaryOperators: [Symbol: UnaryOperator] = [.minus: .negate, .bang: .not]

  func parseExpression() throws(SyntaxAbort) -> Expr {
    try nested { () throws(SyntaxAbort) -> Expr in
      var value = try parseConditional()
      while accept(.pipe) != nil {
        let (target, pendingScope) = try parsePostfix(asPipeTarget: true)
        value = try pipe(value, into: target, scope: pendingScope)
      }
      return value
    }
  }

  private func pipe(_ value: Expr, into target: Expr, scope: Scope?) throws(SyntaxAbort) -> Expr {
    try countNode()
    let range = value.range.union(scope?.range ?? target.range)
    let piped = Argument(label: nil, value: value, range: value.range)
    if case .call(var call) = target.kind, scope == nil {
      call.arguments.insert(piped, at: 0)
      return Expr(.call(call), range: range)
    }
    return Expr(.call(Call(callee: target, arguments: [piped], scope: scope)), range: range)
  }

  private func parseConditional() throws(SyntaxAbort) -> Expr {
    let condition = try parseBinary(level: 0)
    guard accept(.question) != nil else { return condition }
    try countNode()
    let then = try parseExpression()
    try expect(
      .colon, "expected ':' after the first branch of the conditional",
      hint: "a conditional has the form 'condition ? a : b'")
    let otherwise = try parseExpression()
    return Expr(
      .conditional(condition: condition, then: then, else: otherwise),
      range: condition.range.union(otherwise.range))
  }

  private func parseBinary(level: Int) throws(SyntaxAbort) -> Expr {
    guard level < Parser.binaryLevels.count else { return try parseUnary() }
    let rules = Parser.binaryLevels[level]
    var lhs = try parseBinary(level: level + 1)
    while case .symbol(let symbol) = peek().kind, let op = rules.operators[symbol] {
      advance()
      try countNode()
      let rhs = try parseBinary(level: level + 1)
      lhs = Expr(.binary(op, lhs, rhs), range: lhs.range.union(rhs.range))
      if !rules.chains, case .symbol(let next) = peek().kind, rules.operators[next] != nil {
        throw fail(
          "comparisons cannot be chained",
          hint: "combine two comparisons with '&&', e.g. 'a < b && b < c'")
      }
    }
    return lhs
  }

  private func parseUnary() throws(SyntaxAbort) -> Expr {
    guard case .symbol(let symbol) = peek().kind, let op = Parser.unaryOperators[symbol] else {
      return try parsePostfix(asPipeTarget: false).expr
    }
    let token = advance()
    try countNode()
    let operand = try parsePostfix(asPipeTarget: false).expr
    return Expr(.unary(op, operand), range: token.range.union(operand.range))
  }

  /// primary { call | index | scope }. A scope after something that is not a call is only valid
  /// as a pipe target (`x |> gelu @act`): it is returned separately for `pipe` to attach.
  func parsePostfix(asPipeTarget: Bool) throws(SyntaxAbort) -> (expr: Expr, scope: Scope?) {
    var expr = try parsePrimary(asPipeTarget: asPipeTarget)
    while true {
      if let open = accept(.leftParen) {
        try countNode()
        let (arguments, close) = try parseArguments(after: open, callee: expr)
        expr = Expr(.call(Call(callee: expr, arguments: arguments)), range: expr.range.union(close))
      } else if let open = accept(.leftBracket) {
        try countNode()
        expr = try parseIndex(of: expr, open: open)
      } else if check(.at) {
        guard case .call(var call) = expr.kind else {
          if asPipeTarget { return (expr, try parseScope()) }
          // Inside an argument list, the likelier mistake is a missing ')' before the scope.
          throw fail(
            "a scope can only be attached to a call",
            hint: bracketDepth > 0
              ? "if it belongs to the enclosing call, close the arguments with ')' before it"
              : "a scope names the parameters a call creates, e.g. 'linear(x, out: 10) @fc'")
        }
        if let existing = call.scope {
          throw fail(
            "this call already has the scope '\(existing)'",
            hint: "join the segments into one path, e.g. '@a.b'")
        }
        let scope = try parseScope()
        call.scope = scope
        expr = Expr(.call(call), range: expr.range.union(scope.range))
      } else {
        return (expr, nil)
      }
    }
  }

  private func parseIndex(of base: Expr, open: Token) throws(SyntaxAbort) -> Expr {
    try insideBrackets { () throws(SyntaxAbort) -> Expr in
      let index = try parseExpression()
      let close = try expectClosing(
        Closing(
          .rightBracket, what: "the index", hint: "add ']' after the index",
          sameLine: "expected ']' after the index"), opener: open)
      return Expr(.index(base: base, index: index), range: base.range.union(close.range))
    }
  }
}
