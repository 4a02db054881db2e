import Foundation
import XCTest
import LocusIR
import LocusSpec
@testable import LocusFrontend

/// Every bundled spec declares exactly the official implementation's state_dict: the same names
/// and shapes (BatchNorm's `num_batches_tracked` as ignored keys), so a PyTorch checkpoint loads
/// as it is. The listings come from ../shared/reference/state_dicts.
final class SpecParameterTests: XCTestCase {
  static let specs = [
    "deit_tiny", "localvit_tiny", "localvit_tiny_se4", "localvit_tiny_relu6", "localvit_small",
    "localvit_fmnist", "ceit_tiny", "sag_tiny_cifar", "sag_tiny_imagenet",
  ]

  func testEverySpecMatchesItsOfficialStateDict() throws {
    for spec in Self.specs {
      let graph = try compileSpec(spec)
      let official = try stateDict(spec)
      let ours = Dictionary(uniqueKeysWithValues: graph.parameters.map { ($0.name, $0.shape) })
      let ignored = Set(graph.ignoredStateKeys)
      var problems: [String] = []
      for (name, shape) in official.sorted(by: { $0.key < $1.key }) {
        if ignored.contains(name) { continue }
        if let s = ours[name] {
          if s != shape { problems.append("\(name): ours \(s), official \(shape)") }
        } else {
          problems.append("missing \(name) \(shape)")
        }
      }
      for name in ours.keys.sorted() where official[name] == nil { problems.append("extra \(name) \(ours[name]!)") }
      for name in ignored.sorted() where official[name] == nil { problems.append("extra ignored key \(name)") }
      XCTAssertEqual(problems, [], "\(spec): \(problems.prefix(10).joined(separator: "; "))")
    }
  }

  func compileSpec(_ name: String, overrides: [(name: String, value: String)] = []) throws -> Graph {
    let url = repositoryRoot().appendingPathComponent("specs/\(name).locus")
    let text = try String(contentsOf: url, encoding: .utf8)
    do {
      return try Frontend.compile(SourceFile(name: "specs/\(name).locus", text: text), overrides: overrides).graph
    } catch {
      XCTFail("\(name) does not compile:\n\(error)")
      throw error
    }
  }

  /// `name<TAB>[d0, d1]<TAB>dtype` lines after a `#` comment line.
  func stateDict(_ name: String) throws -> [String: [Int]] {
    let url = try XCTUnwrap(Bundle.module.url(forResource: "StateDicts/\(name)", withExtension: "txt"))
    var out: [String: [Int]] = [:]
    for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
      let fields = line.split(separator: "\t")
      let dims = fields[1].dropFirst().dropLast().split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
      out[String(fields[0])] = dims
    }
    return out
  }
}

/// The repository root, found from this file's path (tests run from anywhere).
func repositoryRoot(file: String = #filePath) -> URL {
  URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// Prelude blocks that no bundled spec uses still elaborate to the official parameter layout.
final class PreludeBlockTests: XCTestCase {
  func testECAKeepsTheOfficialConv1dWeight() throws {
    let text = """
      model m {
        input x: f32[16, 7, 7]
        output y = gap(eca(x, kernel: 3) @conv.6)
      }
      """
    let graph = try Frontend.compile(SourceFile(name: "eca.locus", text: text)).graph
    XCTAssertEqual(graph.parameters.map(\.name), ["conv.6.conv.weight"])
    XCTAssertEqual(graph.parameters.first?.shape, [1, 1, 3])
    XCTAssertEqual(graph.parameters.first?.initializer, .kaimingUniform(fanIn: 3))
    XCTAssertTrue(graph.nodes.contains { if case .conv2d(let a) = $0.op { a.kernel == [1, 3] && a.padding == [0, 1] } else { false } })
  }
}
