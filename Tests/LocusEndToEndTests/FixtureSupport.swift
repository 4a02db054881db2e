import Foundation
import XCTest
import LocusDriver
import LocusRuntime

/// One PyTorch reference case written by scripts/reference/make_fixtures.py: a spec at a tiny
/// size, its weights, inputs at batch 1 and 3, and the logits PyTorch computed in float64.
struct Fixture {
  var spec: String
  var overrides: [(name: String, value: String)]
  var rtol: Float
  var directory: URL

  static func all() throws -> [Fixture] {
    let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    // primitives/ holds the per-primitive gradient fixtures (PrimitiveFixture), not a spec's.
    let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted().filter { $0 != PrimitiveFixture.folder }
    return try names.map { try Fixture(directory: root.appendingPathComponent($0)) }
  }

  init(directory: URL) throws {
    self.directory = directory
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json"))) as? [String: Any] ?? [:]
    spec = try XCTUnwrap(json["spec"] as? String)
    let set = json["set"] as? [String: Any] ?? [:]
    overrides = set.keys.sorted().map { ($0, "\(set[$0]!)") }
    rtol = Float(json["rtol"] as? Double ?? 1e-4)
  }

  var specPath: String { repositoryRoot().appendingPathComponent("specs/\(spec).locus").path }
  var weightsPath: String { directory.appendingPathComponent("weights.safetensors").path }
  func input(batch: Int) throws -> NpyArray { try Npy.read(path: directory.appendingPathComponent("input_b\(batch).npy").path) }
  func logits(batch: Int) throws -> NpyArray { try Npy.read(path: directory.appendingPathComponent("logits_b\(batch).npy").path) }
  func request(batch: Int) -> CompileRequest { CompileRequest(specPath: specPath, batch: batch, overrides: overrides) }
}

/// Compares logits with the tolerance the issue states, relative to the logits' scale: the largest
/// difference divided by the largest reference magnitude must stay under `rtol`. Reports the worst
/// element, its index and both values either way.
func assertClose(_ actual: [Float], _ expected: NpyArray, rtol: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
  guard actual.count == expected.values.count else {
    XCTFail("\(what): \(actual.count) values, expected \(expected.values.count) (shape \(expected.shape))", file: file, line: line)
    return
  }
  let scale = expected.values.map(abs).max() ?? 0
  var worst = 0, worstDiff: Float = -1
  for i in actual.indices {
    let d = abs(actual[i] - expected.values[i])
    if !(d <= worstDiff) { worstDiff = d; worst = i }  // NaN counts as worst
  }
  let relative = worstDiff / max(scale, Float.leastNormalMagnitude)
  let message = "\(what): max |Δ| = \(worstDiff) at index \(worst) (got \(actual[worst]), expected \(expected.values[worst])), relative to max |expected| \(scale): \(relative), tolerance \(rtol)"
  XCTAssertTrue(relative <= rtol, message, file: file, line: line)
  if relative <= rtol { print("ok  " + message) }
}

/// The repository root, found from this file's path.
func repositoryRoot(file: String = #filePath) -> URL {
  URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
