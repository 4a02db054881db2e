#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The update rule after each backward pass, with PyTorch's semantics (DESIGN.md §7): AdamW as
/// `torch.optim.AdamW`, SGD as `torch.optim.SGD` (dampening 0, no Nesterov). Weight decay applies
/// only to the parameters the trainer marks (weights of rank ≥ 2, as timm does).
public enum Optimizer: Sendable, Hashable {
  case adamW(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.05)
  case sgd(momentum: Float = 0.9, weightDecay: Float = 0)

  /// Buffers of state per parameter (AdamW: first and second moments; SGD: momentum).
  var stateCount: Int {
    switch self {
    case .adamW: 2
    case .sgd(let momentum, _): momentum == 0 ? 0 : 1
    }
  }

  /// Names of the state tensors of parameter `p` in a checkpoint.
  func stateNames(_ p: String) -> [String] {
    switch self {
    case .adamW: ["optimizer.exp_avg.\(p)", "optimizer.exp_avg_sq.\(p)"]
    case .sgd: stateCount == 0 ? [] : ["optimizer.momentum_buffer.\(p)"]
    }
  }
}

/// The optimizer functions every training library exports under its prefix (`<m>_adamw_step`…).
struct OptimizerKernels {
  typealias SumSquares = @convention(c) (Int, UnsafePointer<Float>?) -> Double
  typealias AdamW = @convention(c) (
    Int, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?,
    Float, Float, Float, Float, Float, Int, Float
  ) -> Void
  typealias SGD = @convention(c) (
    Int, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Float, Float, Float, Int, Float
  ) -> Void

  var sumSquares: SumSquares
  var adamW: AdamW
  var sgd: SGD

  init(_ model: CompiledModel) throws(RuntimeError) {
    func sym<T>(_ name: String, _: T.Type) throws(RuntimeError) -> T {
      guard let p = dlsym(model.handle, "\(model.name)_\(name)") else {
        throw .missingSymbol(library: model.libraryPath, symbol: "\(model.name)_\(name) (only training libraries have it)")
      }
      return unsafeBitCast(p, to: T.self)
    }
    sumSquares = try sym("sum_squares", SumSquares.self)
    adamW = try sym("adamw_step", AdamW.self)
    sgd = try sym("sgd_step", SGD.self)
  }
}
