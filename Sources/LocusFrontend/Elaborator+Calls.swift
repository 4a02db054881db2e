import LocusIR
import LocusSpec

extension Elaborator {
  func evaluateArguments(_ args: [LocusSpec.Argument], _ env: inout Environment) throws(ElaborationError) -> [EvaluatedArgument] {
    var out: [EvaluatedArgument] = []
    for arg in args {
      out.append(EvaluatedArgument(label: arg.label?.name, value: try evaluate(arg.value, &env), range: arg.range))
    }
    return out
  }

  /// A call of a primitive, builtin or block, with its optional `@scope`.
  func call(_ call: Call, range: SourceRange, _ env: inout Environment) throws(ElaborationError) -> Value {
    if case .identifier(let name) = call.callee.kind, env[name] == nil, blocks[name] == nil,
       Primitives.table[name] == nil, !Builtins.names.contains(name) {
      let known = Array(env.variables.keys) + Array(blocks.keys) + Array(Primitives.table.keys) + Array(Builtins.names)
      throw ElaborationError("unknown block or primitive '\(name)'", at: call.callee.range, hint: suggestion(for: name, among: known))
    }
    var callee = try evaluate(call.callee, &env)
    // In call position a constant that shares a block's name (`const mlp = 4` beside the block
    // `mlp`) does not hide the block: only function values are callable anyway.
    if case .identifier(let name) = call.callee.kind, blocks[name] != nil || Primitives.table[name] != nil || Builtins.names.contains(name) {
      if case .function = callee {} else { callee = .function(name) }
    }
    guard case .function(let name) = callee else {
      if case .poisoned = callee { throw .poisoned(at: range) }
      throw ElaborationError("\(callee.kind) cannot be called", at: call.callee.range)
    }
    let args = try evaluateArguments(call.arguments, &env)
    let pushed = try pushScope(call.scope, &env)
    defer { builder.scope.removeLast(pushed) }
    if let block = blocks[name] { return try inline(block, args, at: range) }
    if let primitive = Primitives.table[name] {
      if call.scope == nil, createsParameters(name), builder.scope.isEmpty {
        diagnostics.warning("'\(name)' creates parameters at the top level of the model", at: range,
                            hint: "give it a scope such as '@head' so its weights get a name of their own")
      }
      return try primitive.body(&builder, try BoundArguments(name, primitive.signature, args, at: range))
    }
    return try builtin(name, args, at: range)
  }

  private func createsParameters(_ name: String) -> Bool {
    ["conv2d", "dwconv", "linear", "layernorm", "batchnorm"].contains(name)
  }

  /// Elaborates a block's body in a fresh environment holding only its arguments.
  private func inline(_ block: BlockDecl, _ args: [EvaluatedArgument], at range: SourceRange) throws(ElaborationError) -> Value {
    guard callStack.count < 64 else {
      throw ElaborationError("block '\(block.name.name)' calls itself too deeply", at: range, hint: "blocks are inlined: recursion never ends")
    }
    var env = Environment(block: block.name.name)
    let names = block.parameters.map(\.name.name)
    let positional = args.filter { $0.label == nil }
    guard positional.count <= names.count else {
      throw ElaborationError("block '\(block.name.name)' takes \(names.count) argument\(names.count == 1 ? "" : "s"), got \(positional.count) without labels",
                             at: positional[names.count].range, hint: "its parameters are: \(names.joined(separator: ", "))")
    }
    for (name, arg) in zip(names, positional) { env[name] = arg.value }
    for arg in args {
      guard let label = arg.label else { continue }
      guard names.contains(label) else {
        throw ElaborationError("block '\(block.name.name)' has no parameter '\(label)'", at: arg.range,
                               hint: suggestion(for: label, among: names) ?? "its parameters are: \(names.joined(separator: ", "))")
      }
      guard env[label] == nil else { throw ElaborationError("argument '\(label)' is given twice", at: arg.range) }
      env[label] = arg.value
    }
    callStack.append((block.name.name, range))
    defer { callStack.removeLast() }
    for p in block.parameters where env[p.name.name] == nil {
      guard let d = p.defaultValue else {
        callStack.removeLast()
        defer { callStack.append((block.name.name, range)) }
        throw ElaborationError("block '\(block.name.name)' is missing its argument '\(p.name.name)'", at: range,
                               hint: "pass it as '\(p.name.name): …'")
      }
      env[p.name.name] = try evaluate(d, &env)
    }
    if args.contains(where: { isPoisoned($0.value) }) { throw .poisoned(at: range) }
    run(block.body, &env)
    guard let result = env.returned else {
      throw ElaborationError("block '\(block.name.name)' ends without 'return'", at: block.name.range)
    }
    if isPoisoned(result) { throw .poisoned(at: range) }
    return result
  }

  private func builtin(_ name: String, _ args: [EvaluatedArgument], at range: SourceRange) throws(ElaborationError) -> Value {
    let signature: Signature = switch name {
    case "dim": Signature([("x", nil), ("axis", nil)])
    case "min", "max": Signature([("a", nil), ("b", nil)])
    case "len": Signature([("list", nil)])
    case "sqrt_int": Signature([("n", nil)])
    default: Signature([("x", nil)])
    }
    let a = try BoundArguments(name, signature, args, at: range)
    switch name {
    case "len":
      guard case .list(let items) = a.value("list") else { throw ElaborationError("len needs a list, got \(a.value("list").kind)", at: a.range("list")) }
      return .int(items.count)
    case "sqrt_int":
      let n = try a.int("n")
      guard let r = exactSquareRoot(n) else { throw ElaborationError("\(n) is not a perfect square", at: range) }
      return .int(r)
    case "min", "max":
      let x = try a.int("a"), y = try a.int("b")
      return .int(name == "min" ? min(x, y) : max(x, y))
    default:
      let t = builder.type(try a.tensor("x"))
      switch name {
      case "dim":
        let axis = try a.int("axis")
        guard let k = normalizeAxis(axis, rank: t.rank) else { throw ElaborationError("dim: axis \(axis) is out of range for \(t)", at: a.range("axis")) }
        return .int(t.shape[k])
      case "rank": return .int(t.rank)
      case "channels":
        guard t.rank == 2 || t.rank == 3 else { throw ElaborationError("channels needs tokens [N, C] or an image [C, H, W], got \(t)", at: range) }
        return .int(t.rank == 2 ? t.shape[1] : t.shape[0])
      case "tokens":
        guard t.rank >= 2 else { throw ElaborationError("tokens needs tokens [N, C], got \(t)", at: range) }
        return .int(t.shape[t.rank - 2])
      case "height", "width":
        guard t.rank == 3 else { throw ElaborationError("\(name) needs an image [C, H, W], got \(t)", at: range) }
        return .int(t.shape[name == "height" ? 1 : 2])
      default:
        throw ElaborationError("unknown builtin '\(name)'", at: range)
      }
    }
  }
}
