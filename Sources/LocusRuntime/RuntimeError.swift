// LocusRuntime: loads a built model library (the C ABI of DESIGN.md §4) and runs it; reads and
// writes safetensors and .npy; binds weight files to a model's parameter table; seeds parameters.
// This file owns the errors of the runtime layer. Messages name the file and the tensor, and say
// what was expected next to what was found. Only the CLI turns these into exit codes.

public enum RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
  case io(path: String, action: String, reason: String)
  /// The file is not a valid safetensors/.npy file, or a tensor entry in it is inconsistent.
  case malformedFile(file: String, problem: String)
  /// A tensor's bytes lie (partly) beyond the end of the file. Offsets are absolute in the file.
  case truncated(file: String, tensor: String, needs: Range<Int>, fileSize: Int)
  case tensorNotFound(file: String, tensor: String)
  /// A tensor exists but its dtype cannot be read as requested (e.g. floats from I64).
  case wrongDType(file: String, tensor: String, found: String, wanted: String)
  /// A weight file does not fit a model's parameter table; every problem is listed.
  case weightMismatch(file: String, model: String, problems: [WeightProblem])
  case libraryLoad(path: String, reason: String)
  case missingSymbol(library: String, symbol: String)
  case abiMismatch(library: String, model: String, found: Int, supported: Int)
  /// The library's own tables are inconsistent (rank > 8, numel ≠ product of shape, null name…).
  case invalidModelTable(library: String, problem: String)
  /// Wrong number of input or output buffers.
  case argumentCount(model: String, role: String, expected: Int, got: Int)
  /// A buffer has the wrong number of floats for its tensor.
  case sizeMismatch(model: String, role: String, index: Int, name: String, shape: [Int], expected: Int, got: Int)
  case weightsNotBound(model: String)
  /// `<m>_prepare` failed on newly bound weights; the model has no weights until a binding succeeds.
  case prepareFailed(model: String, status: Int32)
  case forwardFailed(model: String, status: Int32)
  case invalidArgument(String)
  case invalidInitializer(parameter: String, reason: String)

  public var description: String {
    switch self {
    case .io(let path, let action, let reason):
      return "cannot \(action) \(path): \(reason)"
    case .malformedFile(let file, let problem):
      return "\(file): \(problem)"
    case .truncated(let file, let tensor, let needs, let size):
      return "\(file): truncated file: tensor '\(tensor)' needs bytes \(needs.lowerBound)..\(needs.upperBound), "
        + "file has \(size)"
    case .tensorNotFound(let file, let tensor):
      return "\(file): missing tensor '\(tensor)'"
    case .wrongDType(let file, let tensor, let found, let wanted):
      return "\(file): tensor '\(tensor)' has dtype \(found), expected \(wanted)"
    case .weightMismatch(let file, let model, let problems):
      let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
      return (["\(file) does not match the parameters of \(model) (\(count)):"]
        + problems.map { "  \($0.description(model: model))" }).joined(separator: "\n")
    case .libraryLoad(let path, let reason):
      return "cannot load \(path): \(reason)"
    case .missingSymbol(let library, let symbol):
      return "\(library) does not export '\(symbol)': is it a Locus model library, and is the model name right?"
    case .abiMismatch(let library, let model, let found, let supported):
      return "\(library): \(model)_abi_version() is \(found), this runtime supports \(supported); "
        + "recompile the model with this version of locus"
    case .invalidModelTable(let library, let problem):
      return "\(library): \(problem)"
    case .argumentCount(let model, let role, let expected, let got):
      return "\(model) takes \(expected) \(role)(s), got \(got)"
    case .sizeMismatch(let model, let role, let index, let name, let shape, let expected, let got):
      return "\(model): \(role) \(index) '\(name)' expects \(formatShape(shape)) = \(expected) floats, got \(got)"
    case .weightsNotBound(let model):
      return "\(model): no weights bound; bind a safetensors file (or initialised parameters) before running"
    case .prepareFailed(let model, let status):
      return "\(model)_prepare returned \(status); bind the weights again before running"
    case .forwardFailed(let model, let status):
      return "\(model)_forward returned \(status)"
    case .invalidArgument(let why):
      return why
    case .invalidInitializer(let parameter, let reason):
      return "initialiser of '\(parameter)': \(reason)"
    }
  }
}

/// One way a weight file disagrees with a model's parameter table.
public enum WeightProblem: Sendable, Equatable {
  case missing(name: String, shape: [Int])
  case shapeMismatch(name: String, found: [Int], expected: [Int])
  case notFloat(name: String, dtype: String)
  case unexpected(name: String)

  public func description(model: String) -> String {
    switch self {
    case .missing(let name, let shape):
      return "missing tensor '\(name)' (the model expects \(formatShape(shape)))"
    case .shapeMismatch(let name, let found, let expected):
      return "tensor '\(name)' has shape \(formatShape(found)), the model expects \(formatShape(expected))"
    case .notFloat(let name, let dtype):
      return "tensor '\(name)' has dtype \(dtype), the model expects a float tensor (F32, F64, F16 or BF16)"
    case .unexpected(let name):
      return "unexpected tensor '\(name)' (not a parameter of \(model))"
    }
  }
}

/// `[576, 64]`, the way PyTorch prints a size.
func formatShape(_ shape: [Int]) -> String {
  "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
