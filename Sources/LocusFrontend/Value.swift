// LocusFrontend owns elaboration: it evaluates a parsed spec (constants, blocks, repeat, if,
// parameter scopes) and records every tensor operation in an IR graph with static shapes.
import LocusIR
import LocusSpec

/// A value during elaboration. Everything but tensors is known at compile time.
enum Value: Sendable {
  case int(Int)
  case float(Double)
  case bool(Bool)
  case string(String)
  case list([Value])
  case tuple([Value])
  case tensor(ValueID)
  /// A primitive, builtin or block used as a value (`act = hswish`).
  case function(String)
  /// The result of a statement that already failed with a diagnostic: using it reports nothing
  /// more, so one mistake gives one error rather than a cascade.
  case poisoned
  /// A signature default computed from other arguments (dwconv's padding = kernel / 2).
  case absent

  /// How the value is named in diagnostics ("expected an integer, got a tensor").
  var kind: String {
    switch self {
    case .int: "an integer"
    case .float: "a number"
    case .bool: "a boolean"
    case .string: "a string"
    case .list: "a list"
    case .tuple: "several values"
    case .tensor: "a tensor"
    case .function(let name): "the function '\(name)'"
    case .poisoned: "an invalid value"
    case .absent: "nothing"
    }
  }
}

/// A semantic error at a place in the spec. Thrown inside elaboration, collected per statement.
struct ElaborationError: Error {
  var message: String
  var range: SourceRange
  var hint: String?
  var notes: [DiagnosticNote] = []
  /// Set when the error only repeats an earlier one (a poisoned operand): not reported again.
  var silent = false

  init(_ message: String, at range: SourceRange, hint: String? = nil) {
    self.message = message
    self.range = range
    self.hint = hint
  }

  static func poisoned(at range: SourceRange) -> ElaborationError {
    var e = ElaborationError("poisoned", at: range)
    e.silent = true
    return e
  }
}
