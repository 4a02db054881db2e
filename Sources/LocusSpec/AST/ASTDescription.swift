// A compact, deterministic S-expression rendering of the AST, so parser tests can compare one
// readable line instead of walking nested enums:
//   x = a + b * 2 |> f(out: 3) @s   prints   (= x (f (+ a (* b 2)) out:3 @s))
// Ranges are not printed; tests that care about locations check them directly.

extension Expr: CustomStringConvertible {
  public var description: String {
    switch kind {
    case .integer(let value): return String(value)
    case .float(let value): return String(value)
    case .string(let value): return quoted(value)
    case .bool(let value): return String(value)
    case .identifier(let name): return name
    case .list(let elements): return "[" + spaced(elements) + "]"
    case .call(let call): return call.description
    case .index(let base, let index): return "(index \(base) \(index))"
    case .binary(let op, let lhs, let rhs): return "(\(op.rawValue) \(lhs) \(rhs))"
    case .unary(let op, let operand): return "(\(op.rawValue) \(operand))"
    case .conditional(let condition, let then, let otherwise):
      return "(? \(condition) \(then) \(otherwise))"
    }
  }
}

extension Call: CustomStringConvertible {
  /// `(callee args... @scope)`
  public var description: String {
    var parts = [callee.description] + arguments.map(\.description)
    if let scope { parts.append(scope.description) }
    return "(" + parts.joined(separator: " ") + ")"
  }
}

extension Argument: CustomStringConvertible {
  public var description: String {
    guard let label else { return value.description }
    return "\(label.name):\(value)"
  }
}

extension Scope: CustomStringConvertible {
  public var description: String {
    "@" + segments.map(\.description).joined(separator: ".")
  }
}

extension ScopeSegment: CustomStringConvertible {
  public var description: String {
    switch kind {
    case .name(let name): name
    case .integer(let value): String(value)
    case .interpolated(let expr): "{\(expr)}"
    }
  }
}

extension Stmt: CustomStringConvertible {
  public var description: String {
    switch kind {
    case .constants(let bindings):
      return "(const " + bindings.map { "(\($0.name.name) \($0.value))" }.joined(separator: " ")
        + ")"
    case .input(let name, let type):
      return "(input \(name.name) \(type))"
    case .parameter(let name, let type, let initializer):
      return "(param \(name.name) \(type)" + (initializer.map { " \($0)" } ?? "") + ")"
    case .initializers(let rules):
      return "(init " + rules.map { "(\($0.kind.name) \($0.initializer))" }.joined(separator: " ")
        + ")"
    case .assignment(let targets, let value):
      let names = targets.map(\.name)
      let target = names.count == 1 ? names[0] : "(" + names.joined(separator: " ") + ")"
      return "(= \(target) \(value))"
    case .repeatLoop(let loop):
      return loop.description
    case .ifChain(let chain):
      return chain.description
    case .returnValues(let values):
      return "(return \(spaced(values)))"
    case .output(let name, let value):
      return "(output \(name.name) \(value))"
    }
  }
}

extension RepeatLoop: CustomStringConvertible {
  /// `(repeat i in n {body} @scope)`, or `(repeat n {body})` without an index.
  public var description: String {
    var parts = ["repeat"]
    if let index { parts += [index.name, "in"] }
    parts += [count.description, body.description]
    if let scope { parts.append(scope.description) }
    return "(" + parts.joined(separator: " ") + ")"
  }
}

extension IfChain: CustomStringConvertible {
  /// `(if c1 {..} elif c2 {..} else {..})`
  public var description: String {
    var parts: [String] = []
    for (index, clause) in clauses.enumerated() {
      parts += [index == 0 ? "if" : "elif", clause.condition.description, clause.body.description]
    }
    if let elseBody { parts += ["else", elseBody.description] }
    return "(" + parts.joined(separator: " ") + ")"
  }
}

extension Body: CustomStringConvertible {
  public var description: String { "{" + spaced(statements) + "}" }
}

extension TensorType: CustomStringConvertible {
  public var description: String { element.rawValue + "[" + spaced(dimensions) + "]" }
}

extension InitializerCall: CustomStringConvertible {
  public var description: String {
    "(" + ([name.name] + arguments.map(\.description)).joined(separator: " ") + ")"
  }
}

extension BlockDecl: CustomStringConvertible {
  /// `(block name (x hidden out=0) {body})`
  public var description: String {
    let params = parameters.map { param in
      param.defaultValue.map { "\(param.name.name)=\($0)" } ?? param.name.name
    }
    return "(block \(name.name) (" + params.joined(separator: " ") + ") \(body))"
  }
}

extension ModelDecl: CustomStringConvertible {
  public var description: String { "(model \(name.name) \(body))" }
}

extension Declaration: CustomStringConvertible {
  public var description: String {
    switch self {
    case .block(let block): block.description
    case .model(let model): model.description
    }
  }
}

extension File: CustomStringConvertible {
  /// One declaration per line.
  public var description: String { declarations.map(\.description).joined(separator: "\n") }
}

private func spaced<T: CustomStringConvertible>(_ items: [T]) -> String {
  items.map(\.description).joined(separator: " ")
}

/// A string literal as it would be written in a spec, escapes re-applied.
private func quoted(_ value: String) -> String {
  var result = "\""
  for scalar in value.unicodeScalars {
    switch scalar {
    case "\"": result += "\\\""
    case "\\": result += "\\\\"
    case "\n": result += "\\n"
    default: result.unicodeScalars.append(scalar)
    }
  }
  return result + "\""
}
