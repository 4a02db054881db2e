/// Checks the invariants every pass must preserve. Run after each pass of the pipeline; a failure
/// is an internal compiler error (a bug in a pass), never a user error.
public struct VerificationError: Error, CustomStringConvertible, Sendable {
  public var problems: [String]
  public var description: String { "IR verification failed:\n" + problems.map { "  - \($0)" }.joined(separator: "\n") }
}

extension Graph {
  public func verify() throws(VerificationError) {
    var problems: [String] = []
    let parameterNames = Set(parameters.map(\.name))
    if parameterNames.count != parameters.count { problems.append("duplicate parameter names") }
    for (index, node) in nodes.enumerated() {
      if node.id.raw != index { problems.append("\(node.id) is stored at position \(index)") }
      for operand in node.operands where operand.raw >= index || operand.raw < 0 {
        problems.append("\(node.id) uses \(operand), which does not precede it")
      }
      switch node.op {
      case .input:
        if !node.type.batched { problems.append("input \(node.id) must be batched") }
      case .parameter(let name):
        if let p = parameter(named: name) {
          if p.shape != node.type.shape || node.type.batched {
            problems.append("\(node.id) declares parameter '\(name)' as \(node.type), the table says \(p.shape)")
          }
        } else {
          problems.append("\(node.id) refers to unknown parameter '\(name)'")
        }
      default:
        guard node.operands.allSatisfy({ $0.raw < index && $0.raw >= 0 }) else { continue }
        do {
          let inferred = try node.op.inferType(node.operands.map { nodes[$0.raw].type })
          if inferred != node.type { problems.append("\(node.id) has type \(node.type), its operands give \(inferred)") }
        } catch {
          problems.append("\(node.id) \(node.op.mnemonic): \(error.message)")
        }
      }
    }
    for (name, value) in outputs where value.raw >= nodes.count {
      problems.append("output '\(name)' refers to missing \(value)")
    }
    if outputs.isEmpty { problems.append("the graph has no outputs") }
    if Set(outputs.map(\.name)).count != outputs.count { problems.append("two outputs share a name") }
    if !problems.isEmpty { throw VerificationError(problems: problems) }
  }
}
