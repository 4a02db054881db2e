import Foundation
import LocusCodegen
import XCTest

/// The generated C of a small model, compared byte for byte with a recorded copy (the kernel
/// templates elided: they belong to templates/ and change on their own). A change to the emitter
/// that changes this text must say why. Re-record with LOCUS_RECORD_GOLDEN=1, which rewrites
/// Golden.swift next to this file (golden text lives in Swift so the test target needs no
/// resources).
final class GoldenTests: XCTestCase {
  /// Texts recorded so far in this process, on top of the committed ones.
  nonisolated(unsafe) static var recorded = Golden.texts

  func testTinyViTSource() throws {
    let model = try CEmitter.emit(TinyModels.vit(batch: 2))
    try assertGolden(model.sourceWithoutTemplates + "\n/* ==== tiny_vit.h ==== */\n" + model.header, name: "tinyViT")
  }

  func testTinyCNNSource() throws {
    let model = try CEmitter.emit(TinyModels.cnn(batch: 1), options: EmitOptions(target: .avx2))
    try assertGolden(model.sourceWithoutTemplates, name: "tinyCNN")
  }

  /// The fused kernels' calls and a prepare function with a body.
  func testTinyFusedSource() throws {
    let model = try CEmitter.emit(TinyModels.fused(batch: 2))
    try assertGolden(model.sourceWithoutTemplates, name: "tinyFused")
  }

  func assertGolden(_ text: String, name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    if ProcessInfo.processInfo.environment["LOCUS_RECORD_GOLDEN"] != nil {
      Self.recorded[name] = text
      try Golden.write(Self.recorded, to: URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("Golden.swift"))
      XCTFail("re-recorded golden text '\(name)'; rerun without LOCUS_RECORD_GOLDEN", file: file, line: line)
      return
    }
    guard let expected = Golden.texts[name] else {
      return XCTFail("no golden text '\(name)'; record it with LOCUS_RECORD_GOLDEN=1", file: file, line: line)
    }
    if text != expected {
      let (a, b) = (expected.split(separator: "\n", omittingEmptySubsequences: false), text.split(separator: "\n", omittingEmptySubsequences: false))
      let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
      XCTFail("generated C differs from golden '\(name)' at line \(first + 1):\n  golden: \(first < a.count ? a[first] : "<end>")\n  now:    \(first < b.count ? b[first] : "<end>")", file: file, line: line)
    }
  }
}

extension Golden {
  /// Writes Golden.swift: one raw string literal per golden text, sorted by name.
  static func write(_ texts: [String: String], to url: URL) throws {
    var s = "// Recorded by GoldenTests with LOCUS_RECORD_GOLDEN=1. Do not edit by hand.\n\nenum Golden {\n  static let texts: [String: String] = [\n"
    for (name, text) in texts.sorted(by: { $0.key < $1.key }) {
      s += "    \"\(name)\": #\"\"\"\n" + text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "      " + $0 }.joined(separator: "\n") + "\n      \"\"\"#,\n"
    }
    s += "  ]\n}\n"
    try s.write(to: url, atomically: true, encoding: .utf8)
  }
}
