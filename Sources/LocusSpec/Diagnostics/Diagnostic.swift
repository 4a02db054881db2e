// What every layer of the compiler reports about a spec: the parser for syntax, the elaborator
// (LocusFrontend) for semantics (unknown block, wrong argument, shape mismatch).

public enum Severity: String, Sendable, Hashable, CaseIterable {
  case error, warning, note
}

/// A secondary location that explains a diagnostic ("'(' opened here"). The range is optional
/// because some notes are plain text ("the block was called from ...").
public struct DiagnosticNote: Hashable, Sendable {
  public var message: String
  public var range: SourceRange?

  public init(_ message: String, at range: SourceRange? = nil) {
    self.message = message
    self.range = range
  }
}

/// One message about a spec, anchored at `range`, with an optional hint on how to fix it.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
  public var severity: Severity
  public var message: String
  public var range: SourceRange
  public var hint: String?
  public var notes: [DiagnosticNote]

  public init(
    _ severity: Severity, _ message: String, at range: SourceRange, hint: String? = nil,
    notes: [DiagnosticNote] = []
  ) {
    self.severity = severity
    self.message = message
    self.range = range
    self.hint = hint
    self.notes = notes
  }

  public static func error(
    _ message: String, at range: SourceRange, hint: String? = nil, notes: [DiagnosticNote] = []
  ) -> Diagnostic {
    Diagnostic(.error, message, at: range, hint: hint, notes: notes)
  }

  public static func warning(
    _ message: String, at range: SourceRange, hint: String? = nil, notes: [DiagnosticNote] = []
  ) -> Diagnostic {
    Diagnostic(.warning, message, at: range, hint: hint, notes: notes)
  }

  /// The clang-style text: location, message, source line, caret, hint, then the notes.
  public var description: String { DiagnosticRenderer.render(self) }
}
