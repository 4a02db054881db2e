import LocusIR
import LocusSpec

/// The names visible while elaborating one body: a model's, or one inlined block call's. Blocks
/// see only their parameters and their own variables (lexical scoping), never the caller's.
struct Environment {
  var variables: [String: Value] = [:]
  /// Set while elaborating a block: its name, for "return" checks and diagnostics.
  var block: String?
  /// The value of a `return` once one ran; the rest of the body is skipped.
  var returned: Value?

  subscript(name: String) -> Value? {
    get { variables[name] }
    set { variables[name] = newValue }
  }
}

/// Builtins that read static facts: they take compile-time values and tensors and return integers.
enum Builtins {
  static let names: Set<String> = ["dim", "channels", "tokens", "height", "width", "rank", "len", "sqrt_int", "min", "max"]
}

/// Bounds that keep a runaway spec (a typo in a count) from hanging or exhausting the compiler.
enum Limits {
  static let repeatCount = 100_000
  static let nodes = 1_000_000
}
