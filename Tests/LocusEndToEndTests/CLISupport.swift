import Foundation
import XCTest

/// What a run of the `locus` binary printed and returned.
struct LocusResult {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// Runs the `locus` built beside the test bundle (`make test` builds it first; CI must never skip
/// these tests, so a missing binary under CI is a failure, not a skip).
func runLocus(_ arguments: [String], environment: [String: String]? = nil) throws -> LocusResult {
  let binary = try locusBinary()
  let process = Process()
  process.executableURL = binary
  process.arguments = arguments
  process.currentDirectoryURL = repositoryRoot()
  if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return LocusResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

/// The `locus` binary built beside the test bundle.
func locusBinary() throws -> URL {
  let bundle = Bundle(for: CommandLineTests.self).bundleURL
  let candidates = [bundle.deletingLastPathComponent(), bundle].map { $0.appendingPathComponent("locus") }
  guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
    let message = "the locus binary is not built beside the tests (\(candidates[0].path)); run `swift build` first"
    if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message); throw CancellationError() }
    throw XCTSkip(message)
  }
  return binary
}


/// Tests that read the Fashion-MNIST test set: a failure in CI (the data set is a dependency
/// there), a skip on a machine without it.
func requireFashionMNIST() throws {
  guard !FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else { return }
  let message = "Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist)"
  if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message); throw CancellationError() }
  throw XCTSkip(message)
}

/// `top-1 accuracy X% (correct/total)` from the first line of `text` that reports one, as
/// `locus eval` and both example programs print it (what follows a comma is left out).
func accuracyLine(_ text: String) -> String? {
  text.split(separator: "\n").first { $0.hasPrefix("top-1 accuracy") }.map { String($0.split(separator: ",")[0]) }
}
