import LocusIR

/// Why C emission failed. Every case is an internal problem of the compiler (a graph the earlier
/// stages should not have produced, or a kernel the table lacks), reported with the node at fault.
public enum CodegenError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The kernel table has no entry for this op.
  case noKernel(op: String, node: String)
  /// The op is in the table but this particular form is not supported (e.g. a rank above 8).
  case unsupported(op: String, node: String, reason: String)
  /// A template file the graph needs is not embedded in the compiler.
  case missingTemplate(String)
  /// A `/*{{NAME}}*/` hole of a template was left unfilled.
  case unfilledHole(template: String, hole: String)
  /// The model name is not a C identifier, so it cannot prefix the exported symbols.
  case invalidModelName(String)
  /// The memory plan has no storage for a value the forward function reads or writes.
  case noStorage(node: String)
  /// Two inputs, two outputs or two parameters share a name: the ABI tables could not tell them apart.
  case duplicateName(kind: String, name: String)
  /// A tensor of the ABI tables has more than 8 axes (batch included), the size of `shape[8]`.
  case rankTooHigh(kind: String, name: String, rank: Int)

  public var description: String {
    switch self {
    case .noKernel(let op, let node):
      "no C kernel for op '\(op)' (\(node)); the emitter's kernel table needs an entry for it"
    case .unsupported(let op, let node, let reason): "cannot emit '\(op)' (\(node)): \(reason)"
    case .missingTemplate(let name): "kernel template '\(name)' is not embedded in this build of locus"
    case .unfilledHole(let template, let hole): "template '\(template)' has an unfilled hole '\(hole)'"
    case .invalidModelName(let name):
      "model name '\(name)' is not a C identifier (letters, digits and '_', not starting with a digit)"
    case .noStorage(let node): "the memory plan gives no storage to \(node)"
    case .duplicateName(let kind, let name): "two \(kind)s are named '\(name)'; names in the model's tables must be unique"
    case .rankTooHigh(let kind, let name, let rank):
      "\(kind) '\(name)' has \(rank) axes with the batch; the C ABI describes at most 8"
    }
  }
}

extension Node {
  /// `%12 (blocks.0.attn.qkv)`: how errors name a node.
  var label: String { scope.isEmpty ? id.description : "\(id) (\(scope))" }
}
