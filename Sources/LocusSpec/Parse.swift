// LocusSpec: the spec language front end. It owns source files and locations, diagnostics
// (shared with the elaborator in LocusFrontend), the lexer, the AST, the parser and the prelude.
//
// Entry points: `Parser.parse(_:)` (or the free `parse(_:)`) returns the AST and every
// diagnostic; `Parser.parseOrThrow(_:)` throws them as one `SpecError` when any is an error.

extension Parser {
  /// Parses `source`. Always returns a File: after syntax errors it holds the declarations that
  /// parsed cleanly, and the diagnostics list every error found (at most one per statement).
  public static func parse(_ source: SourceFile) -> (File, [Diagnostic]) {
    let parser = Parser(source)
    let file = parser.parseFile()
    return (file, parser.diagnostics.diagnostics)
  }

  /// Parses `source`, throwing all diagnostics together when any of them is an error.
  public static func parseOrThrow(_ source: SourceFile) throws(SpecError) -> File {
    let (file, diagnostics) = parse(source)
    var engine = DiagnosticEngine()
    engine.append(contentsOf: diagnostics)
    try engine.checked()
    return file
  }
}

/// `Parser.parse(source)`.
public func parse(_ source: SourceFile) -> (File, [Diagnostic]) {
  Parser.parse(source)
}

/// `Parser.parseOrThrow(source)`.
public func parseOrThrow(_ source: SourceFile) throws(SpecError) -> File {
  try Parser.parseOrThrow(source)
}
