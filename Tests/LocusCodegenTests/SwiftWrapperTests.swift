import XCTest
@testable import LocusCodegen

/// The generated Swift API (`--emit swift-package`) documents every public symbol, and is
/// specialised for its model's name and facts.
final class SwiftWrapperTests: XCTestCase {
  let facts = SwiftWrapperFile.Facts(model: "toy_net", inputShape: [3, 32, 32], classes: 10, parameterCount: 1234,
                                     forwardFlopsPerImage: 5678, batch: 2, trainBatch: 8, arenaBytes: 4096, trainArenaBytes: 8192)

  func testEveryPublicSymbolHasADocComment() {
    let lines = SwiftWrapperFile(name: "ToyNet", cModule: "ToyNetKernels", facts: facts).emit().split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    var publics = 0
    for (i, line) in lines.enumerated() where line.hasPrefix("public ") || (line.hasPrefix("case ") && !line.hasPrefix("case .")) {
      publics += 1
      var j = i - 1
      while j >= 0, lines[j].hasPrefix("@") { j -= 1 }  // attributes sit between the comment and the declaration
      XCTAssertTrue(j >= 0 && lines[j].hasPrefix("///"), "undocumented: \(line)")
    }
    XCTAssertGreaterThan(publics, 25)
  }

  func testFactsAndNames() {
    let text = SwiftWrapperFile(name: "ToyNet", cModule: "ToyNetKernels", facts: facts).emit()
    for expected in ["import ToyNetKernels", "public final class ToyNet {", "public static let inputShape: [Int] = [3, 32, 32]",
                     "public static let classes = 10", "public static let imageFloats = 3072", "public static let compiledBatch = 2",
                     "public static let trainingBatch = 8", "toy_net_model_predict(handle", "public struct ToyNetError"] {
      XCTAssertTrue(text.contains(expected), "missing: \(expected)")
    }
    XCTAssertFalse(text.contains("fatalError"), "bad input must throw, not trap")
  }
}
