// Accumulates diagnostics while a stage runs, and turns them into a typed error at the end.

/// Collects the diagnostics of one stage. Stages keep going after an error so that a user sees
/// every problem of a file at once; `checked()` then throws them all together.
public struct DiagnosticEngine: Sendable {
  public private(set) var diagnostics: [Diagnostic] = []

  public init() {}

  public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
  public var errorCount: Int { diagnostics.count { $0.severity == .error } }

  public mutating func report(_ diagnostic: Diagnostic) {
    diagnostics.append(diagnostic)
  }

  public mutating func error(
    _ message: String, at range: SourceRange, hint: String? = nil, notes: [DiagnosticNote] = []
  ) {
    report(.error(message, at: range, hint: hint, notes: notes))
  }

  public mutating func warning(
    _ message: String, at range: SourceRange, hint: String? = nil, notes: [DiagnosticNote] = []
  ) {
    report(.warning(message, at: range, hint: hint, notes: notes))
  }

  public mutating func append(contentsOf other: [Diagnostic]) {
    diagnostics.append(contentsOf: other)
  }

  /// Throws every diagnostic collected so far (warnings included) when any of them is an error.
  public func checked() throws(SpecError) {
    if hasErrors { throw SpecError(diagnostics) }
  }
}

/// The error a spec stage throws: all the diagnostics it found, in the order it found them.
public struct SpecError: Error, Sendable, CustomStringConvertible {
  public let diagnostics: [Diagnostic]

  public init(_ diagnostics: [Diagnostic]) {
    self.diagnostics = diagnostics
  }

  /// Every diagnostic rendered as the user sees it, separated by newlines.
  public var description: String { DiagnosticRenderer.render(diagnostics) }
}
