import Foundation

// LocusBuild: finds clang and OpenMP, turns a BuildRequest (data) into clang invocations, and keeps
// built libraries in a content-addressed cache. This file owns toolchain discovery.
//
// Search order for clang, first hit wins:
//   1. $LOCUS_CC (a path, or a name looked up on PATH); an unusable value is an error, not skipped;
//   2. the clang next to the `swift` found on PATH (the toolchain the project is built with);
//   3. /opt/swift/usr/bin/clang;
//   4. `clang` on PATH (may be a distribution clang of another version).

public struct Toolchain: Sendable, Equatable {
  /// Absolute path of the C compiler.
  public var clang: String
  /// Full `clang --version` output; part of every cache key.
  public var clangVersion: String
  /// What `-march=native` means on this host (`-target-cpu …` and features), so a cache shared
  /// between machines never hands one CPU's code to another.
  public var nativeTarget: String
  public var openMP: OpenMPSearch
  /// `llvm-ar` or `ar`, needed only for static libraries.
  public var archiver: String?
  /// `llvm-objcopy` or `objcopy`, needed only for C libraries (`MergedArchive.swift`).
  public var objcopy: String?

  public init(
    clang: String, clangVersion: String, nativeTarget: String, openMP: OpenMPSearch, archiver: String?,
    objcopy: String? = nil
  ) {
    self.clang = clang
    self.clangVersion = clangVersion
    self.nativeTarget = nativeTarget
    self.openMP = openMP
    self.archiver = archiver
    self.objcopy = objcopy
  }

  /// Finds clang (required), OpenMP and an archiver (looked up now, required only when used).
  public static func discover(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(BuildError) -> Toolchain {
    let clang = try findClang(environment: environment)
    let version = try runCommand([clang, "--version"])
    guard version.status == 0 else {
      throw .toolFailed(command: [clang, "--version"], exitStatus: version.status, stderr: version.stderr)
    }
    return Toolchain(
      clang: clang,
      clangVersion: version.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
      nativeTarget: probeNativeTarget(clang: clang),
      openMP: OpenMPSearch.discover(environment: environment),
      archiver: findArchiver(nextTo: clang, environment: environment),
      objcopy: findTool(["llvm-objcopy", "objcopy"], nextTo: clang, environment: environment))
  }

  /// The OpenMP installation, or the error explaining what to install.
  public func requireOpenMP() throws(BuildError) -> OpenMPInstall {
    switch openMP {
    case .found(let install): return install
    case .missing(let missing): throw .toolchainMissing(missing)
    }
  }

  public func requireArchiver() throws(BuildError) -> String {
    try require(archiver, "an archiver", llvm: "llvm-ar", binutils: "ar")
  }

  public func requireObjcopy() throws(BuildError) -> String {
    try require(objcopy, "an object copier", llvm: "llvm-objcopy", binutils: "objcopy")
  }

  /// A binutils-style tool found next to clang or on PATH, or the error saying how to get it.
  private func require(_ tool: String?, _ what: String, llvm: String, binutils: String) throws(BuildError) -> String {
    guard let tool else {
      throw .toolchainMissing(
        MissingTool(
          tool: "\(what) (\(llvm) or \(binutils))", searched: ["next to \(clang)", "PATH"],
          remedy: "Install binutils (`apt-get install binutils`) or LLVM's \(llvm)."))
    }
    return tool
  }

  static func findClang(environment: [String: String]) throws(BuildError) -> String {
    let fm = FileManager.default
    if let override = environment["LOCUS_CC"], !override.isEmpty {
      let resolved = override.contains("/") ? override : findOnPath(override, environment: environment)
      guard let resolved, fm.isExecutableFile(atPath: resolved) else {
        throw .toolchainMissing(
          MissingTool(
            tool: "the C compiler named by LOCUS_CC", searched: ["LOCUS_CC=\(override)"],
            remedy: "Point LOCUS_CC at an executable clang, or unset it to search the default places."))
      }
      return resolved
    }
    var searched: [String] = []
    if let swift = findOnPath("swift", environment: environment) {
      let real = (swift as NSString).resolvingSymlinksInPath
      let candidate = ((real as NSString).deletingLastPathComponent as NSString).appendingPathComponent("clang")
      searched.append(candidate + " (next to \(real))")
      if fm.isExecutableFile(atPath: candidate) { return candidate }
    } else {
      searched.append("next to `swift` on PATH (no swift on PATH)")
    }
    let bundled = "/opt/swift/usr/bin/clang"
    searched.append(bundled)
    if fm.isExecutableFile(atPath: bundled) { return bundled }
    searched.append("`clang` on PATH")
    if let onPath = findOnPath("clang", environment: environment) { return onPath }
    throw .toolchainMissing(
      MissingTool(
        tool: "clang", searched: searched,
        remedy: "Install the Swift toolchain (which ships clang) or `apt-get install clang`, "
          + "or set LOCUS_CC to the compiler's path."))
  }

  /// Asks clang what `-march=native` expands to. Only the cc1 `-target-cpu`/`-target-feature`
  /// tokens are kept: the rest of the `-###` output mentions the working directory.
  static func probeNativeTarget(clang: String) -> String {
    let argv = [clang, "-###", "-march=native", "-x", "c", "-c", "/dev/null", "-o", "/dev/null"]
    guard let result = try? runCommand(argv), result.status == 0 else { return "" }
    let tokens = result.stderr.split(whereSeparator: { $0 == " " || $0 == "\n" }).map {
      $0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
    var kept: [String] = []
    for (i, token) in tokens.enumerated() where i + 1 < tokens.count {
      if token == "-target-cpu" || token == "-target-feature" { kept.append(tokens[i + 1]) }
    }
    return kept.joined(separator: " ")
  }

  /// The first of `names` next to clang, else the first on PATH.
  static func findTool(_ names: [String], nextTo clang: String, environment: [String: String]) -> String? {
    let dir = (clang as NSString).deletingLastPathComponent
    for name in names {
      let sibling = (dir as NSString).appendingPathComponent(name)
      if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
    }
    return names.lazy.compactMap { findOnPath($0, environment: environment) }.first
  }

  static func findArchiver(nextTo clang: String, environment: [String: String]) -> String? {
    let sibling = ((clang as NSString).deletingLastPathComponent as NSString).appendingPathComponent("llvm-ar")
    if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
    return findOnPath("llvm-ar", environment: environment) ?? findOnPath("ar", environment: environment)
  }
}
