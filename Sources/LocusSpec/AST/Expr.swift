// Expressions. Value types throughout; every node carries the SourceRange it was parsed from so
// the elaborator can point at it.
//
// The pipe is not a node: `a |> f(b)` is desugared by the parser into the call `f(a, b)`, and
// `a |> f` into `f(a)` (see Parser+Expressions.swift). A call's range then spans from `a` to the
// end of `f(b)`, and `a` is its first positional argument.

/// A name as written in the source.
public struct Identifier: Hashable, Sendable {
  public var name: String
  public var range: SourceRange

  public init(_ name: String, range: SourceRange) {
    self.name = name
    self.range = range
  }
}

public struct Expr: Hashable, Sendable {
  public indirect enum Kind: Hashable, Sendable {
    case integer(Int)
    case float(Double)
    case string(String)
    case bool(Bool)
    case identifier(String)
    case list([Expr])
    case call(Call)
    /// `base[index]`: a list element, or the first per-sample axis of a tensor.
    case index(base: Expr, index: Expr)
    case binary(BinaryOperator, Expr, Expr)
    case unary(UnaryOperator, Expr)
    case conditional(condition: Expr, then: Expr, else: Expr)
  }

  public var kind: Kind
  public var range: SourceRange

  public init(_ kind: Kind, range: SourceRange) {
    self.kind = kind
    self.range = range
  }
}

/// `callee(arguments) @scope`. The callee is usually an identifier (a primitive or a block) but
/// may be any postfix expression, e.g. a function value held in a parameter (`act(x)`).
public struct Call: Hashable, Sendable {
  public var callee: Expr
  public var arguments: [Argument]
  /// The trailing `@path` that prefixes every parameter the call creates.
  public var scope: Scope?

  public init(callee: Expr, arguments: [Argument], scope: Scope? = nil) {
    self.callee = callee
    self.arguments = arguments
    self.scope = scope
  }

  /// The callee's name when it is a plain identifier.
  public var calleeName: String? {
    if case .identifier(let name) = callee.kind { return name }
    return nil
  }
}

/// `value` or `label: value`.
public struct Argument: Hashable, Sendable {
  public var label: Identifier?
  public var value: Expr
  public var range: SourceRange

  public init(label: Identifier?, value: Expr, range: SourceRange) {
    self.label = label
    self.value = value
    self.range = range
  }
}

/// Binary operators; the raw value is the spelling.
public enum BinaryOperator: String, Hashable, Sendable, CaseIterable {
  case or = "||"
  case and = "&&"
  case equal = "=="
  case notEqual = "!="
  case less = "<"
  case lessEqual = "<="
  case greater = ">"
  case greaterEqual = ">="
  case add = "+"
  case subtract = "-"
  case multiply = "*"
  case divide = "/"
  case remainder = "%"
}

public enum UnaryOperator: String, Hashable, Sendable, CaseIterable {
  case negate = "-"
  case not = "!"
}

/// `@seg.seg...`: the parameter-name prefix of a call or of a `repeat` iteration.
public struct Scope: Hashable, Sendable {
  public var segments: [ScopeSegment]
  public var range: SourceRange

  public init(segments: [ScopeSegment], range: SourceRange) {
    self.segments = segments
    self.range = range
  }
}

public struct ScopeSegment: Hashable, Sendable {
  public enum Kind: Hashable, Sendable {
    case name(String)
    /// An integer segment. `layers.0.0` lexes `0.0` as a FLOAT; the parser splits it into two.
    case integer(Int)
    /// `{expr}`, evaluated during elaboration (usually the loop index).
    case interpolated(Expr)
  }

  public var kind: Kind
  public var range: SourceRange

  public init(_ kind: Kind, range: SourceRange) {
    self.kind = kind
    self.range = range
  }
}
