import Foundation

// A build described as plain data: everything that determines the output bytes is in here (plus the
// toolchain), which is what makes the content-hash cache sound.

public struct SourceFile: Sendable, Hashable {
  /// A bare file name (`deit_tiny.c`, `deit_tiny.h`); sources include headers by this name.
  public var name: String
  public var text: String

  public init(name: String, text: String) {
    self.name = name
    self.text = text
  }
}

public enum OutputKind: String, Sendable, Hashable {
  case sharedLibrary
  case staticLibrary

  var fileExtension: String {
    switch self {
    case .staticLibrary: return "a"
    case .sharedLibrary:
      #if os(macOS)
        return "dylib"
      #else
        return "so"
      #endif
    }
  }
}

/// `-DNAME` when `value` is nil, `-DNAME=value` otherwise.
public struct Define: Sendable, Hashable {
  public var name: String
  public var value: String?

  public init(_ name: String, _ value: String? = nil) {
    self.name = name
    self.value = value
  }

  var flag: String { value.map { "-D\(name)=\($0)" } ?? "-D\(name)" }
}

public struct BuildRequest: Sendable, Hashable {
  /// The library stem: the cache entry is `lib<name>-<hash16>.so`.
  public var name: String
  /// Translation units, compiled separately (in parallel) and linked together.
  public var sources: [SourceFile]
  /// Headers written next to the sources; they are part of the cache key.
  public var headers: [SourceFile]
  public var output: OutputKind
  /// Defaults to `-O3 -march=native`. No fast-math: the generated kernels are checked against a
  /// reference with stated tolerances, and reassociation would make results depend on vector width.
  /// Callers opt in to e.g. `-ffp-contract=fast` explicitly.
  public var optimization: [String]
  public var openMP: Bool
  public var defines: [Define]
  /// Passed to every compile, after the flags above.
  public var extraFlags: [String]
  /// Passed to the link of a shared library (ignored for static libraries).
  public var linkFlags: [String]

  public init(
    name: String, sources: [SourceFile], headers: [SourceFile] = [], output: OutputKind = .sharedLibrary,
    optimization: [String] = ["-O3", "-march=native"], openMP: Bool = true, defines: [Define] = [],
    extraFlags: [String] = [], linkFlags: [String] = ["-lm"]
  ) {
    self.name = name
    self.sources = sources
    self.headers = headers
    self.output = output
    self.optimization = optimization
    self.openMP = openMP
    self.defines = defines
    self.extraFlags = extraFlags
    self.linkFlags = linkFlags
  }

  /// Rejects names that would escape the work directory or confuse the cache file naming.
  func validate() throws(BuildError) {
    guard isPlainName(name) else {
      throw .invalidRequest("library name '\(name)' must be non-empty and use only letters, digits, '_', '-', '.'")
    }
    guard !sources.isEmpty else { throw .invalidRequest("no C sources given for '\(name)'") }
    var seen = Set<String>()
    for file in sources + headers {
      guard isPlainName(file.name) else {
        throw .invalidRequest("file name '\(file.name)' must be a bare name without '/'")
      }
      guard seen.insert(file.name).inserted else { throw .invalidRequest("file '\(file.name)' given twice") }
    }
    for file in sources where !file.name.hasSuffix(".c") {
      throw .invalidRequest("source '\(file.name)' must end in .c")
    }
  }

  /// Flags for compiling one translation unit (without `-c`, input and output). `-fPIC` because
  /// every object ends up in a shared library (or a static one that may be linked into one).
  func compileFlags(openMP install: OpenMPInstall?) -> [String] {
    optimization + ["-fPIC"] + (install?.compileFlags ?? []) + defines.map(\.flag) + extraFlags
  }

  /// Flags for linking the objects into a shared library (without inputs and output).
  func sharedLinkFlags(openMP install: OpenMPInstall?) -> [String] {
    optimization + ["-shared"] + (install?.linkFlags ?? []) + linkFlags
  }

  /// True when the flags depend on the host CPU, so the cache key must include it.
  var dependsOnHostCPU: Bool {
    (optimization + extraFlags).contains { $0.hasSuffix("=native") }
  }
}

private func isPlainName(_ s: String) -> Bool {
  !s.isEmpty && s != "." && s != ".."
    && s.unicodeScalars.allSatisfy { c in
      c.isASCII && (CharacterSet.alphanumerics.contains(c) || "_-.".unicodeScalars.contains(c))
    }
}
