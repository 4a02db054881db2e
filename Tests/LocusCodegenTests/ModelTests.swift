import Foundation
import LocusBuild
import LocusCodegen
import LocusIR
import XCTest

/// Whole models: numerics against the reference, determinism, warning-free builds in every
/// configuration, and the header from C++ and next to another model's header.
final class ModelTests: XCTestCase {
  func testTinyModelsMatchReference() throws {
    for batch in [1, 3] {
      try assertMatchesReference(TinyModels.vit(batch: batch), seed: 7, scale: 1)
      try assertMatchesReference(TinyModels.cnn(batch: batch), seed: 8, scale: 1)
    }
  }

  /// Each forced target (even AVX-512 on a machine without it: the vector extensions split the
  /// wide vectors) computes the same model.
  func testEveryTargetMatchesReference() throws {
    for target in Target.allCases {
      var graph = try TinyModels.vit(batch: 2)
      graph.name = "tiny_vit_\(target.rawValue)"
      try assertMatchesReference(graph, seed: 9, options: EmitOptions(target: target))
    }
  }

  func testEmissionIsDeterministic() throws {
    for make in [TinyModels.vit, TinyModels.cnn, TinyModels.fused] {
      let first = try CEmitter.emit(make(2)), second = try CEmitter.emit(make(2))
      XCTAssertEqual(first.source, second.source)
      XCTAssertEqual(first.header, second.header)
      XCTAssertEqual(first.kernelsUsed, second.kernelsUsed)
      XCTAssertEqual(try first.manifest.json(), try second.manifest.json())
    }
  }

  /// -Wpedantic on top of the op tests' -Wall -Wextra, for every target, and without OpenMP (the
  /// `#ifndef _OPENMP` branches).
  func testBuildsWarningFreeForEveryTarget() throws {
    let pedantic = strictFlags + ["-Wpedantic"]
    for target in Target.allCases {
      let model = try CEmitter.emit(TinyModels.vit(batch: 2), options: EmitOptions(target: target))
      XCTAssertNoThrow(try buildLibrary(model, extraFlags: pedantic), "target \(target)")
    }
    let cnn = try CEmitter.emit(TinyModels.cnn(batch: 2))
    XCTAssertNoThrow(try buildLibrary(cnn, extraFlags: pedantic))
    XCTAssertNoThrow(try buildLibrary(cnn, extraFlags: pedantic, openMP: false))
    // The fused kernels (and a prepare step), likewise.
    for target in Target.allCases {
      let model = try CEmitter.emit(TinyModels.fused(batch: 2), options: EmitOptions(target: target))
      XCTAssertNoThrow(try buildLibrary(model, extraFlags: pedantic), "fused, target \(target)")
    }
    XCTAssertNoThrow(try buildLibrary(CEmitter.emit(TinyModels.fused(batch: 2)), extraFlags: pedantic, openMP: false))
    // A --profile build too: its clock must exist in strict C99 (no clock_gettime, no timespec_get).
    let profiled = try CEmitter.emit(TinyModels.cnn(batch: 2), options: EmitOptions(profile: true))
    XCTAssertNoThrow(try buildLibrary(profiled, extraFlags: pedantic), "profiled")
    XCTAssertNoThrow(try buildLibrary(profiled, extraFlags: pedantic, openMP: false), "profiled, no OpenMP")
    XCTAssertNoThrow(try buildLibrary(profiled, extraFlags: ["-std=gnu11", "-Wall", "-Wextra", "-Werror"]), "profiled, gnu11 (clock_gettime)")
  }

  /// The header declares exactly the ABI and works from C++ and next to another model's header.
  func testHeadersCompileFromCAndCxxTogether() throws {
    let vit = try CEmitter.emit(TinyModels.vit(batch: 1)), cnn = try CEmitter.emit(TinyModels.cnn(batch: 1))
    let dir = try temporaryDirectory("headers")
    try vit.header.write(toFile: dir + "/tiny_vit.h", atomically: true, encoding: .utf8)
    try cnn.header.write(toFile: dir + "/tiny_cnn.h", atomically: true, encoding: .utf8)
    let use = """
      #include "tiny_vit.h"
      #include "tiny_cnn.h"
      int both(void) { return tiny_vit_abi_version() + tiny_cnn_num_params() + (int)tiny_vit_arena_bytes(); }

      """
    try use.write(toFile: dir + "/use.c", atomically: true, encoding: .utf8)
    for language in [["-x", "c", "-std=c99"], ["-x", "c++", "-std=c++17"]] {
      let result = try runTool([try Toolchain.discover().clang, "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic", "-Werror"] + language + [dir + "/use.c"])
      XCTAssertEqual(result.status, 0, "\(language): \(result.output)")
    }
  }

  /// Only the model-prefixed ABI leaves the library; the kernels are hidden, so two models (each
  /// with its own copy of the kernels) never interpose on each other.
  func testLibraryExportsOnlyTheABI() throws {
    let library = try buildLibrary(CEmitter.emit(TinyModels.vit(batch: 1)))
    let clang = try Toolchain.discover().clang
    let nm = ((clang as NSString).deletingLastPathComponent as NSString).appendingPathComponent("llvm-nm")
    let tool = FileManager.default.isExecutableFile(atPath: nm) ? nm : "/usr/bin/nm"
    guard FileManager.default.isExecutableFile(atPath: tool) else { throw XCTSkip("no nm to list the exported symbols") }
    let result = try runTool([tool, "-D", "--defined-only", "--format=just-symbols", library.path])
    XCTAssertEqual(result.status, 0, result.output)
    let functions = result.output.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("_") }
    let expected = ["abi_version", "arena_bytes", "batch", "forward", "input_info", "num_inputs", "num_outputs", "num_params",
                    "output_info", "param_info", "param_read_by_forward", "prepare", "set_num_threads"].map { "tiny_vit_" + $0 }
    XCTAssertEqual(functions.sorted(), expected)
  }

  func testManifest() throws {
    let model = try CEmitter.emit(TinyModels.vit(batch: 4))
    let manifest = model.manifest
    XCTAssertEqual(manifest.model, "tiny_vit")
    XCTAssertEqual(manifest.batch, 4)
    XCTAssertEqual(manifest.inputs.map(\.shape), [[4, 3, 12, 12]])
    XCTAssertEqual(manifest.outputs.map(\.shape), [[4, 5]])
    XCTAssertEqual(manifest.arenaBytes, model.plan.arenaBytes)
    XCTAssertEqual(manifest.kernels.first, "prologue.h")
    XCTAssertEqual(manifest.cFiles, ["tiny_vit.c", "tiny_vit.h"])
    XCTAssertEqual(manifest.parameterBytes, 4 * manifest.parameterCount)
    let json = String(decoding: try manifest.json(), as: UTF8.self)
    XCTAssertTrue(json.contains("\"ignored_state_keys\""), json)
    XCTAssertEqual(try Manifest.decode(manifest.json()), manifest)
  }

  func testInitializerJSON() throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let cases: [(Initializer, String)] = [
      (.truncNormal(std: 0.02), #"{"kind":"trunc_normal","std":0.02}"#),
      (.kaimingUniform(fanIn: 48), #"{"fan_in":48,"kind":"kaiming_uniform"}"#),
      (.zeros, #"{"kind":"zeros"}"#),
      (.uniform(low: -1, high: 1), #"{"high":1,"kind":"uniform","low":-1}"#),
    ]
    for (initializer, expected) in cases {
      let json = String(decoding: try encoder.encode(Manifest.InitializerEntry(initializer)), as: UTF8.self)
      XCTAssertEqual(json, expected)
    }
  }
}

/// A fresh directory under the system temporary directory.
func temporaryDirectory(_ prefix: String) throws -> String {
  let path = NSTemporaryDirectory() + "locus-codegen-\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Runs a command, returning its exit status and combined output.
func runTool(_ argv: [String], environment: [String: String]? = nil, directory: String? = nil) throws -> (status: Int32, output: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: argv[0])
  process.arguments = Array(argv.dropFirst())
  if let environment { process.environment = environment }
  if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = pipe
  try process.run()
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
