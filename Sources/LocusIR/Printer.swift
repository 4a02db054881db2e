/// The readable text form of a graph (`locus compile --dump-ir`). Deterministic: node order, then
/// parameters in declaration order; golden tests compare it byte for byte.
extension Graph {
  public func dump() -> String {
    var out = "graph \(name) (batch \(batch)) {\n"
    for node in nodes {
      var line = "  \(node.id) = \(node.op.mnemonic)"
      if !node.operands.isEmpty { line += "(" + node.operands.map(\.description).joined(separator: ", ") + ")" }
      let attrs = node.op.attributeText
      if !attrs.isEmpty { line += " {\(attrs)}" }
      line += " : \(node.type)"
      var notes: [String] = []
      if !node.scope.isEmpty, !isNamed(node) { notes.append(node.scope) }
      if !node.origin.isEmpty { notes.append(node.origin) }
      if !notes.isEmpty { line += "  # " + notes.joined(separator: "  ") }
      out += line + "\n"
    }
    for (name, value) in outputs { out += "  output \(name) = \(value)\n" }
    out += "}\n"
    return out
  }

  /// Input and parameter nodes already print their name as an attribute.
  private func isNamed(_ node: Node) -> Bool {
    switch node.op {
    case .input, .parameter: true
    default: false
    }
  }
}
