import LocusIR

/// How a kernel takes the batch. Kernels take a batch count and assume a layout for it; when a
/// node's operands do not have that layout (a weight computed from the input, a key/value that is
/// a parameter), the node runs once per sample instead, with a batch count of 1.
enum BatchRule: Sendable {
  /// The listed operands are applied to every sample (weights, biases, norm statistics) and the
  /// others carry the batch: one call covers the batch unless a listed operand is batched or
  /// another one is not.
  case shared([Int])
  /// `shared` for ops whose operand list depends on their attributes (an optional bias before a
  /// residual, T convolutions).
  case sharedBy(@Sendable (Node) -> [Int])
  /// Every operand carries the batch (attention's q, k, v): one call covers the batch unless one
  /// of them is unbatched.
  case together
  /// The kernel takes per-operand strides and handles any mix (elementwise, matmul, concat).
  case strided

  /// Whether `node` must run one sample at a time.
  func loops(_ node: Node, _ graph: Graph) -> Bool {
    guard node.type.batched else { return false }
    let batched = node.operands.map { graph[$0].type.batched }
    func mixed(_ shared: [Int]) -> Bool { batched.indices.contains { batched[$0] == shared.contains($0) } }
    switch self {
    case .shared(let indices): return mixed(indices)
    case .sharedBy(let indices): return mixed(indices(node))
    case .together: return batched.contains(false)
    case .strided: return false
    }
  }

  /// Samples one kernel call covers (for workspace sizes): the batch, unless the node runs one
  /// sample at a time or touches no batch at all. An op that reduces the batch (an unbatched result
  /// of batched operands) covers the whole batch in one call.
  func samplesPerCall(_ node: Node, _ graph: Graph) -> Int {
    (node.type.batched || node.op.reducesBatch) && !loops(node, graph) ? graph.batch : 1
  }
}

/// One row of the kernel table: how to write the call(s) for a node, and how much scratch they
/// need from the arena (in floats, for the samples one call covers).
struct KernelEntry: Sendable {
  var batch: BatchRule
  var emit: @Sendable (inout KernelContext) throws(CodegenError) -> Void
  var workspace: @Sendable (_ node: Node, _ graph: Graph, _ samples: Int) -> Int = { _, _, _ in 0 }
  /// Whether the emission takes any operand or result one sample at a time
  /// (`KernelContext.perSample`), so the planner may give it per-sample views. Every kernel that is
  /// not `.strided` does; a `.strided` one folds the batch into its own strides and must say so.
  var runsPerSample: Bool? = nil
  /// Whether the emission takes views whose samples sit apart (`KernelContext.stridesSamples`)
  /// in one call, with per-sample strides, instead of one call per sample.
  var foldsSampleStrides = false

  var takesSampleViews: Bool {
    if let runsPerSample { return runsPerSample }
    if case .strided = batch { return false }
    return true
  }

  func emitNode(_ context: inout KernelContext) throws(CodegenError) {
    let strided = context.stridesSamples && !foldsSampleStrides
    try context.perSample(batch.loops(context.node, context.graph) || strided, emit)
  }

  func workspace(_ node: Node, _ graph: Graph) -> Int {
    workspace(node, graph, batch.samplesPerCall(node, graph))
  }
}

/// Op mnemonic → emission. Every op of the IR has a row; a missing row is reported as
/// `CodegenError.noKernel` naming the op (and a test walks every op to keep the table complete).
enum KernelTable {
  static let entries: [String: KernelEntry] = {
    var table: [String: KernelEntry] = [
      // Products (Kernels+Products.swift)
      "conv2d": KernelEntry(batch: .shared([1, 2]), emit: emitConv2d, workspace: conv2dWorkspace),
      "linear": KernelEntry(batch: .shared([1, 2]), emit: emitLinear),
      "matmul": KernelEntry(batch: .strided, emit: emitMatmul),
      "sdpa": KernelEntry(batch: .together, emit: emitSDPA),
      "local_attention": KernelEntry(batch: .together, emit: emitLocalAttention),
      // Fused (Kernels+Fused.swift)
      "fused_linear": KernelEntry(batch: .sharedBy(fusedLinearWeights), emit: emitFusedLinear, foldsSampleStrides: true),
      "token_dwconv": KernelEntry(batch: .shared([1, 2]), emit: emitTokenDWConv),
      "shifted_local_attention": KernelEntry(batch: .sharedBy { Array(2..<$0.operands.count) }, emit: emitShiftedLocalAttention),
      // Normalisations and reductions (Kernels+Reductions.swift)
      "layernorm": KernelEntry(batch: .shared([1, 2]), emit: emitLayerNorm),
      "batchnorm": KernelEntry(batch: .shared([1, 2, 3, 4]), emit: emitBatchNorm),
      "softmax": KernelEntry(batch: .together, emit: emitSoftmax, workspace: softmaxWorkspace),
      "gap": KernelEntry(batch: .together, emit: emitGAP),
      "maxpool": KernelEntry(batch: .together, emit: emitMaxpool),
      "mean": KernelEntry(batch: .together, emit: emitMean),
      // Layout (Kernels+Layout.swift)
      "reshape": KernelEntry(batch: .strided, emit: { _ throws(CodegenError) in }),  // a view: no code
      "transpose": KernelEntry(batch: .together, emit: emitTranspose),
      "concat": KernelEntry(batch: .strided, emit: emitConcat, runsPerSample: true),
      "stack": KernelEntry(batch: .strided, emit: emitConcat, runsPerSample: true),
      "slice": KernelEntry(batch: .together, emit: emitSlice),
      "index": KernelEntry(batch: .together, emit: emitSlice),
      "seq2img": KernelEntry(batch: .together, emit: emitSeq2Img),
      "img2seq": KernelEntry(batch: .together, emit: emitImg2Seq),
      "im2col": KernelEntry(batch: .together, emit: emitIm2Col),
      "roll": KernelEntry(batch: .together, emit: emitRoll),
      "circular_pad": KernelEntry(batch: .together, emit: emitCircularPad),
    ]
    // Elementwise (Kernels+Elementwise.swift)
    for u in UnaryOp.allCases { table[u.rawValue] = KernelEntry(batch: .together, emit: emitUnary) }
    for b in BinaryOp.allCases {
      table[b.rawValue] = KernelEntry(batch: .strided, emit: emitBinary, runsPerSample: true)
      table["\(b.rawValue)_scalar"] = KernelEntry(batch: .together, emit: emitScalar)
    }
    // Training (Kernels+Training.swift)
    for (name, entry) in trainingEntries { table[name] = entry }
    return table
  }()
}
