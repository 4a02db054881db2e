import LocusIR

/// The gradient rule of one node (DESIGN.md §7 lists them): given the gradient `dy` of the node's
/// result, appends the nodes computing each wanted operand's gradient. A gradient always has its
/// primal's exact type: contributions to broadcast operands (unbatched parameters, size-1 axes)
/// are summed back by `reduce(_:to:)`.
struct GradientRule {
  var graph: Graph
  let node: Node
  let dy: ValueID

  init(graph: Graph, node: Node, dy: ValueID) {
    self.graph = graph
    self.node = node
    self.dy = dy
  }

  func type(_ v: ValueID) -> TensorType { graph[v].type }
  func operand(_ i: Int) -> ValueID { node.operands[i] }

  mutating func add(_ op: Op, _ operands: [ValueID]) throws -> ValueID {
    try graph.add(op, operands, scope: node.scope, origin: node.origin)
  }

  func unsupported(_ why: String = "") -> AutodiffError {
    AutodiffError(message: "no gradient rule for '\(node.op.mnemonic)' (\(node.origin.isEmpty ? "made by a pass" : node.origin))\(why.isEmpty ? "" : ": \(why)"); train from the unfused graph")
  }

  /// One entry per operand: its gradient, or nil when not wanted (or not differentiable).
  mutating func apply(wanted: [Bool]) throws -> [ValueID?] {
    var grads = [ValueID?](repeating: nil, count: node.operands.count)
    func want(_ i: Int) -> Bool { i < wanted.count && wanted[i] }
    switch node.op {
    case .input, .parameter:
      return grads
    case .conv2d(let a):
      let x = type(operand(0))
      if want(0) { grads[0] = try add(.training(.conv2dGradInput(a, height: x.shape[1], width: x.shape[2])), [dy, operand(1)]) }
      if want(1) { grads[1] = try add(.training(.conv2dGradWeight(a)), [dy, operand(0)]) }
      if a.hasBias, want(2) { grads[2] = try reduce(dy, to: type(operand(2)), keepingAxis: 0) }
    case .linear(let hasBias):
      if want(0) {
        let wt = try add(.transpose([1, 0]), [operand(1)])
        grads[0] = try add(.linear(hasBias: false), [dy, wt])
      }
      if want(1) { grads[1] = try add(.training(.linearGradWeight), [dy, operand(0)]) }
      if hasBias, want(2) { grads[2] = try reduce(dy, to: type(operand(2))) }
    case .unary(let f):
      grads[0] = try add(.training(.unaryGrad(f)), [operand(0), dy])
    case .softmax(let axis):
      grads[0] = try add(.training(.softmaxGrad(axis: axis)), [node.id, dy])
    case .matmul:
      let (a, b) = (operand(0), operand(1))
      if want(0) { grads[0] = try reduce(try add(.matmul, [dy, try swapLast(b)]), to: type(a)) }
      if want(1) { grads[1] = try reduce(try add(.matmul, [try swapLast(a), dy]), to: type(b)) }
    case .binary(let f):
      grads = try binary(f, want: want)
    case .scalar(let f, let s, let scalarFirst):
      grads[0] = try scalar(f, s, scalarFirst)
    case .gap:
      let x = type(operand(0))
      let planes = try add(.reshape([x.shape[0], 1, 1]), [dy])
      grads[0] = try add(.scalar(.mul, 1 / Float(x.shape[1] * x.shape[2]), scalarFirst: false), [try add(.training(.expand(x.shape)), [planes])])
    case .maxpool(let k, let s, let p):
      grads[0] = try add(.training(.maxpoolGrad(kernel: k, stride: s, padding: p)), [operand(0), dy])
    case .mean(let axis):
      let x = type(operand(0)), a = normalizeAxis(axis, rank: x.rank) ?? 0
      var kept = x.shape
      kept[a] = 1
      let spread = try add(.training(.expand(x.shape)), [try add(.reshape(kept), [dy])])
      grads[0] = try add(.scalar(.mul, 1 / Float(x.shape[a]), scalarFirst: false), [spread])
    case .roll(let dy0, let dx0):
      grads[0] = try add(.roll(dy: -dy0, dx: -dx0), [dy])
    case .circularPad(let l, let r, let t, let b):
      grads[0] = try add(.training(.circularPadGrad(left: l, right: r, top: t, bottom: b)), [dy])
    case .concat(let axis):
      let result = type(node.id), a = normalizeAxis(axis, rank: result.rank) ?? 0
      var start = 0
      for (i, v) in node.operands.enumerated() {
        let length = squeezedForBatch(type(v), toRank: result.rank)[a]
        if want(i) { grads[i] = try reduce(try add(.slice(axis: a, start: start, length: length), [dy]), to: type(v)) }
        start += length
      }
    case .stack(let axis):
      let a = normalizeAxis(axis, rank: type(node.id).rank) ?? 0
      for (i, v) in node.operands.enumerated() where want(i) {
        grads[i] = try reduce(try add(.index(axis: a, at: i), [dy]), to: type(v))
      }
    case .slice(let axis, let start, let length):
      let x = type(operand(0)), a = normalizeAxis(axis, rank: x.rank) ?? 0
      grads[0] = try add(.training(.zeroPad(axis: a, before: start, after: x.shape[a] - start - length)), [dy])
    case .index(let axis, let at):
      let x = type(operand(0)), a = normalizeAxis(axis, rank: x.rank) ?? 0
      var one = x.shape
      one[a] = 1
      grads[0] = try add(.training(.zeroPad(axis: a, before: at, after: x.shape[a] - at - 1)), [try add(.reshape(one), [dy])])
    case .seq2img:
      grads[0] = try add(.img2seq, [dy])
    case .img2seq:
      grads[0] = try add(.seq2img(height: type(operand(0)).shape[1]), [dy])
    case .im2col:
      // The patch-embedding pass makes an im2col only of images no parameter reaches (the model's
      // input, rolled or padded), so its input never wants a gradient.
      if want(0) { throw unsupported("its input needs a gradient (col2im is not implemented)") }
    case .reshape:
      grads[0] = try add(.reshape(type(operand(0)).shape), [dy])
    case .transpose(let perm):
      var inverse = perm
      for (i, p) in perm.enumerated() { inverse[p] = i }
      grads[0] = try add(.transpose(inverse), [dy])
    case .training(.normalize(let eps)):
      grads[0] = try add(.training(.normalizeGrad(eps: eps)), [operand(0), dy])
    case .training(.batchNormalize(let eps, let last)):
      if want(0) { grads[0] = try add(.training(.batchNormalizeGrad(eps: eps, channelsLast: last)), [operand(0), dy, operand(1)]) }
      if want(1) || want(2) {
        // One pass over x and dy gives both: [Σ dy·x̂, Σ dy].
        let sums = try add(.training(.batchNormalizeParamGrad(eps: eps, channelsLast: last)), [operand(0), dy])
        if want(1) { grads[1] = try reduce(try add(.index(axis: 0, at: 0), [sums]), to: type(operand(1))) }
        if want(2) { grads[2] = try reduce(try add(.index(axis: 0, at: 1), [sums]), to: type(operand(2))) }
      }
    case .training(.batchNormAct(let eps, let act)):
      // The statistics (operand 1) are x's own, which the two kernels' formula already
      // differentiates through: they get no gradient of their own.
      let ops = [operand(0), dy, operand(1), operand(2), operand(3)]
      let sums = try add(.training(.batchNormActParamGrad(eps: eps, act: act)), ops)
      if want(0) { grads[0] = try add(.training(.batchNormActGrad(eps: eps, act: act)), ops + [sums]) }
      if want(2) { grads[2] = try reduce(try add(.index(axis: 0, at: 0), [sums]), to: type(operand(2))) }
      if want(3) { grads[3] = try reduce(try add(.index(axis: 0, at: 1), [sums]), to: type(operand(3))) }
    case .tokenDWConv(let a) where a.activation == nil:
      let plain = TokenConvAttrs(a, bias: false)
      if want(0) { grads[0] = try add(.training(.tokenDWConvGradInput(plain)), [dy, operand(1)]) }
      if want(1) { grads[1] = try add(.training(.tokenDWConvGradWeight(plain)), [dy, operand(0)]) }
      if a.hasBias, want(2) { grads[2] = try reduce(dy, to: type(operand(2))) }
    case .sdpa(let h, let hk) where keepsSelfAttention(graph, node):
      // One kernel gives [dq | dk | dv]; each operand's gradient is its column range. When q, k
      // and v are the slices of one fused qkv projection, these ranges are its gradient's tiles,
      // and the differentiator reassembles them as that one value (no concat).
      let all = try add(.training(.sdpaGrad(heads: h, kvHeads: hk)), [operand(0), operand(1), operand(2), dy])
      var start = 0
      for i in 0..<3 {
        let width = type(operand(i)).shape[1]
        if want(i) { grads[i] = try reduce(try add(.slice(axis: 1, start: start, length: width), [all]), to: type(operand(i))) }
        start += width
      }
    case .localAttention(let h, let hk):
      // dq from one kernel, [dk | dv] from another, each recomputing the weights; k's and v's
      // gradients are the column ranges of the second, so when k and v are the slices of one K/V
      // projection the differentiator takes it as that projection's gradient (no concat).
      let ops = [operand(0), operand(1), operand(2), dy]
      if want(0) { grads[0] = try reduce(try add(.training(.localAttentionGradQ(heads: h, kvHeads: hk)), ops), to: type(operand(0))) }
      if want(1) || want(2) {
        let all = try add(.training(.localAttentionGradKV(heads: h, kvHeads: hk)), ops)
        let width = type(operand(1)).shape[2]
        for i in 1...2 where want(i) {
          grads[i] = try reduce(try add(.slice(axis: 2, start: (i - 1) * width, length: width), [all]), to: type(operand(i)))
        }
      }
    case .layernorm, .batchnorm, .sdpa:
      throw unsupported("lowered before differentiation")
    case .fusedLinear, .tokenDWConv, .shiftedLocalAttention, .training:
      throw unsupported()
    }
    return grads
  }

  /// The matrix transpose of the last two axes.
  mutating func swapLast(_ v: ValueID) throws -> ValueID {
    let r = type(v).rank
    return try add(.transpose(Array(0..<(r - 2)) + [r - 1, r - 2]), [v])
  }

  mutating func binary(_ f: BinaryOp, want: (Int) -> Bool) throws -> [ValueID?] {
    let (a, b) = (operand(0), operand(1))
    var grads: [ValueID?] = [nil, nil]
    switch f {
    case .add:
      if want(0) { grads[0] = try reduce(dy, to: type(a)) }
      if want(1) { grads[1] = try reduce(dy, to: type(b)) }
    case .sub:
      if want(0) { grads[0] = try reduce(dy, to: type(a)) }
      if want(1) { grads[1] = try reduce(try add(.scalar(.mul, -1, scalarFirst: false), [dy]), to: type(b)) }
    case .mul:
      if want(0) { grads[0] = try reduce(try add(.binary(.mul), [dy, b]), to: type(a)) }
      if want(1) { grads[1] = try reduce(try add(.binary(.mul), [dy, a]), to: type(b)) }
    case .div:
      if want(0) { grads[0] = try reduce(try add(.binary(.div), [dy, b]), to: type(a)) }
      if want(1) {
        // d(a/b)/db = −(a/b)/b: the result itself, already computed.
        let q = try add(.binary(.div), [try add(.binary(.mul), [dy, node.id]), b])
        grads[1] = try reduce(try add(.scalar(.mul, -1, scalarFirst: false), [q]), to: type(b))
      }
    }
    return grads
  }

  mutating func scalar(_ f: BinaryOp, _ s: Float, _ scalarFirst: Bool) throws -> ValueID {
    switch (f, scalarFirst) {
    case (.add, _), (.sub, false): return dy
    case (.sub, true): return try add(.scalar(.mul, -1, scalarFirst: false), [dy])
    case (.mul, _): return try add(.scalar(.mul, s, scalarFirst: false), [dy])
    case (.div, false): return try add(.scalar(.div, s, scalarFirst: false), [dy])
    case (.div, true):
      // d(s/x)/dx = −(s/x)/x.
      let q = try add(.binary(.div), [try add(.binary(.mul), [dy, node.id]), operand(0)])
      return try add(.scalar(.mul, -1, scalarFirst: false), [q])
    }
  }

  /// Sums a gradient of the result's type back to an operand that was broadcast into it
  /// (DESIGN.md §2): over the batch when the operand is unbatched, over the axes the operand has
  /// as 1 (or lacks), then reshaped to the operand's own shape. `keepingAxis` aligns a
  /// channels-first bias [C] with axis 0 instead of the last axis (conv bias).
  mutating func reduce(_ v: ValueID, to target: TensorType, keepingAxis: Int? = nil) throws -> ValueID {
    let source = type(v)
    if source == target { return v }
    let overBatch = source.batched && !target.batched
    let axes: [Int]
    if let keep = keepingAxis {
      axes = Array(0..<source.rank).filter { $0 != keep }
    } else {
      let squeezed = squeezedForBatch(target, toRank: source.rank)
      guard squeezed.count <= source.rank else {
        throw AutodiffError(message: "internal: cannot reduce a gradient \(source) to \(target) at \(node.origin)")
      }
      let padded = Array(repeating: 1, count: source.rank - squeezed.count) + squeezed
      axes = (0..<source.rank).filter { padded[$0] == 1 && source.shape[$0] != 1 }
      // Axes the operand lacks are padded with 1, so they are summed too (when not already 1);
      // the reshape below restores the operand's own leading 1s.
    }
    var out = v
    if overBatch || !axes.isEmpty { out = try add(.training(.reduceSum(axes: axes, batch: overBatch)), [v]) }
    if type(out).shape != target.shape { out = try add(.reshape(target.shape), [out]) }
    return out
  }
}
