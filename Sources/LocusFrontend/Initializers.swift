import LocusIR
import LocusSpec

/// The initialisers a spec can name, in `init kind: …` rules and `param … = …` declarations.
enum InitializerTable {
  static let signatures: [String: Signature] = [
    "zeros": Signature([]), "ones": Signature([]),
    "constant": Signature([("value", nil)]),
    "normal": Signature([("std", nil)]),
    "trunc_normal": Signature([("std", nil)]),
    "uniform": Signature([("low", nil), ("high", nil)]),
    "kaiming_uniform": Signature([]),
  ]

  /// `fanIn` is the parameter's fan-in where known (free parameters: the product of all but the
  /// first axis, as PyTorch computes it).
  static func make(_ name: String, _ a: BoundArguments, fanIn: Int) throws(ElaborationError) -> Initializer {
    switch name {
    case "zeros": return .zeros
    case "ones": return .ones
    case "constant": return .constant(try a.float("value"))
    case "normal": return .normal(std: try a.float("std"))
    case "trunc_normal": return .truncNormal(std: try a.float("std"))
    case "uniform": return .uniform(low: try a.float("low"), high: try a.float("high"))
    default: return .kaimingUniform(fanIn: fanIn)
    }
  }
}
