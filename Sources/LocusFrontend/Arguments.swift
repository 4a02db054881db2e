import LocusIR
import LocusSpec

/// One argument at a call site, already evaluated.
struct EvaluatedArgument {
  var label: String?
  var value: Value
  var range: SourceRange
}

/// A callee's parameter list: names in order, with defaults. `variadic` collects the leading
/// positional tensors (`concat(a, b, c, axis: 0)`), or a single list of them.
struct Signature: Sendable {
  var parameters: [(name: String, defaultValue: Value?)]
  var variadic: String? = nil

  init(_ parameters: [(String, Value?)], variadic: String? = nil) {
    self.parameters = parameters.map { (name: $0.0, defaultValue: $0.1) }
    self.variadic = variadic
  }
}

/// Arguments bound to a signature: by position first, then by name. Typed accessors throw
/// diagnostics that name the callee and the argument.
struct BoundArguments {
  var callee: String
  var values: [String: Value] = [:]
  var ranges: [String: SourceRange] = [:]
  var variadicValues: [(Value, SourceRange)] = []
  var callRange: SourceRange

  init(_ callee: String, _ signature: Signature, _ args: [EvaluatedArgument], at callRange: SourceRange) throws(ElaborationError) {
    self.callee = callee
    self.callRange = callRange
    var positional = args.filter { $0.label == nil }
    if signature.variadic != nil {
      let count = positional.prefix { if case .tensor = $0.value { true } else if case .list = $0.value { true } else { false } }.count
      for arg in positional.prefix(count) {
        if case .list(let items) = arg.value { variadicValues += items.map { ($0, arg.range) } } else { variadicValues.append((arg.value, arg.range)) }
      }
      positional.removeFirst(count)
    }
    let names = signature.parameters.map(\.name)
    guard positional.count <= names.count else {
      throw ElaborationError("'\(callee)' takes at most \(names.count) positional arguments, got \(positional.count)", at: positional[names.count].range,
                             hint: "its arguments are: \(names.joined(separator: ", "))")
    }
    for (name, arg) in zip(names, positional) {
      values[name] = arg.value
      ranges[name] = arg.range
    }
    for arg in args {
      guard let label = arg.label else { continue }
      guard names.contains(label) else {
        throw ElaborationError("'\(callee)' has no argument '\(label)'", at: arg.range,
                               hint: names.isEmpty ? "it takes no named arguments" : "its arguments are: \(names.joined(separator: ", "))")
      }
      guard values[label] == nil else {
        throw ElaborationError("argument '\(label)' of '\(callee)' is given twice", at: arg.range)
      }
      values[label] = arg.value
      ranges[label] = arg.range
    }
    for p in signature.parameters where values[p.name] == nil {
      guard let d = p.defaultValue else {
        throw ElaborationError("'\(callee)' is missing its argument '\(p.name)'", at: callRange,
                               hint: "pass it as '\(p.name): …'")
      }
      values[p.name] = d
    }
    for (name, v) in values where isPoisoned(v) { throw .poisoned(at: ranges[name] ?? callRange) }
    if variadicValues.contains(where: { isPoisoned($0.0) }) { throw .poisoned(at: callRange) }
  }

  func range(_ name: String) -> SourceRange { ranges[name] ?? callRange }

  func value(_ name: String) -> Value { values[name] ?? .poisoned }

  func tensor(_ name: String) throws(ElaborationError) -> ValueID {
    guard case .tensor(let t) = value(name) else { throw mismatch(name, "a tensor") }
    return t
  }

  func int(_ name: String) throws(ElaborationError) -> Int {
    guard case .int(let i) = value(name) else { throw mismatch(name, "an integer") }
    return i
  }

  func bool(_ name: String) throws(ElaborationError) -> Bool {
    guard case .bool(let b) = value(name) else { throw mismatch(name, "true or false") }
    return b
  }

  func float(_ name: String) throws(ElaborationError) -> Float {
    switch value(name) {
    case .float(let d): return Float(d)
    case .int(let i): return Float(i)
    default: throw mismatch(name, "a number")
    }
  }

  /// An integer, or a list of `count` integers (kernel sizes: `3` or `[1, 3]`).
  func ints(_ name: String, count: Int) throws(ElaborationError) -> [Int] {
    switch value(name) {
    case .int(let i): return Array(repeating: i, count: count)
    case .list(let items) where items.count == count:
      var out: [Int] = []
      for item in items {
        guard case .int(let i) = item else { throw mismatch(name, "a list of \(count) integers") }
        out.append(i)
      }
      return out
    default: throw mismatch(name, count == 1 ? "an integer" : "an integer or a list of \(count) integers")
    }
  }

  func intList(_ name: String) throws(ElaborationError) -> [Int] {
    guard case .list(let items) = value(name) else { throw mismatch(name, "a list of integers") }
    var out: [Int] = []
    for item in items {
      guard case .int(let i) = item else { throw mismatch(name, "a list of integers") }
      out.append(i)
    }
    return out
  }

  func tensors() throws(ElaborationError) -> [ValueID] {
    var out: [ValueID] = []
    for (v, range) in variadicValues {
      guard case .tensor(let t) = v else {
        throw ElaborationError("'\(callee)' joins tensors, got \(v.kind)", at: range)
      }
      out.append(t)
    }
    guard !out.isEmpty else { throw ElaborationError("'\(callee)' needs at least one tensor", at: callRange) }
    return out
  }

  private func mismatch(_ name: String, _ expected: String) -> ElaborationError {
    ElaborationError("argument '\(name)' of '\(callee)' must be \(expected), got \(value(name).kind)", at: range(name))
  }
}

func isPoisoned(_ v: Value) -> Bool {
  switch v {
  case .poisoned: true
  case .list(let xs), .tuple(let xs): xs.contains(where: isPoisoned)
  default: false
  }
}
