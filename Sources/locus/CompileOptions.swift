import ArgumentParser
import LocusCodegen
import LocusDriver
import LocusPasses

/// The options every command that compiles a spec accepts.
struct CompileOptions: ParsableArguments {
  @Argument(help: "The model spec (.locus file).")
  var spec: String

  @Option(name: .customLong("set"), help: ArgumentHelp("Override a constant of the model, e.g. --set dim=32 (repeatable).", valueName: "name=value"))
  var overrides: [String] = []

  @Option(help: "The model to compile when the spec defines several.")
  var model: String?

  @Option(help: "Code generation target: native, avx512, avx2 or generic.")
  var target: String = "native"

  @Option(name: .customShort("O", allowingJoined: true), help: "Optimisation level: 0 runs no fusion, 1 (the default) runs them all.")
  var optimization: Int = 1

  @Option(help: ArgumentHelp("Fusions to skip, comma-separated: \(Pipeline.fusionFlags.joined(separator: ", ")).", valueName: "names"))
  var disableFusion: [String] = []

  var fusion: FusionOptions {
    FusionOptions(enabled: optimization > 0, disabled: Set(disableFusion.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }))
  }

  func validate() throws {
    for o in overrides where parse(o) == nil {
      throw ValidationError("--set expects name=value, got '\(o)'")
    }
    guard (0...1).contains(optimization) else { throw ValidationError("-O takes 0 (no fusion) or 1 (all fusions), got \(optimization)") }
    for flag in fusion.disabled where !Pipeline.fusionFlags.contains(flag) {
      throw ValidationError("--disable-fusion: unknown fusion '\(flag)'; the fusions are: \(Pipeline.fusionFlags.joined(separator: ", "))")
    }
    guard Target(rawValue: target) != nil else {
      throw ValidationError("unknown --target '\(target)'; choose one of: " + Target.allCases.map(\.rawValue).joined(separator: ", "))
    }
  }

  func request(batch: Int) -> CompileRequest {
    CompileRequest(specPath: spec, batch: batch, overrides: overrides.compactMap(parse), model: model,
                   target: Target(rawValue: target) ?? .native, fusion: fusion)
  }

  private func parse(_ text: String) -> (name: String, value: String)? {
    guard let eq = text.firstIndex(of: "="), eq != text.startIndex, text.index(after: eq) != text.endIndex else { return nil }
    return (String(text[..<eq]).trimmingCharacters(in: .whitespaces), String(text[text.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
  }
}

func printWarnings(_ artifact: CompiledArtifact) {
  for w in artifact.warnings { printErr("\(w)") }
}
