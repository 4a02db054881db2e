import LocusIR
import LocusSpec

extension Primitives {
  /// A primitive of one tensor and no attributes.
  static func unary(_ op: Op) -> Primitive {
    Primitive(signature: Signature([("x", nil)])) { (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(op, [try a.tensor("x")], at: a.callRange))
    }
  }

  static let elementwise: [String: Primitive] = {
    var t: [String: Primitive] = [:]
    for u in UnaryOp.allCases { t[u.rawValue] = unary(.unary(u)) }
    for op in BinaryOp.allCases {
      t[op.rawValue] = Primitive(signature: Signature([("a", nil), ("b", nil)])) {
        (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
        try arithmetic(&b, op, a.value("a"), a.value("b"), at: a.callRange)
      }
    }
    t["softmax"] = Primitive(signature: Signature([("x", nil), ("axis", .int(-1))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.softmax(axis: try a.int("axis")), [try a.tensor("x")], at: a.callRange))
    }
    t["matmul"] = Primitive(signature: Signature([("a", nil), ("b", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.matmul, [try a.tensor("a"), try a.tensor("b")], at: a.callRange))
    }
    t["gap"] = unary(.gap)
    t["maxpool"] = Primitive(signature: Signature([("x", nil), ("kernel", nil), ("stride", .absent), ("padding", .int(0))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let kernel = try a.ints("kernel", count: 2)
      let stride = a.value("stride").isAbsent ? kernel : try a.ints("stride", count: 2)
      let op = Op.maxpool(kernel: kernel, stride: stride, padding: try a.ints("padding", count: 2))
      return .tensor(try b.add(op, [try a.tensor("x")], at: a.callRange))
    }
    // Stochastic depth (timm's DropPath): the identity at inference; in the train-mode graph,
    // x · mask with mask a per-sample input [1] the trainer fills (0 or 1/(1−rate), DESIGN.md §7).
    // Its name carries its index and rate, so a trainer needs nothing but the library's tables.
    t["drop_path"] = Primitive(signature: Signature([("x", nil), ("rate", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x"), rate = try a.float("rate")
      guard rate >= 0, rate < 1 else {
        throw ElaborationError("drop_path rate must be in [0, 1), got \(rate)", at: a.range("rate"), hint: "the rate is the probability of dropping the branch for a sample")
      }
      guard b.training, rate > 0 else { return .tensor(x) }
      let name = DropPath.inputName(index: b.dropPaths, rate: rate)
      b.dropPaths += 1
      let mask = b.graph.append(.input(name: name), [], type: TensorType([1], batched: true), scope: b.scopeName, origin: "\(a.callRange.start)")
      return .tensor(try b.add(.binary(.mul), [x, mask], at: a.callRange))
    }
    t["mean"] = Primitive(signature: Signature([("x", nil), ("axis", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.mean(axis: try a.int("axis")), [try a.tensor("x")], at: a.callRange))
    }
    return t
  }()

  /// `+ - * /` and their named forms: tensors broadcast, numbers fold at compile time, a tensor
  /// meeting a number becomes a scalar op, lists and strings concatenate with `+`.
  static func arithmetic(_ b: inout Builder, _ op: BinaryOp, _ lhs: Value, _ rhs: Value, at range: SourceRange) throws(ElaborationError) -> Value {
    switch (lhs, rhs) {
    case (.poisoned, _), (_, .poisoned): throw .poisoned(at: range)
    case (.tensor(let x), .tensor(let y)): return .tensor(try b.add(.binary(op), [x, y], at: range))
    case (.tensor(let x), _):
      guard let s = rhs.number else { break }
      return .tensor(try b.add(.scalar(op, Float(s), scalarFirst: false), [x], at: range))
    case (_, .tensor(let y)):
      guard let s = lhs.number else { break }
      return .tensor(try b.add(.scalar(op, Float(s), scalarFirst: true), [y], at: range))
    case (.int(let x), .int(let y)): return try integerArithmetic(op, x, y, at: range)
    case (.list(let x), .list(let y)) where op == .add: return .list(x + y)
    case (.string(let x), .string(let y)) where op == .add: return .string(x + y)
    default:
      if let x = lhs.number, let y = rhs.number {
        switch op {
        case .add: return .float(x + y)
        case .sub: return .float(x - y)
        case .mul: return .float(x * y)
        case .div:
          guard y != 0 else { throw ElaborationError("division by zero", at: range) }
          return .float(x / y)
        }
      }
    }
    throw ElaborationError("cannot apply '\(symbol(op))' to \(lhs.kind) and \(rhs.kind)", at: range)
  }

  static func integerArithmetic(_ op: BinaryOp, _ x: Int, _ y: Int, at range: SourceRange) throws(ElaborationError) -> Value {
    let result: (Int, Bool)
    switch op {
    case .add: result = x.addingReportingOverflow(y)
    case .sub: result = x.subtractingReportingOverflow(y)
    case .mul: result = x.multipliedReportingOverflow(by: y)
    case .div:
      guard y != 0 else { throw ElaborationError("division by zero", at: range) }
      guard x % y == 0 else {
        throw ElaborationError("\(x) / \(y) is not a whole number", at: range,
                               hint: "integer division must be exact, since sizes derive from it; check the constants (or use % for a remainder)")
      }
      return .int(x / y)
    }
    guard !result.1 else { throw ElaborationError("\(x) \(symbol(op)) \(y) overflows a 64-bit integer", at: range) }
    return .int(result.0)
  }

  static func symbol(_ op: BinaryOp) -> String {
    switch op {
    case .add: "+"
    case .sub: "-"
    case .mul: "*"
    case .div: "/"
    }
  }
}

extension Value {
  var number: Double? {
    switch self {
    case .int(let i): Double(i)
    case .float(let d): d
    default: nil
    }
  }
}
