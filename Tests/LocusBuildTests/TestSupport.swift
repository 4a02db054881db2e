import Foundation
import XCTest

@testable import LocusBuild

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A fresh directory under the system temp dir, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
  let path = NSTemporaryDirectory() + "locus-build-tests-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
  return path
}

/// Toolchain discovery runs clang twice; do it once for the whole test run.
let sharedToolchain: Result<Toolchain, BuildError> = Result { () throws(BuildError) in try Toolchain.discover() }

/// A compiler whose cache is private to the test.
func makeCompiler(_ test: XCTestCase) throws -> Compiler {
  Compiler(toolchain: try sharedToolchain.get(), cache: BuildCache(directory: try makeTemporaryDirectory(test)))
}

/// Resolves a C function from a built library. (LocusBuildTests cannot use LocusRuntime's loader.)
func loadSymbol<T>(_ library: String, _ name: String, as: T.Type) throws -> T {
  guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
    throw NSError(domain: "dlopen", code: 1, userInfo: [NSLocalizedDescriptionKey: String(cString: dlerror())])
  }
  guard let p = dlsym(handle, name) else {
    throw NSError(domain: "dlsym", code: 1, userInfo: [NSLocalizedDescriptionKey: "no symbol \(name)"])
  }
  return unsafeBitCast(p, to: T.self)
}

/// The error a throwing expression threw, typed.
func buildError<T>(_ body: () throws(BuildError) -> T) -> BuildError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}
