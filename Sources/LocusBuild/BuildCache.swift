import Crypto
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The content-addressed cache of built libraries. An entry is named by a hash of everything that
// determines its bytes; this matters beyond speed: `dlopen` of a path that is already loaded returns
// the old code, so a rebuilt library must never reuse a previous path.
//
// Layout of the directory:
//   lib<name>-<hash16>.so        finished entries, moved in with rename(2) (atomic, last writer wins
//                                with identical bytes, so concurrent builds of one key are harmless)
//   work/<name>-<hash16>-<pid>-<rand>/
//                                one build in progress; kept after a clang failure for inspection

public struct BuildCache: Sendable, Equatable {
  public var directory: String

  public init(directory: String) {
    self.directory = directory
  }

  /// `$LOCUS_CACHE_DIR`, else `$XDG_CACHE_HOME/locus`, else `~/.cache/locus`.
  public static func fromEnvironment(
    _ environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> BuildCache {
    if let dir = environment["LOCUS_CACHE_DIR"], !dir.isEmpty { return BuildCache(directory: dir) }
    if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return BuildCache(directory: xdg + "/locus") }
    let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    return BuildCache(directory: home + "/.cache/locus")
  }

  public func entryPath(name: String, key: String, kind: OutputKind) -> String {
    "\(directory)/lib\(name)-\(key.prefix(16)).\(kind.fileExtension)"
  }

  /// A fresh private directory for one build.
  func makeWorkDirectory(name: String, key: String) throws(BuildError) -> String {
    let unique = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let path = "\(directory)/work/\(name)-\(key.prefix(16))-\(unique)"
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw .io(path: path, action: "create the build directory", reason: error.localizedDescription)
    }
    return path
  }

  /// Moves a finished file into place atomically.
  func install(_ file: String, at destination: String) throws(BuildError) {
    guard rename(file, destination) == 0 else {
      throw .io(path: destination, action: "move the built library to", reason: String(cString: strerror(errno)))
    }
  }

  /// SHA-256 over every input that determines the output, each field length-prefixed so that no two
  /// different requests can encode to the same byte string.
  static func key(
    request: BuildRequest, toolchain: Toolchain, compileFlags: [String], linkFlags: [String]
  ) -> String {
    var hasher = SHA256()
    func field(_ s: String) {
      let bytes = Array(s.utf8)
      withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { hasher.update(bufferPointer: $0) }
      hasher.update(data: bytes)
    }
    func list(_ items: [String]) {
      field("\(items.count)")
      items.forEach(field)
    }
    field("locus-build-1")
    field(request.name)
    field(request.output.rawValue)
    field(toolchain.clangVersion)
    field(request.dependsOnHostCPU ? toolchain.nativeTarget : "")
    list(compileFlags)
    list(linkFlags)
    for group in [request.sources, request.headers] {
      field("\(group.count)")
      for file in group {
        field(file.name)
        field(file.text)
      }
    }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
  }
}
