import LocusIR

/// The context layer of a C library (DESIGN.md §8): `<m>.h`, the public API, and `<m>_context.c`,
/// both from templates/api/ with the placeholder prefix `lkm` replaced by the model's name. The
/// context file starts with the model facts the raw ABI tables do not carry: whether there is a
/// training part, the shape of one image and of one image's logits, and which parameters get
/// weight decay.
public struct ContextSources: Sendable {
  public var header: String
  public var context: String
  /// Every function the public header declares: the symbols the library exports.
  public var exports: [String]

  public var headerFileName: String
  public var contextFileName: String
}

public enum ContextEmitter {
  /// `inference` is the (fused) inference graph, whose parameter table the context follows;
  /// `decays[i]` tells whether parameter i gets weight decay.
  public static func emit(inference: Graph, hasTraining: Bool, decays: [Bool]) throws(CodegenError) -> ContextSources {
    let m = inference.name
    guard isCIdentifier(m) else { throw .invalidModelName(m) }
    guard let image = inference.inputs.first, let logits = inference.outputs.first, decays.count == inference.parameters.count else {
      throw .unsupported(op: "c-library", node: m, reason: "a C library needs one image input, one logits output and a decay flag per parameter")
    }
    let header = rename(try Templates.apiText("api/lkm.h"), to: m)
    var w = CWriter()
    w.comment(banner(for: inference) + "\n\nThe context of the C library: the API of \(m).h over the raw ABI of \(m).c" + (hasTraining ? " and \(m)_train.c" : "") + ".")
    w.comment("mkstemp, fsync, fdopen, posix_memalign: POSIX, declared only when asked for before any header.")
    w.line("#define _POSIX_C_SOURCE 200809L")
    w.line("#include \"\(m).h\"")
    w.blank()
    w.comment("Model facts for templates/api/context.c.")
    w.line("#define CTX_HAS_TRAINING \(hasTraining ? 1 : 0)")
    w.line("static const locus_tensor_info ctx_image_info = \(info(inputName(image), image.type.shape));")
    w.line("static const locus_tensor_info ctx_logits_info = \(info(logits.name, Array(inference.outputShape(logits.value).dropFirst())));")
    if hasTraining {
      w.comment("Weight decay per parameter (table order): weights of rank >= 2 only, as `locus train`.")
      w.line("static const unsigned char ctx_decays[\(max(decays.count, 1))] = {\(decays.isEmpty ? "0" : decays.map { $0 ? "1" : "0" }.joined(separator: ", "))};")
    }
    for name in ["api/safetensors.c", "api/context.c"] {
      w.blank()
      w.comment("---- templates/\(name) " + String(repeating: "-", count: max(4, 76 - name.count)))
      w.verbatim(rename(try Templates.apiText(name), to: m))
    }
    return ContextSources(header: header, context: w.text, exports: exportedFunctions(header, model: m),
                          headerFileName: "\(m).h", contextFileName: "\(m)_context.c")
  }

  /// The templates spell every model-specific name with the prefix `lkm` (`lkm_model_create`,
  /// `LOCUS_LKM_API_H`), which no other identifier in them contains.
  static func rename(_ text: String, to model: String) -> String {
    text.replacingOccurrences(of: "lkm", with: model).replacingOccurrences(of: "LKM", with: model.uppercased())
  }

  private static func info(_ name: String, _ shape: [Int]) -> String {
    let dims = shape.isEmpty ? "0" : shape.map(String.init).joined(separator: ", ")
    return "{\(cString(name)), \(shape.count), {\(dims)}, \(shape.reduce(1, *))}"
  }

  /// Names followed by `(` that start with the model's prefix, in order, once each.
  static func exportedFunctions(_ header: String, model: String) -> [String] {
    var names: [String] = []
    let prefix = model + "_"
    var rest = Substring(header)
    while let range = rest.range(of: prefix) {
      let start = range.lowerBound
      var end = range.upperBound
      while end < rest.endIndex, rest[end].isLetter || rest[end].isNumber || rest[end] == "_" { rest.formIndex(after: &end) }
      let precededByIdentifier = start > rest.startIndex && {
        let c = rest[rest.index(before: start)]
        return c.isLetter || c.isNumber || c == "_"
      }()
      if end < rest.endIndex, rest[end] == "(", !precededByIdentifier {
        let name = String(rest[start..<end])
        if !names.contains(name) { names.append(name) }
      }
      rest = rest[end...]
    }
    return names
  }
}
