import Foundation
import LocusCodegen

/// `locus compile --emit swift-package` (DESIGN.md §8): the C library of `compileCLibrary`, wrapped
/// as a self-contained SwiftPM package. The static library ships as a `.artifactbundle` binary
/// target (no unsafe flags reach the app, so the package also works as a versioned dependency);
/// a Swift target over it gives the typed API of `SwiftWrapperFile`.
///
///     <Name>/Package.swift
///     <Name>/<Name>Kernels.artifactbundle/{info.json, <Name>Kernels/lib<Name>Kernels.a, …/include/}
///     <Name>/Sources/<Name>/<Name>.swift
///     <Name>/src/            the generated C, for reading
///     <Name>/manifest.json   what the C library's manifest says
extension Driver {
  /// The package name for an output folder: its last component when that is a Swift identifier
  /// starting with a capital, else the model name in UpperCamelCase (`localvit_tiny` → `LocalvitTiny`).
  public static func packageName(forOutput directory: String, model: String) -> String {
    let last = URL(fileURLWithPath: directory).lastPathComponent
    if let first = last.unicodeScalars.first, CharacterSet.uppercaseLetters.contains(first), isSwiftIdentifier(last) { return last }
    return model.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
  }

  static func isSwiftIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, CharacterSet.letters.contains(first) || first == "_" else { return false }
    return s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "_" } && s.unicodeScalars.allSatisfy(\.isASCII)
  }

  /// The files of the package except the static library: relative path → contents.
  public static func swiftPackageFiles(_ artifact: CLibraryArtifact, name: String) throws(DriverError) -> [(String, Data)] {
    guard isSwiftIdentifier(name) else { throw .usage("'\(name)' is not a valid Swift package name (letters, digits, _; not starting with a digit)") }
    let kernels = name + "Kernels", m = artifact.name, c = artifact.manifest
    let bundle = "\(kernels).artifactbundle"
    let facts = SwiftWrapperFile.Facts(
      model: m, inputShape: c.image, classes: c.classes, parameterCount: c.parameterCount,
      forwardFlopsPerImage: artifact.inference.manifest.forwardFlops / max(c.batch, 1), batch: c.batch, trainBatch: c.trainBatch,
      arenaBytes: c.arenaBytes, trainArenaBytes: c.trainArenaBytes)
    let swift = SwiftWrapperFile(name: name, cModule: kernels, facts: facts).emit()
    let manifest: Data
    do {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      manifest = try encoder.encode(c)
    } catch {
      throw .io(path: name, reason: "cannot encode the manifest: \(error)")
    }
    var files: [(String, Data)] = [
      ("Package.swift", Data(packageManifest(name: name, kernels: kernels).utf8)),
      ("Sources/\(name)/\(name).swift", Data(swift.utf8)),
      ("\(bundle)/info.json", Data(bundleInfo(kernels: kernels).utf8)),
      ("\(bundle)/\(kernels)/include/\(artifact.context.headerFileName)", Data(artifact.context.header.utf8)),
      ("\(bundle)/\(kernels)/include/module.modulemap", Data(moduleMap(kernels: kernels, header: artifact.context.headerFileName).utf8)),
      ("README.md", Data(readme(name: name, model: m, facts: facts).utf8)),
      (".gitignore", Data("/.build\n/Package.resolved\n".utf8)),
      ("manifest.json", manifest),
    ]
    files += artifact.sources.map { ("src/\($0.name)", Data($0.text.utf8)) }
    return files
  }

  /// Writes the package into `directory`, atomically as every other output (staging, then rename).
  public static func writeSwiftPackage(_ artifact: CLibraryArtifact, name: String, to directory: String) throws(DriverError) {
    let files = try swiftPackageFiles(artifact, name: name)
    let kernels = name + "Kernels"
    let fm = FileManager.default
    let target = URL(fileURLWithPath: directory).standardizedFileURL
    let staging = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).locus-tmp-\(getpid())")
    let retired = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).locus-old-\(getpid())")
    do {
      try? fm.removeItem(at: staging)
      try fm.createDirectory(at: staging, withIntermediateDirectories: true)
      defer { try? fm.removeItem(at: staging) }
      for (path, data) in files {
        let url = staging.appendingPathComponent(path)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
      }
      try fm.copyItem(atPath: artifact.library.path,
                      toPath: staging.appendingPathComponent("\(kernels).artifactbundle/\(kernels)/lib\(kernels).a").path)
      // The package is one unit: the old folder (if any) is moved aside, the new one renamed in,
      // then the old one deleted. An app's .build inside it is not kept: the package changed.
      try? fm.removeItem(at: retired)
      if fm.fileExists(atPath: target.path) {
        guard rename(target.path, retired.path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target.path]) }
      }
      guard rename(staging.path, target.path) == 0 else {
        _ = rename(retired.path, target.path)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target.path])
      }
      try? fm.removeItem(at: retired)
    } catch {
      throw .io(path: directory, reason: "cannot write the Swift package: \(error.localizedDescription)")
    }
  }

  static func packageManifest(name: String, kernels: String) -> String {
    """
    // swift-tools-version:6.0
    // generated by locus — do not edit.
    import PackageDescription

    let package = Package(
      name: "\(name)",
      platforms: [.macOS(.v13)],
      products: [.library(name: "\(name)", targets: ["\(name)"])],
      targets: [
        // The generated C, compiled by Locus into one static library (kernels' symbols local).
        .binaryTarget(name: "\(kernels)", path: "\(kernels).artifactbundle"),
        .target(name: "\(name)", dependencies: ["\(kernels)"]),
      ]
    )

    """
  }

  static func bundleInfo(kernels: String) -> String {
    """
    {
      "schemaVersion": "1.0",
      "artifacts": {
        "\(kernels)": {
          "type": "staticLibrary",
          "version": "1.0.0",
          "variants": [
            {
              "path": "\(kernels)/lib\(kernels).a",
              "supportedTriples": ["\(hostTriple)"],
              "staticLibraryMetadata": {
                "headerPaths": ["\(kernels)/include"],
                "moduleMapPath": "\(kernels)/include/module.modulemap"
              }
            }
          ]
        }
      }
    }

    """
  }

  /// The triple the library was built for (this machine's: the C is compiled with -march=native
  /// unless --target says otherwise).
  static var hostTriple: String {
    #if arch(x86_64)
      let arch = "x86_64"
    #elseif arch(arm64)
      let arch = "aarch64"
    #else
      let arch = "unknown"
    #endif
    #if os(macOS)
      return arch == "aarch64" ? "arm64-apple-macosx" : "\(arch)-apple-macosx"
    #else
      return "\(arch)-unknown-linux-gnu"
    #endif
  }

  static func moduleMap(kernels: String, header: String) -> String {
    """
    // generated by locus — do not edit. libomp is linked by name: Debian's libomp-19-dev puts
    // libiomp5 on the default library path.
    module \(kernels) {
      header "\(header)"
      link "iomp5"
      link "m"
      export *
    }

    """
  }

  static func readme(name: String, model: String, facts: SwiftWrapperFile.Facts) -> String {
    """
    # \(name)

    `\(model)` compiled by [Locus](https://example.invalid/locus) into native code (generated — do not edit).
    \(facts.parameterCount) parameters; input [\(facts.inputShape.map(String.init).joined(separator: ", "))] per image; \(facts.classes) classes;
    inference compiled at batch \(facts.batch) (any count runs in chunks), training at batch \(facts.trainBatch).

    ```swift
    // Package.swift: .package(path: "…/\(name)") or a tagged version of it
    import \(name)

    let model = try \(name)(weights: URL(fileURLWithPath: "weights.safetensors"))
    let logits = try model.predict(images)            // [B, \(facts.inputShape.map(String.init).joined(separator: ", "))] → [B, \(facts.classes)]
    let trainer = try \(name).Trainer(weights: url, optimizer: .adamW(lr: 1e-3, weightDecay: 0.05))
    let loss = try trainer.step(images: x, labels: y)  // \(facts.trainBatch) images
    try trainer.save(to: checkpointURL)
    ```

    Needs libomp at run time (Debian: `apt-get install libomp-19-dev`). `src/` holds the generated C;
    `manifest.json` how it was built.

    """
  }
}
