import Foundation
import XCTest

@testable import LocusBuild

final class CompilerTests: XCTestCase {
  typealias BinaryFn = @convention(c) (Int32, Int32) -> Int32
  typealias NullaryFn = @convention(c) () -> Int32

  let add = SourceFile(name: "add.c", text: "int locus_test_add(int a, int b) { return a + b; }\n")

  func testBuildsAndCallsATinyFunction() throws {
    let compiler = try makeCompiler(self)
    let built = try compiler.build(BuildRequest(name: "tiny", sources: [add], openMP: false))
    XCTAssertFalse(built.cached)
    XCTAssertTrue(built.path.hasPrefix(compiler.cache.directory + "/libtiny-"))
    XCTAssertEqual(built.key.count, 64)
    XCTAssertTrue(built.path.contains(String(built.key.prefix(16))))
    let fn = try loadSymbol(built.path, "locus_test_add", as: BinaryFn.self)
    XCTAssertEqual(fn(40, 2), 42)
    // The work directory is gone after a successful build.
    let work = (try? FileManager.default.contentsOfDirectory(atPath: compiler.cache.directory + "/work")) ?? []
    XCTAssertEqual(work, [])
  }

  func testSecondBuildIsACacheHit() throws {
    let compiler = try makeCompiler(self)
    let request = BuildRequest(name: "cached", sources: [add], openMP: false)
    let first = try compiler.build(request)
    let second = try compiler.build(request)
    XCTAssertFalse(first.cached)
    XCTAssertTrue(second.cached)
    XCTAssertEqual(first.key, second.key)
    XCTAssertEqual(first.path, second.path)
  }

  func testKeyChangesWithSourceFlagsAndDefines() throws {
    let compiler = try makeCompiler(self)
    let base = BuildRequest(name: "k", sources: [add], openMP: false)
    var otherSource = base
    otherSource.sources = [SourceFile(name: "add.c", text: add.text + "\n")]
    var otherFlags = base
    otherFlags.optimization = ["-O2"]
    var otherDefine = base
    otherDefine.defines = [Define("LOCUS_X", "1")]
    var withHeader = base
    withHeader.headers = [SourceFile(name: "add.h", text: "int locus_test_add(int, int);\n")]
    let keys = try [base, otherSource, otherFlags, otherDefine, withHeader].map { try compiler.key(for: $0) }
    XCTAssertEqual(Set(keys).count, keys.count, "every variation must change the key")
    XCTAssertEqual(try compiler.key(for: base), keys[0], "the key is deterministic")
  }

  func testSyntaxErrorReportsClangMessageAndKeepsTheSource() throws {
    let compiler = try makeCompiler(self)
    let broken = SourceFile(name: "broken.c", text: "int f(void) { return 1 }\n")
    let error = buildError { () throws(BuildError) in
      try compiler.build(BuildRequest(name: "broken", sources: [broken], openMP: false))
    }
    guard case .compilerFailed(let failure)? = error else { return XCTFail("expected compilerFailed, got \(String(describing: error))") }
    XCTAssertEqual(failure.stage, .compile)
    XCTAssertNotEqual(failure.exitStatus, 0)
    XCTAssertTrue(failure.stderr.contains("expected ';'"), failure.stderr)
    let kept = try XCTUnwrap(failure.failedSource)
    XCTAssertTrue(kept.hasSuffix("/broken.c"))
    XCTAssertEqual(try String(contentsOfFile: kept, encoding: .utf8), broken.text, "the generated C is kept")
    XCTAssertEqual(failure.command.first, compiler.toolchain.clang)
    let message = String(describing: error!)
    XCTAssertTrue(message.contains(kept) && message.contains("expected ';'") && message.contains("-O3"), message)
  }

  func testOpenMPProgramBuildsAndRuns() throws {
    let compiler = try makeCompiler(self)
    let source = SourceFile(
      name: "omp.c",
      text: """
        #include <omp.h>
        int locus_test_threads(void) { return omp_get_max_threads(); }
        int locus_test_sum(void) {  /* 0 + 1 + ... + 999 over all threads */
          int s = 0;
          #pragma omp parallel for reduction(+ : s)
          for (int i = 0; i < 1000; i++) s += i;
          return s;
        }
        """)
    let built = try compiler.build(BuildRequest(name: "omp", sources: [source]))
    XCTAssertGreaterThanOrEqual(try loadSymbol(built.path, "locus_test_threads", as: NullaryFn.self)(), 1)
    XCTAssertEqual(try loadSymbol(built.path, "locus_test_sum", as: NullaryFn.self)(), 499_500)
  }

  func testSeveralTranslationUnitsWithAHeaderAndDefines() throws {
    let compiler = try makeCompiler(self)
    let header = SourceFile(name: "twice.h", text: "int twice(int x);\n")
    let twice = SourceFile(name: "twice.c", text: "#include \"twice.h\"\nint twice(int x) { return FACTOR * x; }\n")
    let main = SourceFile(
      name: "main.c", text: "#include \"twice.h\"\nint locus_test_quad(int x, int unused) { return twice(twice(x)); }\n")
    let request = BuildRequest(
      name: "multi", sources: [main, twice], headers: [header], openMP: false, defines: [Define("FACTOR", "2")])
    let built = try compiler.build(request)
    XCTAssertEqual(try loadSymbol(built.path, "locus_test_quad", as: BinaryFn.self)(3, 0), 12)
  }

  func testLinkErrorIsReportedAsLinkStage() throws {
    let compiler = try makeCompiler(self)
    let a = SourceFile(name: "a.c", text: "int dup(void) { return 1; }\n")
    let b = SourceFile(name: "b.c", text: "int dup(void) { return 2; }\n")
    let error = buildError { () throws(BuildError) in
      try compiler.build(BuildRequest(name: "dup", sources: [a, b], openMP: false))
    }
    guard case .compilerFailed(let failure)? = error else { return XCTFail("expected compilerFailed, got \(String(describing: error))") }
    XCTAssertEqual(failure.stage, .link)
    XCTAssertNil(failure.failedSource)
    XCTAssertEqual(failure.keptFiles.count, 2)
    XCTAssertTrue(failure.stderr.contains("dup"), failure.stderr)
  }

  func testStaticLibrary() throws {
    let compiler = try makeCompiler(self)
    let built = try compiler.build(BuildRequest(name: "st", sources: [add], output: .staticLibrary, openMP: false))
    XCTAssertTrue(built.path.hasSuffix(".a"))
    let bytes = try Data(contentsOf: URL(fileURLWithPath: built.path))
    XCTAssertEqual(String(decoding: bytes.prefix(8), as: UTF8.self), "!<arch>\n")
  }

  func testInvalidRequestsAreRejectedBeforeRunningClang() throws {
    let compiler = try makeCompiler(self)
    let cases: [BuildRequest] = [
      BuildRequest(name: "../evil", sources: [add], openMP: false),
      BuildRequest(name: "none", sources: [], openMP: false),
      BuildRequest(name: "path", sources: [SourceFile(name: "sub/a.c", text: "")], openMP: false),
      BuildRequest(name: "ext", sources: [SourceFile(name: "a.cpp", text: "")], openMP: false),
      BuildRequest(name: "twice", sources: [add, add], openMP: false),
    ]
    for request in cases {
      let error = buildError { () throws(BuildError) in try compiler.build(request) }
      guard case .invalidRequest? = error else { return XCTFail("\(request.name): got \(String(describing: error))") }
    }
  }
}
