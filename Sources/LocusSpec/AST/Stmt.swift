// Statements and bodies. `if` / `else if` / `else` is flattened into one chain of clauses so the
// elaborator can pick the taken branch with a loop instead of recursion.

public struct Stmt: Hashable, Sendable {
  public indirect enum Kind: Hashable, Sendable {
    /// `const a = 1, b = 2`
    case constants([Binding])
    /// `input pixels: f32[3, 224, 224]`
    case input(Identifier, TensorType)
    /// `param cls_token: f32[1, 1, dim] = zeros()`
    case parameter(Identifier, TensorType, initializer: InitializerCall?)
    /// `init linear: trunc_normal(std: 0.02), param: zeros()`
    case initializers([InitializerRule])
    /// `a, b = expr` (one or more targets)
    case assignment(targets: [Identifier], value: Expr)
    case repeatLoop(RepeatLoop)
    case ifChain(IfChain)
    /// `return a, b` (one or more values; several make a tuple)
    case returnValues([Expr])
    /// `output logits = expr`
    case output(Identifier, Expr)
  }

  public var kind: Kind
  public var range: SourceRange

  public init(_ kind: Kind, range: SourceRange) {
    self.kind = kind
    self.range = range
  }
}

/// `{ stmt* }`; the range covers the braces.
public struct Body: Hashable, Sendable {
  public var statements: [Stmt]
  public var range: SourceRange

  public init(statements: [Stmt], range: SourceRange) {
    self.statements = statements
    self.range = range
  }
}

/// `name = value` inside `const`.
public struct Binding: Hashable, Sendable {
  public var name: Identifier
  public var value: Expr
  public var range: SourceRange

  public init(name: Identifier, value: Expr, range: SourceRange) {
    self.name = name
    self.value = value
    self.range = range
  }
}

/// `f32[dims]`. Only `f32` exists today; the element type is explicit so adding one is local.
public struct TensorType: Hashable, Sendable {
  public enum Element: String, Hashable, Sendable { case f32 }

  public var element: Element
  public var dimensions: [Expr]
  public var range: SourceRange

  public init(element: Element, dimensions: [Expr], range: SourceRange) {
    self.element = element
    self.dimensions = dimensions
    self.range = range
  }
}

/// An initialiser such as `trunc_normal(std: 0.02)`: always a name with an argument list.
public struct InitializerCall: Hashable, Sendable {
  public var name: Identifier
  public var arguments: [Argument]
  public var range: SourceRange

  public init(name: Identifier, arguments: [Argument], range: SourceRange) {
    self.name = name
    self.arguments = arguments
    self.range = range
  }
}

/// `kind: initialiser` in an `init` statement; `kind` is a primitive (`linear`) or `param`.
public struct InitializerRule: Hashable, Sendable {
  public var kind: Identifier
  public var initializer: InitializerCall
  public var range: SourceRange

  public init(kind: Identifier, initializer: InitializerCall, range: SourceRange) {
    self.kind = kind
    self.initializer = initializer
    self.range = range
  }
}

/// `repeat [index in] count { body } [@scope]`
public struct RepeatLoop: Hashable, Sendable {
  public var index: Identifier?
  public var count: Expr
  public var body: Body
  public var scope: Scope?

  public init(index: Identifier?, count: Expr, body: Body, scope: Scope?) {
    self.index = index
    self.count = count
    self.body = body
    self.scope = scope
  }
}

/// `if c1 { } else if c2 { } else { }` as clauses `[c1, c2]` plus the final `else` body.
public struct IfChain: Hashable, Sendable {
  public var clauses: [IfClause]
  public var elseBody: Body?

  public init(clauses: [IfClause], elseBody: Body?) {
    self.clauses = clauses
    self.elseBody = elseBody
  }
}

public struct IfClause: Hashable, Sendable {
  public var condition: Expr
  public var body: Body

  public init(condition: Expr, body: Body) {
    self.condition = condition
    self.body = body
  }
}
