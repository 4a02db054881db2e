import Foundation

// OpenMP discovery. Locus always uses LLVM's libomp (never `-fopenmp=libgomp`): the generated code
// relies on libomp's behaviour (KMP_BLOCKTIME, nested regions) and Debian's clang packages ship it.
//
// Search order:
//   1. $LOCUS_OMP_DIR: a directory holding libomp (e.g. /usr/lib/llvm-19/lib); omp.h is looked for in
//      DIR/clang/*/include, DIR/../include and DIR/include;
//   2. /usr/lib/llvm-N/lib, newest N first, for libomp plus a matching clang/*/include/omp.h;
//   3. Homebrew's libomp on macOS.

public struct OpenMPInstall: Sendable, Equatable {
  /// Directory holding omp.h.
  public var includeDir: String
  /// Directory holding libomp.so (or .dylib).
  public var libDir: String

  public init(includeDir: String, libDir: String) {
    self.includeDir = includeDir
    self.libDir = libDir
  }

  public var compileFlags: [String] { ["-fopenmp", "-I\(includeDir)"] }

  /// The rpath lets the built library find libomp without LD_LIBRARY_PATH.
  public var linkFlags: [String] { ["-fopenmp", "-L\(libDir)", "-Wl,-rpath,\(libDir)"] }
}

public enum OpenMPSearch: Sendable, Equatable {
  case found(OpenMPInstall)
  case missing(MissingTool)

  #if os(macOS)
    static let libraryName = "libomp.dylib"
    static let installHint = "Install it with `brew install libomp`"
  #else
    static let libraryName = "libomp.so"
    static let installHint = "Install it with `apt-get install libomp-19-dev`"
  #endif

  public static func discover(
    environment: [String: String], llvmRoot: String = "/usr/lib"
  ) -> OpenMPSearch {
    var searched: [String] = []
    if let dir = environment["LOCUS_OMP_DIR"], !dir.isEmpty {
      searched.append("LOCUS_OMP_DIR=\(dir)")
      if let found = probe(libDir: dir) { return .found(found) }
      return .missing(missing(searched: searched, overrideSet: true))
    }
    for libDir in llvmLibDirs(root: llvmRoot) + ["/opt/homebrew/opt/libomp/lib", "/usr/local/opt/libomp/lib"] {
      searched.append(libDir)
      if let found = probe(libDir: libDir) { return .found(found) }
    }
    return .missing(missing(searched: searched, overrideSet: false))
  }

  /// `root/llvm-N/lib` for every installed N, newest first (numeric order: llvm-19 before llvm-9).
  static func llvmLibDirs(root: String) -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    let versions = entries.compactMap { name -> Int? in
      name.hasPrefix("llvm-") ? Int(name.dropFirst("llvm-".count)) : nil
    }
    return versions.sorted(by: >).map { "\(root)/llvm-\($0)/lib" }
  }

  /// An install is usable when both the library and a header are present.
  static func probe(libDir: String) -> OpenMPInstall? {
    let fm = FileManager.default
    guard fm.fileExists(atPath: (libDir as NSString).appendingPathComponent(libraryName)) else { return nil }
    let clangDir = (libDir as NSString).appendingPathComponent("clang")
    let resourceVersions = ((try? fm.contentsOfDirectory(atPath: clangDir)) ?? [])
      .sorted { $0.compare($1, options: .numeric) == .orderedDescending }
    let candidates =
      resourceVersions.map { "\(clangDir)/\($0)/include" }
      + [((libDir as NSString).deletingLastPathComponent as NSString).appendingPathComponent("include"),
        (libDir as NSString).appendingPathComponent("include")]
    for include in candidates where fm.fileExists(atPath: "\(include)/omp.h") {
      return OpenMPInstall(includeDir: include, libDir: libDir)
    }
    return nil
  }

  static func missing(searched: [String], overrideSet: Bool) -> MissingTool {
    let remedy =
      overrideSet
      ? "LOCUS_OMP_DIR must name a directory holding \(libraryName), with omp.h in DIR/clang/*/include, "
        + "DIR/../include or DIR/include. Unset it to search the default places."
      : "\(installHint), or set LOCUS_OMP_DIR to the directory holding \(libraryName) "
        + "(LOCUS_CC overrides the compiler)."
    return MissingTool(tool: "OpenMP (LLVM libomp: \(libraryName) and omp.h)", searched: searched, remedy: remedy)
  }
}
