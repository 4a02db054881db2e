import LocusIR
import LocusSpec

extension Elaborator {
  func evaluate(_ expr: Expr, _ env: inout Environment) throws(ElaborationError) -> Value {
    switch expr.kind {
    case .integer(let i): return .int(i)
    case .float(let d): return .float(d)
    case .string(let s): return .string(s)
    case .bool(let b): return .bool(b)
    case .identifier(let name): return try lookup(name, at: expr.range, env)
    case .list(let items):
      var values: [Value] = []
      for item in items { values.append(try evaluate(item, &env)) }
      return .list(values)
    case .call(let call): return try self.call(call, range: expr.range, &env)
    case .index(let base, let indexExpr):
      return try index(try evaluate(base, &env), try evaluate(indexExpr, &env), at: expr.range)
    case .binary(let op, let lhs, let rhs):
      return try binary(op, lhs, rhs, at: expr.range, &env)
    case .unary(let op, let operand):
      let v = try evaluate(operand, &env)
      switch (op, v) {
      case (_, .poisoned): throw .poisoned(at: expr.range)
      case (.negate, .int(let i)) where i != Int.min: return .int(-i)
      case (.negate, .float(let d)): return .float(-d)
      case (.negate, .tensor(let t)): return .tensor(try builder.add(.scalar(.mul, -1, scalarFirst: false), [t], at: expr.range))
      case (.not, .bool(let b)): return .bool(!b)
      default: throw ElaborationError("cannot apply '\(op.rawValue)' to \(v.kind)", at: expr.range)
      }
    case .conditional(let cond, let then, let otherwise):
      // Only the branch taken is elaborated: `t == 0 ? img : roll(img, shifts[t - 1])` is fine at t = 0.
      return try evaluate(try condition(cond, &env) ? then : otherwise, &env)
    }
  }

  func lookup(_ name: String, at range: SourceRange, _ env: Environment) throws(ElaborationError) -> Value {
    if let v = env[name] { return v }
    if blocks[name] != nil || Primitives.table[name] != nil || Builtins.names.contains(name) { return .function(name) }
    let known = Array(env.variables.keys) + Array(blocks.keys) + Array(Primitives.table.keys) + Array(Builtins.names)
    throw ElaborationError("unknown name '\(name)'", at: range, hint: suggestion(for: name, among: known))
  }

  private func index(_ base: Value, _ i: Value, at range: SourceRange) throws(ElaborationError) -> Value {
    switch (base, i) {
    case (.poisoned, _), (_, .poisoned): throw .poisoned(at: range)
    case (.list(let items), .int(let k)), (.tuple(let items), .int(let k)):
      let j = k < 0 ? k + items.count : k
      guard items.indices.contains(j) else {
        throw ElaborationError("index \(k) is outside a list of \(items.count) element\(items.count == 1 ? "" : "s")", at: range)
      }
      return items[j]
    case (.tensor(let t), .int(let k)):
      return try Primitives.index(&builder, t, axis: 0, at: k, range: range)
    default:
      throw ElaborationError("cannot index \(base.kind) with \(i.kind)", at: range)
    }
  }

  private func binary(_ op: BinaryOperator, _ lhsExpr: Expr, _ rhsExpr: Expr, at range: SourceRange, _ env: inout Environment) throws(ElaborationError) -> Value {
    // && and || short-circuit, so `i > 0 && list[i - 1] == 2` is safe.
    if op == .and || op == .or {
      let l = try condition(lhsExpr, &env)
      if (op == .and && !l) || (op == .or && l) { return .bool(l) }
      return .bool(try condition(rhsExpr, &env))
    }
    let lhs = try evaluate(lhsExpr, &env), rhs = try evaluate(rhsExpr, &env)
    if isPoisoned(lhs) || isPoisoned(rhs) { throw .poisoned(at: range) }
    switch op {
    case .add: return try Primitives.arithmetic(&builder, .add, lhs, rhs, at: range)
    case .subtract: return try Primitives.arithmetic(&builder, .sub, lhs, rhs, at: range)
    case .multiply: return try Primitives.arithmetic(&builder, .mul, lhs, rhs, at: range)
    case .divide: return try Primitives.arithmetic(&builder, .div, lhs, rhs, at: range)
    case .remainder:
      guard case .int(let a) = lhs, case .int(let b) = rhs else { throw ElaborationError("'%' needs two integers, got \(lhs.kind) and \(rhs.kind)", at: range) }
      guard b != 0 else { throw ElaborationError("remainder by zero", at: range) }
      return .int(a % b)
    case .equal, .notEqual:
      guard let same = equal(lhs, rhs) else { throw ElaborationError("cannot compare \(lhs.kind) with \(rhs.kind)", at: range) }
      return .bool(op == .equal ? same : !same)
    case .less, .lessEqual, .greater, .greaterEqual:
      guard let a = lhs.number, let b = rhs.number else { throw ElaborationError("'\(op.rawValue)' compares numbers, got \(lhs.kind) and \(rhs.kind)", at: range) }
      switch op {
      case .less: return .bool(a < b)
      case .lessEqual: return .bool(a <= b)
      case .greater: return .bool(a > b)
      default: return .bool(a >= b)
      }
    case .and, .or: return .poisoned  // handled above
    }
  }

  private func equal(_ a: Value, _ b: Value) -> Bool? {
    switch (a, b) {
    case (.string(let x), .string(let y)): x == y
    case (.bool(let x), .bool(let y)): x == y
    case (.function(let x), .function(let y)): x == y
    default: if let x = a.number, let y = b.number { x == y } else { nil }
    }
  }
}

/// "did you mean 'layernorm'?" for a misspelt name, by edit distance.
func suggestion(for name: String, among candidates: [String]) -> String? {
  let scored = candidates.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= max(2, name.count / 3) }
  guard let best = scored.min(by: { ($0.1, $0.0) < ($1.1, $1.0) }) else { return nil }
  return "did you mean '\(best.0)'?"
}

func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a), b = Array(b)
  var row = Array(0...b.count)
  for i in 1...max(a.count, 1) where !a.isEmpty {
    var prev = row[0]
    row[0] = i
    for j in stride(from: 1, through: b.count, by: 1) {
      let cur = row[j]
      row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.count]
}
