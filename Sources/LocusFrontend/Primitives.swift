import LocusIR
import LocusSpec

/// A primitive of the spec language: its signature and how it records itself in the graph.
struct Primitive: Sendable {
  typealias Body = @Sendable (inout Builder, BoundArguments) throws(ElaborationError) -> Value
  var signature: Signature
  var body: Body
}

/// Every primitive by name, one table (STYLE: tables, not switch ladders). Parameters a primitive
/// creates take PyTorch's leaf names (`weight`, `bias`, `running_mean`, …) under the call's scope.
enum Primitives {
  static let table: [String: Primitive] = {
    var t: [String: Primitive] = [:]
    t.merge(layers, uniquingKeysWith: { a, _ in a })
    t.merge(elementwise, uniquingKeysWith: { a, _ in a })
    t.merge(layout, uniquingKeysWith: { a, _ in a })
    return t
  }()

  static let layers: [String: Primitive] = [
    "conv2d": Primitive(signature: Signature([
      ("x", nil), ("out", nil), ("kernel", nil), ("stride", .int(1)), ("padding", .int(0)), ("groups", .int(1)), ("bias", .bool(true)),
      ("weight", .absent),
    ])) { (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      try conv2d(&b, a, outChannels: try a.int("out"), groups: try a.int("groups"))
    },
    "dwconv": Primitive(signature: Signature([
      ("x", nil), ("kernel", nil), ("stride", .int(1)), ("padding", .absent), ("bias", .bool(true)), ("weight", .absent),
    ])) { (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let channels = b.type(try a.tensor("x")).shape.first ?? 1
      return try conv2d(&b, a, outChannels: channels, groups: channels)
    },
    "linear": Primitive(signature: Signature([("x", nil), ("out", nil), ("bias", .bool(true))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x"), out = try a.int("out"), hasBias = try a.bool("bias")
      guard let k = b.type(x).shape.last else { throw ElaborationError("linear needs at least one axis", at: a.range("x")) }
      var operands = [x, try b.parameter("weight", shape: [out, k], role: .weight, initializer: b.weightInit("linear", fanIn: k), at: a.callRange)]
      if hasBias { operands.append(try b.parameter("bias", shape: [out], role: .bias, initializer: b.biasInit("linear", fanIn: k), at: a.callRange)) }
      return .tensor(try b.add(.linear(hasBias: hasBias), operands, at: a.callRange))
    },
    "layernorm": Primitive(signature: Signature([("x", nil), ("eps", .float(1e-5))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x")
      guard let c = b.type(x).shape.last else { throw ElaborationError("layernorm needs at least one axis", at: a.range("x")) }
      let w = try b.parameter("weight", shape: [c], role: .norm, initializer: .ones, at: a.callRange)
      let bias = try b.parameter("bias", shape: [c], role: .norm, initializer: .zeros, at: a.callRange)
      return .tensor(try b.add(.layernorm(eps: try a.float("eps")), [x, w, bias], at: a.callRange))
    },
    "batchnorm": Primitive(signature: Signature([("x", nil), ("eps", .float(1e-5))])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let x = try a.tensor("x")
      guard let c = b.type(x).shape.first else { throw ElaborationError("batchnorm needs a channel axis", at: a.range("x")) }
      let r = a.callRange
      let operands = [
        x,
        try b.parameter("weight", shape: [c], role: .norm, initializer: .ones, at: r),
        try b.parameter("bias", shape: [c], role: .norm, initializer: .zeros, at: r),
        try b.parameter("running_mean", shape: [c], role: .runningMean, initializer: .zeros, at: r),
        try b.parameter("running_var", shape: [c], role: .runningVar, initializer: .ones, at: r),
      ]
      b.graph.ignoredStateKeys.append(b.fullName("num_batches_tracked"))
      return .tensor(try b.add(.batchnorm(eps: try a.float("eps")), operands, at: r))
    },
    "sdpa": Primitive(signature: Signature([("q", nil), ("k", nil), ("v", nil), ("heads", nil), ("kv_heads", .absent)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let heads = try a.int("heads")
      let kvHeads = a.value("kv_heads").isAbsent ? heads : try a.int("kv_heads")
      return .tensor(try b.add(.sdpa(heads: heads, kvHeads: kvHeads), [try a.tensor("q"), try a.tensor("k"), try a.tensor("v")], at: a.callRange))
    },
    "local_attention": Primitive(signature: Signature([("q", nil), ("k", nil), ("v", nil), ("heads", nil), ("kv_heads", .absent)])) {
      (b: inout Builder, a: BoundArguments) throws(ElaborationError) -> Value in
      let heads = try a.int("heads")
      let kvHeads = a.value("kv_heads").isAbsent ? heads : try a.int("kv_heads")
      return .tensor(try b.add(.localAttention(heads: heads, kvHeads: kvHeads), [try a.tensor("q"), try a.tensor("k"), try a.tensor("v")], at: a.callRange))
    },
  ]

  /// conv2d and dwconv share everything but how the channel counts are chosen.
  static func conv2d(_ b: inout Builder, _ a: BoundArguments, outChannels: Int, groups: Int) throws(ElaborationError) -> Value {
    let x = try a.tensor("x")
    let kernel = try a.ints("kernel", count: 2), stride = try a.ints("stride", count: 2)
    let padding = a.value("padding").isAbsent ? kernel.map { $0 / 2 } : try a.ints("padding", count: 2)
    let hasBias = try a.bool("bias")
    guard b.type(x).rank == 3 else {
      throw ElaborationError("\(a.callee) expects an image [C, H, W], got \(b.type(x))", at: a.range("x"),
                             hint: "turn tokens into an image with seq2img first")
    }
    let ci = b.type(x).shape[0]
    guard groups >= 1, ci % groups == 0, outChannels >= 1 else {
      throw ElaborationError("\(a.callee): groups \(groups) must divide the \(ci) input channels", at: a.callRange)
    }
    let fanIn = ci / groups * kernel[0] * kernel[1]
    // `weight:` supplies the kernel as a tensor (tied or reshaped weights, e.g. ECA's Conv1d);
    // otherwise the call creates its own `weight` parameter.
    let weight = a.value("weight").isAbsent
      ? try b.parameter("weight", shape: [outChannels, ci / groups, kernel[0], kernel[1]], role: .weight,
                        initializer: b.weightInit("conv2d", fanIn: fanIn), at: a.callRange)
      : try a.tensor("weight")
    var operands = [x, weight]
    if hasBias {
      operands.append(try b.parameter("bias", shape: [outChannels], role: .bias, initializer: b.biasInit("conv2d", fanIn: fanIn), at: a.callRange))
    }
    let attrs = Conv2dAttrs(outChannels: outChannels, kernel: kernel, stride: stride, padding: padding, groups: groups, hasBias: hasBias)
    return .tensor(try b.add(.conv2d(attrs), operands, at: a.callRange))
  }
}

extension Value {
  var isAbsent: Bool { if case .absent = self { true } else { false } }
}
