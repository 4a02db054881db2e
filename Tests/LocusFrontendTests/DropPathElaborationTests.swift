import XCTest
import LocusIR
import LocusSpec
@testable import LocusFrontend

/// `drop_path` leaves no trace in an inference graph, becomes x · mask (a per-sample [1] input named
/// by index and rate) in a train-mode one, skips rate 0, and rejects rates outside [0, 1).
final class DropPathElaborationTests: XCTestCase {
  let spec = """
    model m {
      input x: f32[4, 8]
      y = x + drop_path(linear(x, out: 8) @a, rate: 0.25)
      y = y + drop_path(linear(y, out: 8) @b, rate: 0)
      output z = y + drop_path(linear(y, out: 8) @c, rate: 0.5)
    }
    """

  func testInferenceHasNoMask() throws {
    let (graph, _) = try Frontend.compile(SourceFile(name: "m.locus", text: spec), batch: 2)
    XCTAssertEqual(graph.inputs.count, 1)
    XCTAssertFalse(graph.nodes.contains { if case .binary(.mul) = $0.op { true } else { false } }, "no multiply at inference")
  }

  func testTrainingMultipliesByNamedMasks() throws {
    let (graph, _) = try Frontend.compile(SourceFile(name: "m.locus", text: spec), batch: 2, training: true)
    let masks = graph.inputs.dropFirst()
    XCTAssertEqual(masks.map { if case .input(let n) = $0.op { n } else { "" } }, ["drop_path:0:0.25", "drop_path:1:0.5"])
    for mask in masks {
      XCTAssertEqual(mask.type.shape, [1])
      XCTAssertTrue(mask.type.batched)
      let readers = graph.nodes.filter { $0.operands.contains(mask.id) }
      XCTAssertEqual(readers.count, 1)
      guard case .binary(.mul) = readers[0].op else { return XCTFail("mask read by \(readers[0].op)") }
    }
  }

  func testRateOutOfRange() {
    let bad = "model m {\n  input x: f32[4]\n  output z = drop_path(x, rate: 1)\n}\n"
    XCTAssertThrowsError(try Frontend.compile(SourceFile(name: "bad.locus", text: bad), training: true)) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains("bad.locus:3:27") && text.contains("drop_path rate must be in [0, 1), got 1.0"), text)
    }
  }
}
