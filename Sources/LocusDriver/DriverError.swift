// LocusDriver owns the pipeline as one call: spec text → IR → passes → C → built library →
// loaded model. It adds no logic of its own beyond sequencing, file output and error wrapping.
import LocusBuild
import LocusCodegen
import LocusPasses
import LocusRuntime
import LocusSpec

/// Every way the pipeline can fail, each carrying its layer's typed error. `isInternal` separates
/// compiler bugs from user errors so the CLI can say which it is.
public enum DriverError: Error, CustomStringConvertible {
  case spec(SpecError)
  case codegen(CodegenError)
  case build(BuildError)
  case runtime(RuntimeError)
  case internalError(InternalCompilerError)
  case io(path: String, reason: String)
  case usage(String)

  public var description: String {
    switch self {
    case .spec(let e): "\(e)"
    case .codegen(let e): "\(e)"
    case .build(let e): "\(e)"
    case .runtime(let e): "\(e)"
    case .internalError(let e): "\(e)"
    case .io(let path, let reason): "\(path): \(reason)"
    case .usage(let message): message
    }
  }

  public var isInternal: Bool {
    switch self {
    case .internalError, .codegen: true
    default: false
    }
  }
}
