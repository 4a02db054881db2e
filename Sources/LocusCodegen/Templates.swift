/// The kernel library of `templates/`, embedded into the compiler at build time (Package.swift's
/// `.embedInCode("templates")`). Each file is compilable C; a kernel file's first line names the
/// files it calls (`/* locus-requires: prologue.h gemm.c */`), which is how the emitter pulls in
/// exactly the files a graph needs, each once, dependencies first.
public enum Templates {
  /// Every template file the emitter may copy, in the order they appear in a model file when
  /// several are needed (dependencies always come first, see `closure`). The test programs in
  /// `templates/tests/` are embedded too but never copied.
  static let files: KeyValuePairs<String, [UInt8]> = [
    "prologue.h": PackageResources.prologue_h,
    "gemm.c": PackageResources.gemm_c,
    "linear.c": PackageResources.linear_c,
    "conv.c": PackageResources.conv_c,
    "norm.c": PackageResources.norm_c,
    "activation.c": PackageResources.activation_c,
    "softmax.c": PackageResources.softmax_c,
    "attention.c": PackageResources.attention_c,
    "pool.c": PackageResources.pool_c,
    "layout.c": PackageResources.layout_c,
    "fused_linear.c": PackageResources.fused_linear_c,
    "token_dwconv.c": PackageResources.token_dwconv_c,
    "shifted_attention.c": PackageResources.shifted_attention_c,
    "grad.c": PackageResources.grad_c,
    "attention_grad.c": PackageResources.attention_grad_c,
    "loss.c": PackageResources.loss_c,
    "optim.c": PackageResources.optim_c,
  ]

  /// The C library's context layer (templates/api/, DESIGN.md §8): the public header, the
  /// safetensors reader/writer and the context, written with the placeholder prefix `lkm`.
  static let api: KeyValuePairs<String, [UInt8]> = [
    "api/lkm.h": PackageResources.lkm_h,
    "api/safetensors.c": PackageResources.safetensors_c,
    "api/context.c": PackageResources.context_c,
  ]

  /// templates/fma_probe.c: the FMA peak probe `locus bench` builds on its own (never part of a
  /// model, so not in `files`). The kernel benchmarks in templates/tests include the same file.
  public static var fmaProbe: String { String(decoding: PackageResources.fma_probe_c, as: UTF8.self) }

  static func apiText(_ name: String) throws(CodegenError) -> String {
    guard let bytes = api.first(where: { $0.key == name })?.value else { throw .missingTemplate(name) }
    return String(decoding: bytes, as: UTF8.self)
  }

  static func text(_ name: String) throws(CodegenError) -> String {
    guard let bytes = files.first(where: { $0.key == name })?.value else { throw .missingTemplate(name) }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The files named on a template's first line, `/* locus-requires: prologue.h gemm.c */`.
  static func requirements(of name: String) throws(CodegenError) -> [String] {
    let marker = "/* locus-requires:"
    guard let line = try text(name).split(separator: "\n", maxSplits: 1).first, line.hasPrefix(marker) else { return [] }
    return line.dropFirst(marker.count)
      .replacingOccurrences(of: "*/", with: " ")
      .split(whereSeparator: { $0 == " " || $0 == "," })
      .map(String.init)
  }

  /// `needed` plus everything they require, transitively; each file after the files it requires,
  /// ties in table order. The same set of needs always gives the same list.
  static func closure(of needed: Set<String>) throws(CodegenError) -> [String] {
    var ordered: [String] = []
    var visiting: Set<String> = []
    func visit(_ name: String) throws(CodegenError) {
      guard !ordered.contains(name), !visiting.contains(name) else { return }
      visiting.insert(name)
      for dependency in try requirements(of: name).sorted(by: { rank($0) < rank($1) }) { try visit(dependency) }
      ordered.append(name)
    }
    for name in needed.sorted(by: { rank($0) < rank($1) }) { try visit(name) }
    return ordered
  }

  private static func rank(_ name: String) -> (Int, String) {
    (files.firstIndex { $0.key == name } ?? files.count, name)
  }

  /// Replaces every `/*{{NAME}}*/` hole with its value; a hole without a value is an error, so a
  /// template never reaches clang half-filled.
  static func fill(_ template: String, named name: String, holes: [String: String]) throws(CodegenError) -> String {
    var out = template
    for (hole, value) in holes.sorted(by: { $0.key < $1.key }) {
      out = out.replacingOccurrences(of: "/*{{\(hole)}}*/", with: value)
    }
    if let start = out.range(of: "/*{{"), let end = out[start.upperBound...].range(of: "}}*/") {
      throw .unfilledHole(template: name, hole: String(out[start.upperBound..<end.lowerBound]))
    }
    return out
  }
}
