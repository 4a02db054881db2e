import LocusIR
import LocusSpec

/// Evaluates a model's body statement by statement, inlining block calls, and records every tensor
/// operation in the builder's graph. Errors are collected per statement: a failed statement poisons
/// the names it would have bound, and later uses of them stay silent, so each mistake is reported
/// once and every independent mistake is reported.
final class Elaborator {
  var builder: Builder
  var diagnostics = DiagnosticEngine()
  let blocks: [String: BlockDecl]
  /// Constant overrides from `--set name=value`, consumed as the model's `const`s are reached.
  var overrides: [String: Value]
  /// Calls of blocks being elaborated, outermost first: diagnostics inside a block name them.
  var callStack: [(block: String, range: SourceRange)] = []

  init(name: String, batch: Int, blocks: [String: BlockDecl], overrides: [String: Value]) {
    builder = Builder(name: name, batch: batch)
    self.blocks = blocks
    self.overrides = overrides
  }

  /// Runs the statements of a body; stops early after a `return`.
  func run(_ body: Body, _ env: inout Environment) {
    for stmt in body.statements {
      if env.returned != nil {
        diagnostics.warning("this statement comes after 'return' and is never elaborated", at: stmt.range)
        return
      }
      do {
        try execute(stmt, &env)
      } catch {
        report(error)
        for name in boundNames(stmt) { env[name] = .poisoned }
        // A failed `return` still ends the block (with an invalid value), or the block would
        // also be reported as ending without one.
        if case .returnValues = stmt.kind { env.returned = .poisoned }
      }
    }
  }

  func report(_ error: ElaborationError) {
    guard !error.silent else { return }
    let notes = callStack.reversed().map { DiagnosticNote("in block '\($0.block)', called here", at: $0.range) }
    let diagnostic = Diagnostic.error(error.message, at: error.range, hint: error.hint, notes: error.notes + notes)
    // A mistake inside a `repeat` body would otherwise be reported once per iteration.
    guard !diagnostics.diagnostics.contains(diagnostic) else { return }
    diagnostics.report(diagnostic)
  }

  private func boundNames(_ stmt: Stmt) -> [String] {
    switch stmt.kind {
    case .assignment(let targets, _): targets.map(\.name)
    case .constants(let bindings): bindings.map(\.name.name)
    case .input(let name, _), .parameter(let name, _, _): [name.name]
    default: []
    }
  }

  func execute(_ stmt: Stmt, _ env: inout Environment) throws(ElaborationError) {
    guard builder.graph.nodes.count <= Limits.nodes else {
      throw ElaborationError("the model grows past \(Limits.nodes) operations; is a 'repeat' count too large?", at: stmt.range)
    }
    switch stmt.kind {
    case .constants(let bindings):
      for binding in bindings {
        if env.block == nil, let value = overrides.removeValue(forKey: binding.name.name) {
          env[binding.name.name] = value
        } else {
          env[binding.name.name] = try evaluate(binding.value, &env)
        }
      }
    case .input(let name, let type):
      guard env.block == nil else { throw ElaborationError("inputs belong to the model, not to block '\(env.block ?? "")'", at: stmt.range, hint: "pass the tensor to the block as an argument") }
      let shape = try dimensions(type, &env)
      env[name.name] = .tensor(builder.graph.append(.input(name: name.name), [], type: LocusIR.TensorType(shape, batched: true), origin: "\(name.range.start)"))
    case .parameter(let name, let type, let initializer):
      let shape = try dimensions(type, &env)
      let fanIn = shape.dropFirst().reduce(1, *)
      let init_ = try initializer.map { (call) throws(ElaborationError) in try makeInitializer(call, fanIn: fanIn, &env) }
        ?? builder.initDefaults["param"] ?? .zeros
      env[name.name] = .tensor(try builder.parameter(name.name, shape: shape, role: .embedding, initializer: init_, at: name.range))
    case .initializers(let rules):
      for rule in rules {
        guard ["linear", "conv2d", "param"].contains(rule.kind.name) else {
          throw ElaborationError("'init' has no rule for '\(rule.kind.name)'", at: rule.kind.range, hint: "the kinds are: linear, conv2d, param")
        }
        builder.initDefaults[rule.kind.name] = try makeInitializer(rule.initializer, fanIn: 1, &env)
      }
    case .assignment(let targets, let valueExpr):
      let value = try evaluate(valueExpr, &env)
      try bind(targets, value, at: valueExpr.range, &env)
    case .repeatLoop(let loop):
      try repeatLoop(loop, &env)
    case .ifChain(let chain):
      for clause in chain.clauses {
        if try condition(clause.condition, &env) {
          run(clause.body, &env)
          return
        }
      }
      if let body = chain.elseBody { run(body, &env) }
    case .returnValues(let exprs):
      guard env.block != nil else { throw ElaborationError("'return' is for blocks; a model names its results with 'output'", at: stmt.range) }
      var values: [Value] = []
      for e in exprs { values.append(try evaluate(e, &env)) }
      env.returned = values.count == 1 ? values[0] : .tuple(values)
    case .output(let name, let expr):
      guard env.block == nil else { throw ElaborationError("'output' belongs to the model; a block returns its result with 'return'", at: stmt.range) }
      let value = try evaluate(expr, &env)
      guard case .tensor(let t) = value else {
        if case .poisoned = value { throw .poisoned(at: expr.range) }
        throw ElaborationError("output '\(name.name)' must be a tensor, got \(value.kind)", at: expr.range)
      }
      guard builder.type(t).batched else {
        throw ElaborationError("output '\(name.name)' does not depend on any input", at: expr.range)
      }
      guard !builder.graph.outputs.contains(where: { $0.name == name.name }) else {
        throw ElaborationError("output '\(name.name)' is defined twice", at: name.range)
      }
      builder.graph.outputs.append((name.name, t))
    }
  }

  private func bind(_ targets: [Identifier], _ value: Value, at range: SourceRange, _ env: inout Environment) throws(ElaborationError) {
    if targets.count == 1 {
      if case .tuple(let items) = value {
        throw ElaborationError("this gives \(items.count) values but is assigned to one name", at: range, hint: "unpack them: a, b = …")
      }
      env[targets[0].name] = value
      return
    }
    guard case .tuple(let items) = value, items.count == targets.count else {
      let count = if case .tuple(let items) = value { items.count } else { 1 }
      throw ElaborationError("\(targets.count) names on the left, but the right side gives \(count) value\(count == 1 ? "" : "s")", at: range)
    }
    for (t, v) in zip(targets, items) { env[t.name] = v }
  }

  private func repeatLoop(_ loop: RepeatLoop, _ env: inout Environment) throws(ElaborationError) {
    let countValue = try evaluate(loop.count, &env)
    guard case .int(let count) = countValue, count >= 0 else {
      throw ElaborationError("'repeat' needs a non-negative integer count, got \(countValue.kind)", at: loop.count.range)
    }
    guard count <= Limits.repeatCount else {
      throw ElaborationError("'repeat' of \(count) iterations is more than the \(Limits.repeatCount) a model may unroll", at: loop.count.range)
    }
    for i in 0..<count {
      if let index = loop.index { env[index.name] = .int(i) }
      let pushed = try pushScope(loop.scope, &env)
      run(loop.body, &env)
      builder.scope.removeLast(pushed)
      if env.returned != nil { return }
    }
  }

  /// Pushes the segments of `@a.{i}.b` onto the parameter scope; returns how many to pop.
  func pushScope(_ scope: Scope?, _ env: inout Environment) throws(ElaborationError) -> Int {
    guard let scope else { return 0 }
    var segments: [String] = []
    for segment in scope.segments {
      switch segment.kind {
      case .name(let n): segments.append(n)
      case .integer(let i): segments.append(String(i))
      case .interpolated(let e):
        switch try evaluate(e, &env) {
        case .int(let i): segments.append(String(i))
        case .string(let s) where !s.isEmpty && !s.contains("."): segments.append(s)
        case .poisoned: throw .poisoned(at: e.range)
        case let v: throw ElaborationError("a scope segment must be an integer or a name, got \(v.kind)", at: e.range)
        }
      }
    }
    builder.scope += segments
    return segments.count
  }

  func condition(_ expr: Expr, _ env: inout Environment) throws(ElaborationError) -> Bool {
    switch try evaluate(expr, &env) {
    case .bool(let b): return b
    case .poisoned: throw .poisoned(at: expr.range)
    case let v: throw ElaborationError("a condition must be true or false, known when compiling; got \(v.kind)", at: expr.range)
    }
  }

  private func dimensions(_ type: LocusSpec.TensorType, _ env: inout Environment) throws(ElaborationError) -> [Int] {
    var shape: [Int] = []
    for d in type.dimensions {
      switch try evaluate(d, &env) {
      case .int(let n) where n >= 1: shape.append(n)
      case .poisoned: throw .poisoned(at: d.range)
      case let v: throw ElaborationError("a dimension must be a positive integer, got \(describe(v))", at: d.range)
      }
    }
    guard checkedCount(shape) != nil else {
      throw ElaborationError("\(shape) has more than \(maxElementsPerSample) elements", at: type.range)
    }
    return shape
  }

  private func makeInitializer(_ call: InitializerCall, fanIn: Int, _ env: inout Environment) throws(ElaborationError) -> Initializer {
    guard let signature = InitializerTable.signatures[call.name.name] else {
      throw ElaborationError("unknown initialiser '\(call.name.name)'", at: call.name.range,
                             hint: "the initialisers are: " + InitializerTable.signatures.keys.sorted().joined(separator: ", "))
    }
    let args = try evaluateArguments(call.arguments, &env)
    return try InitializerTable.make(call.name.name, try BoundArguments(call.name.name, signature, args, at: call.range), fanIn: fanIn)
  }
}

func describe(_ v: Value) -> String {
  switch v {
  case .int(let i): String(i)
  case .float(let d): String(d)
  default: v.kind
  }
}
