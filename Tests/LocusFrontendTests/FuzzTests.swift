import XCTest
import LocusSpec
@testable import LocusFrontend

/// The frontend never crashes: thousands of seeded mutations of the bundled specs (numbers
/// changed, tokens dropped or swapped) must each compile or fail with diagnostics.
final class FuzzTests: XCTestCase {
  func testMutatedSpecsNeverCrashTheElaborator() throws {
    var rng = SplitMix64(seed: 0x10C05)
    let sources = try ["localvit_fmnist", "sag_tiny_cifar", "ceit_tiny"].map {
      try String(contentsOf: repositoryRoot().appendingPathComponent("specs/\($0).locus"), encoding: .utf8)
    }
    let replacements = ["0", "-1", "1", "3", "1000000", "99999999999", "x", "[", ")", "@", "f32", "1.5", "\"s\"", "true", ""]
    var compiled = 0, rejected = 0
    for i in 0..<240 {
      var words = sources[i % sources.count].split(separator: " ", omittingEmptySubsequences: false).map(String.init)
      for _ in 0..<(1 + Int(rng.next() % 3)) {
        let k = Int(rng.next() % UInt64(words.count))
        words[k] = replacements[Int(rng.next() % UInt64(replacements.count))]
      }
      let text = words.joined(separator: " ")
      do {
        _ = try Frontend.compile(SourceFile(name: "fuzz.locus", text: text), overrides: [("image", "16"), ("dim", "8")])
        compiled += 1
      } catch {
        XCTAssertFalse("\(error)".isEmpty)
        rejected += 1
      }
    }
    XCTAssertEqual(compiled + rejected, 240)
    XCTAssertGreaterThan(rejected, 120, "most mutations should be rejected; the mutator may be broken")
  }
}

/// A small seeded generator, so the fuzz cases are the same on every run.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
