import Foundation
import XCTest
import LocusCodegen
import LocusFrontend
import LocusIR
import LocusPasses
import LocusSpec

/// The IR after the pass pipeline and the emitted C of two bundled specs, compared with recorded
/// copies in Golden/ (kernel template text elided: templates/ has its own tests). A change that
/// alters them must say why in its commit. Re-record with `make golden` (LOCUS_RECORD_GOLDEN=1),
/// then review the diff.
final class SpecGoldenTests: XCTestCase {
  func testLocalViTFashionMNIST() throws {
    try check("localvit_fmnist", overrides: [])
  }

  func testLocallyShiftedAttentionCIFARTiny() throws {
    try check("sag_tiny_cifar", overrides: [("dim", "32"), ("heads", "2"), ("image", "16"), ("depth2", "1"), ("depth3", "1"), ("depth4", "1")])
  }

  /// The fused IR of the three models whose locality patterns the passes fuse (full size, batch 1).
  func testFusedIRLocalViTTiny() throws { try checkIR("localvit_tiny") }
  func testFusedIRCeiTTiny() throws { try checkIR("ceit_tiny") }
  func testFusedIRLocallySAGCIFAR() throws { try checkIR("sag_tiny_cifar") }

  func checkIR(_ spec: String) throws {
    let path = "specs/\(spec).locus"
    let text = try String(contentsOf: repositoryRoot().appendingPathComponent(path), encoding: .utf8)
    let graph = try Pipeline.run(try Frontend.compile(LocusSpec.SourceFile(name: path, text: text), batch: 1).graph)
    try assertGolden(graph.dump(), file: "\(spec).fused.ir.txt")
  }

  func check(_ spec: String, overrides: [(name: String, value: String)]) throws {
    let path = "specs/\(spec).locus"
    let text = try String(contentsOf: repositoryRoot().appendingPathComponent(path), encoding: .utf8)
    let graph = try Pipeline.run(try Frontend.compile(LocusSpec.SourceFile(name: path, text: text), batch: 2, overrides: overrides).graph)
    try assertGolden(graph.dump(), file: "\(spec).ir.txt")
    let emitted = try CEmitter.emit(graph, options: EmitOptions(target: .avx2))
    try assertGolden(emitted.sourceWithoutTemplates, file: "\(spec).c.txt")
  }

  func assertGolden(_ text: String, file name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let url = repositoryRoot().appendingPathComponent("Tests/LocusEndToEndTests/Golden/\(name)")
    if ProcessInfo.processInfo.environment["LOCUS_RECORD_GOLDEN"] != nil {
      try text.write(to: url, atomically: true, encoding: .utf8)
      print("re-recorded \(url.path)")
      return
    }
    guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
      return XCTFail("no golden file \(url.path); record it with `make golden`", file: file, line: line)
    }
    guard text != expected else { return }
    let a = expected.split(separator: "\n", omittingEmptySubsequences: false), b = text.split(separator: "\n", omittingEmptySubsequences: false)
    let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
    XCTFail("\(name) differs at line \(first + 1):\n  golden: \(first < a.count ? a[first] : "<end>")\n  now:    \(first < b.count ? b[first] : "<end>")\nre-record with `make golden` if the change is intended", file: file, line: line)
  }
}
