// The prelude of standard blocks ships inside the compiler (embedded at build time from
// prelude.locus, so it can never go missing or drift from the binary).
public enum Prelude {
  /// The prelude as a source file; diagnostics inside it point at `<prelude>:line:col`.
  public static let source = SourceFile(name: "<prelude>", text: String(decoding: PackageResources.prelude_locus, as: UTF8.self))
}
