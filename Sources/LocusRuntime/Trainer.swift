/// Trains the parameters of a compiled training library (DESIGN.md §7): each `step` runs the
/// library's forward-and-backward pass (outputs `loss`, `grad:<parameter>`, and
/// `running_stats:<running_mean>` per train-mode BatchNorm), clips the gradients by their global
/// norm, applies the optimizer with optim.c's kernels, and moves the BatchNorm running statistics
/// towards the batch's (momentum 0.1, as PyTorch). Like `CompiledModel`, not for two threads at once.
public final class Trainer {
  public let model: CompiledModel
  public var optimizer: Optimizer
  /// Clip the global gradient norm to this (nil: no clipping), as `clip_grad_norm_`.
  public var maxGradNorm: Float?
  /// BatchNorm running-statistics momentum.
  public var momentum: Float = 0.1
  /// Steps taken (AdamW's bias correction counts from 1).
  public private(set) var step: Int = 0
  /// Seed of the drop-path masks (`DropPathMasks`); nil turns drop-path off (every mask 1).
  public var dropPathSeed: UInt64?

  /// Parameter index → the output holding its gradient (nil: the loss does not depend on it).
  private let gradientOutput: [Int?]
  /// Parameters the optimizer updates (not running statistics), with their weight decay flag.
  private let trainable: [(index: Int, decays: Bool)]
  private let statistics: [(output: Int, mean: Int, variance: Int)]
  /// Optimizer state per parameter index (empty arrays for the others).
  private var state: [[AlignedBuffer]]
  private let outputs: [UnsafeMutableBufferPointer<Float>]
  /// Input position of the targets (the images are input 0; the others are drop-path masks).
  private let targetsInput: Int
  private let dropPaths: DropPathMasks
  private let maskBuffers: [UnsafeMutableBufferPointer<Float>]
  private let zeros: UnsafeMutableBufferPointer<Float>
  private let kernels: OptimizerKernels

  public static let lossOutput = "loss"
  public static let targetsInput = "targets"
  public static func gradientName(_ p: String) -> String { "grad:\(p)" }
  public static let statisticsPrefix = "running_stats:"

  /// `decays(name)`: whether a parameter gets weight decay. Weights must be bound to `model`.
  public init(model: CompiledModel, optimizer: Optimizer, maxGradNorm: Float? = nil, decays: (String) -> Bool) throws(RuntimeError) {
    guard model.outputs.first?.name == Self.lossOutput else {
      throw .invalidArgument("\(model.name) is not a training library: its first output is not '\(Self.lossOutput)'")
    }
    guard let targetsInput = model.inputs.firstIndex(where: { $0.name == Self.targetsInput }), targetsInput > 0 else {
      throw .invalidArgument("\(model.name) is not a training library: it has no '\(Self.targetsInput)' input after the images")
    }
    let dropPaths = DropPathMasks(inputs: model.inputs.map(\.name))
    guard dropPaths.masks.count + 2 == model.inputs.count else {
      throw .invalidModelTable(library: model.libraryPath, problem: "inputs \(model.inputs.map(\.name)) are not images, targets and drop-path masks")
    }
    self.targetsInput = targetsInput
    self.dropPaths = dropPaths
    maskBuffers = dropPaths.masks.map { .allocate(capacity: model.inputs[$0.input].numel) }
    let index = Dictionary(model.parameters.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    let outputIndex = Dictionary(model.outputs.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    var statistics: [(Int, Int, Int)] = []
    var buffers = Set<Int>()
    for (o, info) in model.outputs.enumerated() where info.name.hasPrefix(Self.statisticsPrefix) {
      let mean = String(info.name.dropFirst(Self.statisticsPrefix.count))
      let variance = mean.hasSuffix("running_mean") ? String(mean.dropLast("running_mean".count)) + "running_var" : ""
      guard let m = index[mean], let v = index[variance] else {
        throw .invalidModelTable(library: model.libraryPath, problem: "output '\(info.name)' names no running_mean/running_var pair")
      }
      statistics.append((o, m, v))
      buffers.formUnion([m, v])
    }
    self.model = model
    self.optimizer = optimizer
    self.maxGradNorm = maxGradNorm
    self.statistics = statistics
    gradientOutput = model.parameters.map { outputIndex[Self.gradientName($0.name)] }
    trainable = model.parameters.indices.filter { !buffers.contains($0) }.map { ($0, decays(model.parameters[$0].name)) }
    kernels = try OptimizerKernels(model)
    outputs = model.outputs.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: $0.numel) }
    outputs.forEach { $0.initialize(repeating: 0) }
    zeros = .allocate(capacity: model.parameters.map(\.numel).max() ?? 0)
    zeros.initialize(repeating: 0)
    state = try model.parameters.indices.map { (i) throws(RuntimeError) in
      guard !buffers.contains(i) else { return [] }
      return try (0..<optimizer.stateCount).map { (_) throws(RuntimeError) in try AlignedBuffer(zeroedFloats: model.parameters[i].numel) }
    }
  }

  deinit {
    outputs.forEach { $0.deallocate() }
    maskBuffers.forEach { $0.deallocate() }
    zeros.deallocate()
  }

  /// The classes of the targets input ([B, K] soft labels).
  public var classes: Int { model.inputs[targetsInput].shape.last ?? 1 }

  /// The parameters the optimizer updates (every parameter but the BatchNorm running statistics),
  /// in table order.
  public var trainableParameters: [String] { trainable.map { model.parameters[$0.index].name } }

  /// The result of one forward-backward pass.
  public struct StepResult: Sendable {
    public var loss: Float
    /// The global gradient norm before clipping.
    public var gradientNorm: Float
  }

  /// Forward and backward on one batch: `images` as the model's first input, `targets` [B, K] soft
  /// labels. Leaves the gradients in `gradient(_:)`; changes no parameter.
  /// Drop-path masks are drawn for the step about to be taken (`step + 1`).
  public func computeGradients(images: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>) throws(RuntimeError) -> StepResult {
    for (k, mask) in dropPaths.masks.enumerated() {
      let values = DropPathMasks.values(seed: dropPathSeed, step: step + 1, index: mask.index, rate: mask.rate, batch: maskBuffers[k].count)
      _ = maskBuffers[k].update(fromContentsOf: values)
    }
    var inputs = Array(repeating: images, count: model.inputs.count)
    inputs[targetsInput] = targets
    for (k, mask) in dropPaths.masks.enumerated() { inputs[mask.input] = UnsafeBufferPointer(maskBuffers[k]) }
    try model.run(inputs: inputs, outputs: outputs)
    var squares = 0.0
    for (i, o) in gradientOutput.enumerated() {
      guard let o else { continue }
      squares += kernels.sumSquares(model.parameters[i].numel, outputs[o].baseAddress)
    }
    return StepResult(loss: outputs[0][0], gradientNorm: Float(squares.squareRoot()))
  }

  /// One training step at learning rate `learningRate`: gradients, clipping, the optimizer update
  /// of every trainable parameter (those without a gradient see zeros, so decay still applies, as
  /// in PyTorch where their gradient is a zero tensor), and the running statistics.
  @discardableResult
  public func step(images: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>, learningRate: Float) throws(RuntimeError) -> StepResult {
    guard let weights = model.weights else { throw .weightsNotBound(model: model.name) }
    let result = try computeGradients(images: images, targets: targets)
    guard result.loss.isFinite else { return result }  // the caller reports a diverged run
    var scale: Float = 1
    if let maxGradNorm, result.gradientNorm > maxGradNorm {
      scale = maxGradNorm / (result.gradientNorm + 1e-6)
    }
    step += 1
    for (i, decays) in trainable {
      let n = model.parameters[i].numel
      let p = weights.pointer(i)
      let g = UnsafePointer(gradientOutput[i].map { outputs[$0].baseAddress! } ?? zeros.baseAddress!)
      switch optimizer {
      case .adamW(let b1, let b2, let eps, let wd):
        kernels.adamW(n, p, g, state[i][0].floats, state[i][1].floats, learningRate, b1, b2, eps, decays ? wd : 0, step, scale)
      case .sgd(let momentum, let wd):
        kernels.sgd(n, p, g, state[i].first?.floats, learningRate, momentum, decays ? wd : 0, step, scale)
      }
    }
    for (o, m, v) in statistics {
      let c = model.parameters[m].numel
      let batch = outputs[o], mean = weights.pointer(m), variance = weights.pointer(v)
      for j in 0..<c {
        mean[j] = (1 - momentum) * mean[j] + momentum * batch[j]
        variance[j] = (1 - momentum) * variance[j] + momentum * batch[c + j]
      }
    }
    return result
  }

  /// `computeGradients` on arrays.
  public func computeGradients(images: [Float], targets: [Float]) throws(RuntimeError) -> StepResult {
    try images.withUnsafeBufferPointer { (x) throws(RuntimeError) in
      try targets.withUnsafeBufferPointer { (t) throws(RuntimeError) in try computeGradients(images: x, targets: t) }
    }
  }

  /// `step` on arrays.
  @discardableResult
  public func step(images: [Float], targets: [Float], learningRate: Float) throws(RuntimeError) -> StepResult {
    try images.withUnsafeBufferPointer { (x) throws(RuntimeError) in
      try targets.withUnsafeBufferPointer { (t) throws(RuntimeError) in try step(images: x, targets: t, learningRate: learningRate) }
    }
  }

  /// The gradient of parameter `name` from the last pass (zeros when the loss does not reach it).
  public func gradient(_ name: String) -> [Float]? {
    guard let i = model.parameters.firstIndex(where: { $0.name == name }) else { return nil }
    guard let o = gradientOutput[i] else { return Array(repeating: 0, count: model.parameters[i].numel) }
    return Array(outputs[o])
  }

  /// Optimizer state as named tensors (for checkpoints), and back.
  public func optimizerState() -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for (i, buffers) in state.enumerated() {
      for (name, buffer) in zip(optimizer.stateNames(model.parameters[i].name), buffers) {
        out[name] = Tensor(shape: model.parameters[i].shape, floats: Array(UnsafeBufferPointer(start: buffer.floats, count: model.parameters[i].numel)))
      }
    }
    return out
  }

  /// Restores optimizer state saved by `optimizerState` and the step count; every tensor must be
  /// present with its parameter's shape.
  public func restore(state tensors: [String: Tensor], step: Int) throws(RuntimeError) {
    for (i, buffers) in state.enumerated() {
      for (name, buffer) in zip(optimizer.stateNames(model.parameters[i].name), buffers) {
        guard let t = tensors[name] else { throw .tensorNotFound(file: "checkpoint", tensor: name) }
        guard t.shape == model.parameters[i].shape else {
          throw .invalidArgument("checkpoint tensor '\(name)' has shape \(formatShape(t.shape)), expected \(formatShape(model.parameters[i].shape))")
        }
        guard let values = t.floats else { throw .wrongDType(file: "checkpoint", tensor: name, found: "\(t.dtype)", wanted: "F32") }
        values.withUnsafeBufferPointer { buffer.floats.update(from: $0.baseAddress!, count: $0.count) }
      }
    }
    self.step = step
  }
}
