import XCTest
@testable import LocusIR

/// A small patch-embedding graph, used by the verifier, printer and cost tests.
func patchEmbedGraph(batch: Int = 2) throws -> Graph {
  var g = Graph(name: "tiny", batch: batch)
  let x = g.append(.input(name: "pixels"), [], type: TensorType([3, 8, 8], batched: true))
  g.parameters = [
    Parameter(name: "proj.weight", shape: [16, 3, 4, 4], role: .weight, initializer: .kaimingUniform(fanIn: 48)),
    Parameter(name: "proj.bias", shape: [16], role: .bias, initializer: .zeros),
    Parameter(name: "cls_token", shape: [1, 1, 16], role: .embedding, initializer: .truncNormal(std: 0.02)),
  ]
  let w = g.append(.parameter(name: "proj.weight"), [], type: TensorType([16, 3, 4, 4], batched: false))
  let b = g.append(.parameter(name: "proj.bias"), [], type: TensorType([16], batched: false))
  let cls = g.append(.parameter(name: "cls_token"), [], type: TensorType([1, 1, 16], batched: false))
  let conv = try g.add(.conv2d(Conv2dAttrs(outChannels: 16, kernel: [4, 4], stride: [4, 4], padding: [0, 0], groups: 1, hasBias: true)), [x, w, b], scope: "proj")
  let seq = try g.add(.img2seq, [conv])
  let tokens = try g.add(.concat(axis: 0), [cls, seq])
  g.outputs = [("tokens", tokens)]
  return g
}

final class GraphTests: XCTestCase {
  func testVerifierAcceptsAWellFormedGraph() throws {
    try patchEmbedGraph().verify()
  }

  func testVerifierReportsAWrongType() throws {
    let g = try patchEmbedGraph()
    var broken = Graph(name: g.name, batch: g.batch)
    broken.parameters = g.parameters
    for node in g.nodes {
      var type = node.type
      if node.op == .img2seq { type = TensorType([5, 16], batched: true) }
      broken.append(node.op, node.operands, type: type)
    }
    broken.outputs = g.outputs
    XCTAssertThrowsError(try broken.verify()) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains("%5 has type f32[B, 5, 16], its operands give f32[B, 4, 16]"), text)
    }
  }

  func testVerifierReportsAnUnknownParameter() throws {
    var g = try patchEmbedGraph()
    g.parameters.removeLast()
    XCTAssertThrowsError(try g.verify()) { error in
      XCTAssertTrue("\(error)".contains("refers to unknown parameter 'cls_token'"), "\(error)")
    }
  }

  func testDumpIsReadableAndDeterministic() throws {
    let expected = """
      graph tiny (batch 2) {
        %0 = input {"pixels"} : f32[B, 3, 8, 8]
        %1 = param {"proj.weight"} : f32[16, 3, 4, 4]
        %2 = param {"proj.bias"} : f32[16]
        %3 = param {"cls_token"} : f32[1, 1, 16]
        %4 = conv2d(%0, %1, %2) {out 16, kernel [4, 4], stride [4, 4], padding [0, 0], groups 1} : f32[B, 16, 2, 2]  # proj
        %5 = img2seq(%4) : f32[B, 4, 16]
        %6 = concat(%3, %5) {axis 0} : f32[B, 5, 16]
        output tokens = %6
      }

      """
    XCTAssertEqual(try patchEmbedGraph().dump(), expected)
  }

  func testFlopsCountMultiplyAddsTwice() throws {
    let g = try patchEmbedGraph(batch: 2)
    // conv: batch 2 × 16 channels × 2 × 2 outputs × (3 × 4 × 4) MACs × 2.
    XCTAssertEqual(g.forwardFlops, 2 * 16 * 4 * 48 * 2)
    XCTAssertEqual(g.parameterCount, 16 * 48 + 16 + 16)
  }
}
