// Recursive-descent parser for the grammar of DESIGN.md section 1.
//
// Error handling: a syntax error is reported once, then `SyntaxAbort` unwinds to the statement
// being parsed, which skips to the next statement boundary (Parser+Recovery.swift) and goes on.
// So every broken statement costs exactly one error and the rest of the file is still checked.
// The parser never traps: the token array always ends with `.endOfFile`, and the cursor never
// moves past it.

/// Unwinds to the enclosing statement after a syntax error has been reported.
struct SyntaxAbort: Error {}

/// The parser of one source file. Use the static entry points (Parse.swift); an instance is
/// single-use.
public final class Parser {
  let file: SourceFile
  let tokens: [Token]
  var position = 0
  var diagnostics = DiagnosticEngine()
  /// The last token consumed; "expected X after Y" messages name it and point just past it.
  var previous: Token?
  /// Greater than 0 inside `(...)`, `[...]` and a scope's `{...}`, where line breaks are
  /// insignificant. Saved and restored around every bracketed construct, so after an error the
  /// statement recovery sees line breaks again.
  var bracketDepth = 0
  /// Open brackets and bodies; capped so that no input can exhaust the stack.
  var nesting = 0
  /// Operator and call nodes built in the current statement; capped because very deep trees
  /// would overflow the stack when they are compared, printed or freed.
  var nodeCount = 0
  /// The declarations being parsed, innermost last (for "only in a model" checks; more than
  /// one only while an illegally nested declaration is parsed).
  var declarationStack: [Keyword] = []

  static let maxNesting = 64
  static let maxNodesPerStatement = 1000

  init(_ file: SourceFile) {
    self.file = file
    self.tokens = Lexer.tokenize(file)
  }

  // MARK: - Cursor

  /// The current token. Inside brackets, line breaks are consumed on the way.
  func peek() -> Token {
    if bracketDepth > 0 {
      while tokens[position].kind == .newline { position += 1 }
    }
    return tokens[position]
  }

  /// The raw token `offset` places after the current one (line breaks included).
  func peek(ahead offset: Int) -> Token {
    _ = peek()
    return tokens[min(position + offset, tokens.count - 1)]
  }

  @discardableResult
  func advance() -> Token {
    let token = peek()
    if token.kind != .endOfFile { position += 1 }
    if token.kind != .newline { previous = token }
    return token
  }

  func check(_ symbol: Symbol) -> Bool { peek().isSymbol(symbol) }
  func check(_ keyword: Keyword) -> Bool { peek().isKeyword(keyword) }

  /// Consumes the symbol when it is next.
  func accept(_ symbol: Symbol) -> Token? {
    check(symbol) ? advance() : nil
  }

  /// Consumes `symbol` or reports `message` (with `hint`) and aborts the statement.
  @discardableResult
  func expect(_ symbol: Symbol, _ message: String, hint: String? = nil) throws(SyntaxAbort)
    -> Token
  {
    if let token = accept(symbol) { return token }
    throw fail(message, hint: hint)
  }

  /// Runs `body` with line breaks ignored, as inside `(...)`.
  func insideBrackets<T>(_ body: () throws(SyntaxAbort) -> T) throws(SyntaxAbort) -> T {
    try nested { () throws(SyntaxAbort) -> T in
      bracketDepth += 1
      defer { bracketDepth -= 1 }
      return try body()
    }
  }

  /// Runs `body` one level deeper, refusing absurd nesting instead of overflowing the stack.
  func nested<T>(_ body: () throws(SyntaxAbort) -> T) throws(SyntaxAbort) -> T {
    guard nesting < Parser.maxNesting else {
      throw fail(
        "the spec is nested too deeply here (more than \(Parser.maxNesting) levels)",
        hint: "split it into several statements or blocks")
    }
    nesting += 1
    defer { nesting -= 1 }
    return try body()
  }

  /// Counts one operator or call node of the current statement.
  func countNode() throws(SyntaxAbort) {
    nodeCount += 1
    if nodeCount > Parser.maxNodesPerStatement {
      throw fail(
        "this statement is too long (more than \(Parser.maxNodesPerStatement) operations)",
        hint: "split it into several statements")
    }
  }

  // MARK: - Errors

  /// Reports a syntax error (at `range`, by default where `errorRange()` points) and returns
  /// the abort to throw.
  ///
  /// When the error is about a token the lexer could not read, its own diagnostic ("unknown
  /// character '$'") is reported instead: it is the real cause of whatever the parser expected.
  func fail(
    _ message: String, hint: String? = nil, notes: [DiagnosticNote] = [],
    at range: SourceRange? = nil
  ) -> SyntaxAbort {
    let token = peek()
    let range = range ?? errorRange()
    if token.kind == .invalid, range == token.range, let lexical = token.diagnostic {
      diagnostics.report(lexical)
    } else {
      diagnostics.error(message, at: range, hint: hint, notes: notes)
    }
    return SyntaxAbort()
  }

  /// Where "expected X" points: at the current token when it is on the line of the previous
  /// one, otherwise (the line ended, or the file did) just past the previous token, where the
  /// missing piece belongs.
  func errorRange() -> SourceRange {
    let token = peek()
    guard let previous,
      token.kind == .newline || token.kind == .endOfFile
        || token.range.line != previous.range.end.line
    else { return token.range }
    return previous.range.afterEnd
  }

  /// `'x'`, for "after 'x'" messages.
  var previousDescription: String { previous.map { "'\($0.text)'" } ?? "the start of the file" }
}
