import Foundation
import LocusBuild
import XCTest

/// Building and running C programs against a C library written by `locus compile --emit c-library`.
enum CLibrarySupport {
  static let clang = "/opt/swift/usr/bin/clang"
  /// The C test drivers (excluded from the test target's sources).
  static var programs: URL { repositoryRoot().appendingPathComponent("Tests/LocusEndToEndTests/CPrograms") }

  struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs argv[0] (absolute path) and returns what it printed.
  static func run(_ argv: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> Output {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    if let directory { process.currentDirectoryURL = directory }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errData = Box()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errData.data = err.fileHandleForReading.readDataToEndOfFile() }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                  stderr: String(decoding: errData.data, as: UTF8.self))
  }

  final class Box: @unchecked Sendable { var data = Data() }

  /// `pkg-config --cflags --libs` of the libraries under `roots` (each a c-library folder).
  static func pkgConfig(_ names: [String], roots: [URL]) throws -> [String] {
    let path = roots.map { $0.appendingPathComponent("lib/pkgconfig").path }.joined(separator: ":")
    let r = try run(["/usr/bin/env", "pkg-config", "--cflags", "--libs"] + names, environment: ["PKG_CONFIG_PATH": path])
    guard r.status == 0 else { throw BuildFailure(message: "pkg-config \(names.joined(separator: " ")) failed (is pkg-config installed? scripts/install-deps.sh installs it): \(r.stderr)") }
    return r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
  }

  /// Compiles `sources` into `output` with warnings as errors, then `link`.
  static func build(_ sources: [String], output: String, flags: [String] = [], link: [String]) throws {
    let argv = [clang, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1"] + flags + sources + link + ["-o", output]
    let r = try run(argv)
    guard r.status == 0 else { throw BuildFailure(message: "\(argv.joined(separator: " "))\n\(r.stderr)") }
  }

  /// The check program against `library` (a c-library folder of model `model`) via pkg-config.
  static func checkProgram(model: String, library: URL, into dir: URL) throws -> String {
    let output = dir.appendingPathComponent("check-\(model)").path
    try build([programs.appendingPathComponent("clib_check.c").path], output: output,
              flags: ["-DMODEL=\(model)", "-DMODEL_HEADER=\"\(model).h\""], link: try pkgConfig([model], roots: [library]))
    return output
  }

  /// The same program built from the library's src/ with AddressSanitizer and
  /// UndefinedBehaviorSanitizer: each generated file compiled with them, its hidden kernels made
  /// local as `locus` does for the archive, then linked with the check program.
  static func sanitizedCheckProgram(model: String, library: URL, into dir: URL, openMPLibDir: String) throws -> String {
    let objcopy = try XCTUnwrap(try Toolchain.discover().objcopy)
    let src = library.appendingPathComponent("src")
    let sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
    var objects: [String] = []
    for file in try FileManager.default.contentsOfDirectory(atPath: src.path).filter({ $0.hasSuffix(".c") }).sorted() {
      let object = dir.appendingPathComponent("asan-\(file).o").path
      let argv = [clang, "-O1", "-march=native", "-fopenmp", "-I", library.appendingPathComponent("include").path, "-I", src.path]
        + sanitize + ["-c", src.appendingPathComponent(file).path, "-o", object]
      let r = try run(argv)
      guard r.status == 0 else { throw BuildFailure(message: r.stderr) }
      guard try run([objcopy, "--localize-hidden", object]).status == 0 else { throw BuildFailure(message: "objcopy \(object)") }
      objects.append(object)
    }
    let output = dir.appendingPathComponent("check-asan-\(model)").path
    try build([programs.appendingPathComponent("clib_check.c").path] + objects, output: output,
              flags: ["-DMODEL=\(model)", "-DMODEL_HEADER=\"\(model).h\"", "-I", library.appendingPathComponent("include").path] + sanitize,
              link: ["-fuse-ld=lld", "-L\(openMPLibDir)", "-Wl,-rpath,\(openMPLibDir)", "-lomp", "-lm"])
    return output
  }

  struct BuildFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
  }
}

/// Raw little-endian float32 files, as the check program reads and writes them.
func writeRawFloats(_ values: [Float], to url: URL) throws {
  try values.withUnsafeBytes { try Data($0).write(to: url) }
}

func readRawFloats(_ url: URL) throws -> [Float] {
  let data = try Data(contentsOf: url)
  return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

/// The largest |a − b| and where it is; fails when it exceeds `tolerance`.
func assertWithin(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
  XCTAssertEqual(actual.count, expected.count, "\(what): element count", file: file, line: line)
  var worst: (Float, Int) = (0, -1)
  for (i, (a, b)) in zip(actual, expected).enumerated() where !(abs(a - b) <= worst.0) { worst = (abs(a - b), i) }
  if worst.1 >= 0, !(worst.0 <= tolerance) {
    XCTFail("\(what): worst |Δ| \(worst.0) at element \(worst.1) (\(actual[worst.1]) vs \(expected[worst.1])), tolerance \(tolerance)", file: file, line: line)
  }
}
