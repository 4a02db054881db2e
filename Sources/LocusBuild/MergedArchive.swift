import Foundation

// A static library of one relocatable object that exports only the names it is asked to.
//
// A C library (`locus compile --emit c-library`) links a model's inference C, its training C and
// the context into one archive. Each generated C file carries its own copy of the kernel library,
// as non-static functions with hidden visibility (`lk_gemm` …): hidden keeps them out of a shared
// library's exports, but a static link sees every copy and stops at the duplicates, within one
// model and between two models in one program. So, in the cache's work directory:
//   1. every translation unit is compiled as for any library;
//   2. `objcopy --localize-hidden` makes each object's hidden symbols local: the kernels of
//      different translation units can no longer meet;
//   3. `clang -r` links the objects into one relocatable object (calls between the files resolve);
//   4. `objcopy --keep-global-symbol` for each exported name makes every other definition local,
//      so the raw ABI (`<m>_forward` …) stays inside too and only the public API remains;
//   5. the archiver puts that object into `lib<name>.a`.
// Undefined references (libc, libm, libomp) stay global and are resolved by the final link.

extension Compiler {
  /// Builds (or finds in the cache) `lib<name>.a` of `request`'s sources as one object whose only
  /// global definitions are `exports`.
  public func buildMergedArchive(_ request: BuildRequest, exports: [String]) throws(BuildError) -> BuiltLibrary {
    guard request.output == .staticLibrary else { throw .invalidRequest("a merged archive is a static library") }
    guard !exports.isEmpty else { throw .invalidRequest("a merged archive must export at least one symbol") }
    let clock = ContinuousClock()
    let start = clock.now
    let plan = try plan(request)
    let steps = ["localize-hidden", "relocatable-link"] + exports.map { "export:\($0)" }
    let key = BuildCache.key(request: request, toolchain: toolchain, compileFlags: plan.compileFlags, linkFlags: steps)
    let destination = cache.entryPath(name: request.name, key: key, kind: .staticLibrary)
    if FileManager.default.fileExists(atPath: destination) {
      return BuiltLibrary(path: destination, key: key, kind: .staticLibrary, wallTime: clock.now - start, cached: true)
    }
    let objcopy = try toolchain.requireObjcopy(), archiver = try toolchain.requireArchiver()
    let work = try cache.makeWorkDirectory(name: request.name, key: key)
    do throws(BuildError) {
      let kept = try writeFiles(request.sources + request.headers, into: work)
      let objects = try compileAll(request.sources, in: work, flags: plan.compileFlags, kept: kept)
      for object in objects {
        try run([objcopy, "--localize-hidden", object], in: work, stage: .symbols, source: nil, kept: kept)
      }
      let merged = "\(work)/\(request.name).o"
      try run([toolchain.clang, "-r", "-nostdlib"] + objects + ["-o", merged], in: work, stage: .merge, source: nil, kept: kept)
      try run([objcopy] + exports.map { "--keep-global-symbol=\($0)" } + [merged], in: work, stage: .symbols, source: nil, kept: kept)
      let product = "\(work)/lib\(request.name).a"
      try run([archiver, "rcs", product, merged], in: work, stage: .archive, source: nil, kept: kept)
      try cache.install(product, at: destination)
    } catch {
      if case .compilerFailed = error {} else { try? FileManager.default.removeItem(atPath: work) }
      throw error
    }
    try? FileManager.default.removeItem(atPath: work)
    return BuiltLibrary(path: destination, key: key, kind: .staticLibrary, wallTime: clock.now - start, cached: false)
  }
}
