import Foundation
import XCTest
import LocusDriver

/// generated/<spec>/ holds the C of every bundled spec as `locus compile --emit c-sources` writes
/// it (inference at batch 1, training at batch 32, the context API): committed, so a change to the
/// compiler shows up as a diff in review. This fails when the compiler now emits anything else;
/// `make generated` rewrites them.
final class GeneratedSourcesTests: XCTestCase {
  func testGeneratedSourcesAreWhatTheCompilerEmits() throws {
    let root = repositoryRoot()
    let specs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("specs").path)
      .filter { $0.hasSuffix(".locus") }.map { String($0.dropLast(6)) }.sorted()
    let folders = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("generated").path)
      .filter { !$0.hasPrefix(".") }.sorted()
    XCTAssertEqual(folders, specs, "generated/ has one folder per bundled spec (run `make generated`)")
    for spec in specs {
      let request = CLibraryRequest(compile: CompileRequest(specPath: root.appendingPathComponent("specs/\(spec).locus").path, batch: 1), trainBatch: 32)
      let emitted = try Driver.emitCLibrary(request)
      let folder = root.appendingPathComponent("generated/\(spec)")
      let committed = try FileManager.default.subpathsOfDirectory(atPath: folder.path)
        .filter { !$0.hasSuffix("/") && !isDirectory(folder.appendingPathComponent($0)) }.sorted()
      XCTAssertEqual(committed, emitted.files.map(\.path).sorted(), "\(spec): files in generated/\(spec) (run `make generated`)")
      for file in emitted.files {
        let path = folder.appendingPathComponent(file.path)
        guard let text = try? String(contentsOf: path, encoding: .utf8) else { continue }
        if text != file.text {
          let old = text.split(separator: "\n", omittingEmptySubsequences: false), new = file.text.split(separator: "\n", omittingEmptySubsequences: false)
          let line = zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
          XCTFail("generated/\(spec)/\(file.path) differs from what the compiler emits now, first at line \(line + 1):\n  committed: \(line < old.count ? String(old[line]) : "<end>")\n  now:       \(line < new.count ? String(new[line]) : "<end>")\nrun `make generated` if the change is intended")
        }
      }
    }
  }

  private func isDirectory(_ url: URL) -> Bool {
    var directory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) && directory.boolValue
  }
}
