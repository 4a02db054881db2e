import XCTest
import LocusDriver
import LocusPasses
import LocusRuntime

/// Fusion changes how a model is computed, never what: for every bundled spec the compiled model
/// with all fusions gives the logits of `-O0` within 1e-5 relative, and so does each fusion alone
/// on the specs where its pattern occurs. Inputs and weights are the PyTorch fixtures (batch 3).
final class FusionEquivalenceTests: XCTestCase {
  func testAllFusionsMatchO0OnEverySpec() throws {
    for fixture in try Fixture.all() {
      try compare(fixture, FusionOptions(), "all fusions")
    }
  }

  func testEachFusionAloneMatchesO0() throws {
    let patterns: [String: [String]] = [
      "dead-ffn": ["localvit_tiny", "ceit_tiny"],
      "sag": ["sag_tiny_cifar", "sag_tiny_imagenet"],
      "leff": ["localvit_tiny", "localvit_tiny_relu6", "ceit_tiny"],
      "bn-fold": ["localvit_tiny", "ceit_tiny"],
      "epilogue": ["deit_tiny", "localvit_fmnist"],
      "se": ["localvit_tiny", "localvit_tiny_se4"],
      "patch": ["deit_tiny", "ceit_tiny", "localvit_fmnist"],
    ]
    XCTAssertEqual(Set(patterns.keys), Set(Pipeline.fusionFlags), "every fusion flag is tested on its own")
    let fixtures = Dictionary(uniqueKeysWithValues: try Fixture.all().map { ($0.spec, $0) })
    for (flag, specs) in patterns.sorted(by: { $0.key < $1.key }) {
      // `leff` alone leaves BatchNorm as an affine; `bn-fold` and `se` need `leff` to see their
      // pattern (before it, the gate scales an image that a 1×1 convolution reads).
      let needed: Set<String> = ["bn-fold", "se"].contains(flag) ? [flag, "leff"] : [flag]
      let options = FusionOptions(disabled: Set(Pipeline.fusionFlags).subtracting(needed))
      for spec in specs { try compare(try XCTUnwrap(fixtures[spec]), options, flag) }
    }
  }

  func compare(_ fixture: Fixture, _ fusion: FusionOptions, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
    var request = fixture.request(batch: 3)
    let input = try fixture.input(batch: 3).values
    let weights = try SafeTensorsFile.read(path: fixture.weightsPath)
    func logits(_ options: FusionOptions) throws -> [Float] {
      request.fusion = options
      let model = try Driver.load(try Driver.compile(request))
      try model.bindWeights(weights)
      return try model.run(inputs: [input])[0]
    }
    let plain = try logits(.none)
    let fused = try logits(fusion)
    assertClose(fused, NpyArray(shape: [plain.count], values: plain), rtol: 1e-5, "\(fixture.spec) \(what) vs -O0", file: file, line: line)
  }
}
