import Foundation
import XCTest
import LocusCodegen
import LocusFrontend
import LocusPasses
import LocusSpec

/// The fusion passes find LocalViT's patterns however the spec spells them: written with
/// primitives only (Specs/localvit_tiny_primitives.locus) or through the prelude's blocks
/// (specs/localvit_tiny.locus), the model compiles to the same kernel calls with the same
/// arguments, in the same order.
final class SpellingIndependenceTests: XCTestCase {
  func testPrimitiveSpelledLocalViTCompilesToTheSameKernels() throws {
    let viaBlocks = try kernelCalls(repositoryRoot().appendingPathComponent("specs/localvit_tiny.locus"))
    let viaPrimitives = try kernelCalls(repositoryRoot().appendingPathComponent("Tests/LocusEndToEndTests/Specs/localvit_tiny_primitives.locus"))
    XCTAssertGreaterThan(viaBlocks.count, 100)
    let first = zip(viaBlocks, viaPrimitives).enumerated().first { $0.element.0 != $0.element.1 }
    XCTAssertEqual(viaBlocks.count, viaPrimitives.count, "different number of kernel calls")
    XCTAssertNil(first, "first difference at call \(first?.offset ?? 0):\n  blocks:     \(first?.element.0 ?? "")\n  primitives: \(first?.element.1 ?? "")")
  }

  /// The `lk_…(…);` statements of the emitted C, comments and blank lines dropped.
  func kernelCalls(_ url: URL) throws -> [String] {
    let text = try String(contentsOf: url, encoding: .utf8)
    let graph = try Pipeline.run(try Frontend.compile(SourceFile(name: "spec", text: text), batch: 2).graph)
    let source = try CEmitter.emit(graph, options: EmitOptions(target: .avx2)).sourceWithoutTemplates
    var calls: [String] = [], current = ""
    for line in source.split(separator: "\n") {
      let t = line.trimmingCharacters(in: .whitespaces)
      if t.hasPrefix("lk_") { current = t } else if !current.isEmpty { current += " " + t }
      if !current.isEmpty, t.hasSuffix(");") { calls.append(current); current = "" }
    }
    return calls
  }
}
