import LocusIR
import LocusSpec

extension Primitives {
  static let layout: [String: Primitive] = [
    "roll": Primitive(signature: Signature([("x", nil), ("dy", .int(0)), ("dx", .int(0))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.roll(dy: try a.int("dy"), dx: try a.int("dx")), [try a.tensor("x")], at: a.callRange))
    },
    "circular_pad": Primitive(signature: Signature([("x", nil), ("left", .int(0)), ("right", .int(0)), ("top", .int(0)), ("bottom", .int(0))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x")
      let op = Op.circularPad(left: try a.int("left"), right: try a.int("right"), top: try a.int("top"), bottom: try a.int("bottom"))
      // No padding at all is the identity: record nothing.
      if case .circularPad(0, 0, 0, 0) = op { return .tensor(x) }
      return .tensor(try b.add(op, [x], at: a.callRange))
    },
    "concat": Primitive(signature: Signature([("axis", .int(0))], variadic: "xs")) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let xs = try a.tensors()
      if xs.count == 1 { return .tensor(xs[0]) }
      return .tensor(try b.add(.concat(axis: try a.int("axis")), xs, at: a.callRange))
    },
    "stack": Primitive(signature: Signature([("axis", .int(0))], variadic: "xs")) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.stack(axis: try a.int("axis")), try a.tensors(), at: a.callRange))
    },
    "split": Primitive(signature: Signature([("x", nil), ("sizes", .absent), ("parts", .absent), ("axis", .int(-1))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x"), t = b.type(x)
      guard let axis = normalizeAxis(try a.int("axis"), rank: t.rank) else {
        throw ElaborationError("split: axis \(try a.int("axis")) is out of range for \(t)", at: a.range("axis"))
      }
      let sizes: [Int]
      switch (a.value("sizes").isAbsent, a.value("parts").isAbsent) {
      case (false, true): sizes = try a.intList("sizes")
      case (true, false):
        let parts = try a.int("parts")
        guard parts >= 1, t.shape[axis] % parts == 0 else {
          throw ElaborationError("split: axis \(axis) of \(t) does not divide into \(parts) equal parts", at: a.range("parts"))
        }
        sizes = Array(repeating: t.shape[axis] / parts, count: parts)
      default:
        throw ElaborationError("split needs exactly one of 'sizes:' or 'parts:'", at: a.callRange)
      }
      guard sizes.allSatisfy({ $0 >= 1 }), sizes.reduce(0, +) == t.shape[axis] else {
        throw ElaborationError("split sizes \(sizes) do not add up to \(t.shape[axis]), the length of axis \(axis) of \(t)", at: a.callRange)
      }
      var start = 0, parts: [Value] = []
      for size in sizes {
        parts.append(.tensor(try b.add(.slice(axis: axis, start: start, length: size), [x], at: a.callRange)))
        start += size
      }
      return .tuple(parts)
    },
    "slice": Primitive(signature: Signature([("x", nil), ("axis", nil), ("start", nil), ("len", .int(1))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x"), t = b.type(x)
      guard let axis = normalizeAxis(try a.int("axis"), rank: t.rank) else {
        throw ElaborationError("slice: axis \(try a.int("axis")) is out of range for \(t)", at: a.range("axis"))
      }
      let start = try a.int("start")
      let op = Op.slice(axis: axis, start: start < 0 ? start + t.shape[axis] : start, length: try a.int("len"))
      return .tensor(try b.add(op, [x], at: a.callRange))
    },
    "index": Primitive(signature: Signature([("x", nil), ("axis", .int(0)), ("at", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      try index(&b, try a.tensor("x"), axis: try a.int("axis"), at: try a.int("at"), range: a.callRange)
    },
    "seq2img": Primitive(signature: Signature([("x", nil), ("h", .absent)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x")
      let height: Int
      if a.value("h").isAbsent {
        let n = b.type(x).shape.first ?? 0
        guard let root = exactSquareRoot(n) else {
          throw ElaborationError("seq2img: \(n) tokens do not form a square image", at: a.callRange,
                                 hint: "pass the height with 'h:', or split off the class token first")
        }
        height = root
      } else {
        height = try a.int("h")
      }
      return .tensor(try b.add(.seq2img(height: height), [x], at: a.callRange))
    },
    "img2seq": unary(.img2seq),
    "split_cls": Primitive(signature: Signature([("x", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x"), t = b.type(x)
      guard t.rank == 2, t.shape[0] >= 2 else {
        throw ElaborationError("split_cls expects tokens [N+1, C] with N ≥ 1, got \(t)", at: a.range("x"))
      }
      let cls = try b.add(.slice(axis: 0, start: 0, length: 1), [x], at: a.callRange)
      let rest = try b.add(.slice(axis: 0, start: 1, length: t.shape[0] - 1), [x], at: a.callRange)
      return .tuple([.tensor(cls), .tensor(rest)])
    },
    "concat_cls": Primitive(signature: Signature([("cls", nil), ("x", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.concat(axis: 0), [try a.tensor("cls"), try a.tensor("x")], at: a.callRange))
    },
    "flatten": Primitive(signature: Signature([("x", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x")
      return .tensor(try b.add(.reshape([b.type(x).count]), [x], at: a.callRange))
    },
    "reshape": Primitive(signature: Signature([("x", nil), ("shape", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.reshape(try a.intList("shape")), [try a.tensor("x")], at: a.callRange))
    },
    "transpose": Primitive(signature: Signature([("x", nil), ("perm", nil)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      .tensor(try b.add(.transpose(try a.intList("perm")), [try a.tensor("x")], at: a.callRange))
    },
  ]

  static func index(_ b: inout Builder, _ x: ValueID, axis: Int, at: Int, range: SourceRange) throws(ElaborationError) -> Value {
    let t = b.type(x)
    guard let a = normalizeAxis(axis, rank: t.rank) else {
      throw ElaborationError("index: axis \(axis) is out of range for \(t)", at: range)
    }
    let i = at < 0 ? at + t.shape[a] : at
    return .tensor(try b.add(.index(axis: a, at: i), [x], at: range))
  }
}

func exactSquareRoot(_ n: Int) -> Int? {
  guard n >= 0 else { return nil }
  var r = Int(Double(n).squareRoot())
  while r * r > n { r -= 1 }
  while (r + 1) * (r + 1) <= n { r += 1 }
  return r * r == n ? r : nil
}
