import XCTest
@testable import LocusIR

/// Shape rules: results on valid operands, and errors that name both shapes on invalid ones.
final class ShapeRuleTests: XCTestCase {
  let tokens = TensorType([197, 192], batched: true)
  let image = TensorType([3, 224, 224], batched: true)

  func param(_ shape: [Int]) -> TensorType { TensorType(shape, batched: false) }

  func testConvolutionShapes() throws {
    let patch = Op.conv2d(Conv2dAttrs(outChannels: 192, kernel: [16, 16], stride: [16, 16], padding: [0, 0], groups: 1, hasBias: true))
    XCTAssertEqual(try patch.inferType([image, param([192, 3, 16, 16]), param([192])]), TensorType([192, 14, 14], batched: true))
    let stem = Op.conv2d(Conv2dAttrs(outChannels: 64, kernel: [7, 7], stride: [2, 2], padding: [3, 3], groups: 1, hasBias: false))
    XCTAssertEqual(try stem.inferType([image, param([64, 3, 7, 7])]).shape, [64, 112, 112])
    let dw = Op.conv2d(Conv2dAttrs(outChannels: 768, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 768, hasBias: false))
    XCTAssertEqual(try dw.inferType([TensorType([768, 14, 14], batched: true), param([768, 1, 3, 3])]).shape, [768, 14, 14])
    XCTAssertThrowsError(try patch.inferType([image, param([192, 4, 16, 16]), param([192])])) { error in
      XCTAssertEqual((error as? ShapeError)?.message, "conv2d weight has shape [192, 4, 16, 16], expected [192, 3, 16, 16]")
    }
  }

  func testLinearAppliesToTheLastAxis() throws {
    XCTAssertEqual(try Op.linear(hasBias: true).inferType([tokens, param([576, 192]), param([576])]).shape, [197, 576])
    let variants = TensorType([18, 1024, 192], batched: true)
    XCTAssertEqual(try Op.linear(hasBias: false).inferType([variants, param([96, 192])]).shape, [18, 1024, 96])
    XCTAssertThrowsError(try Op.linear(hasBias: false).inferType([tokens, param([576, 64])]))
  }

  func testUnbatchedParametersBroadcastOverTheBatch() throws {
    // pos_embed [1, 197, 192] meets tokens [197, 192]: the leading 1 belongs to the batch.
    XCTAssertEqual(try broadcastTypes(tokens, param([1, 197, 192])), tokens)
    XCTAssertEqual(try broadcastTypes(param([1, 197, 192]), tokens), tokens)
    // SE gate [C, 1, 1] scales an image [C, H, W].
    let map = TensorType([768, 14, 14], batched: true)
    XCTAssertEqual(try broadcastTypes(map, TensorType([768, 1, 1], batched: true)), map)
    XCTAssertThrowsError(try broadcastTypes(tokens, TensorType([196, 192], batched: true))) { error in
      XCTAssertEqual((error as? ShapeError)?.message, "shapes f32[B, 197, 192] and f32[B, 196, 192] do not broadcast")
    }
  }

  func testConcatAcceptsAClassTokenParameter() throws {
    let patches = TensorType([196, 192], batched: true)
    XCTAssertEqual(try Op.concat(axis: 0).inferType([param([1, 1, 192]), patches]), tokens)
    XCTAssertThrowsError(try Op.concat(axis: 0).inferType([param([1, 1, 64]), patches]))
    XCTAssertEqual(try Op.stack(axis: 0).inferType([patches, patches, patches]).shape, [3, 196, 192])
  }

  func testTokenImageConversions() throws {
    let patches = TensorType([196, 192], batched: true)
    XCTAssertEqual(try Op.seq2img(height: 14).inferType([patches]).shape, [192, 14, 14])
    XCTAssertEqual(try Op.img2seq.inferType([TensorType([192, 14, 14], batched: true)]).shape, [196, 192])
    XCTAssertThrowsError(try Op.seq2img(height: 14).inferType([tokens])) { error in
      XCTAssertEqual((error as? ShapeError)?.hint, "the token count must be height × width; split off the class token first")
    }
  }

  func testAttentionShapes() throws {
    let q = TensorType([1024, 192], batched: true), kv = TensorType([1024, 48], batched: true)
    XCTAssertEqual(try Op.sdpa(heads: 4, kvHeads: 1).inferType([q, kv, kv]), q)
    XCTAssertThrowsError(try Op.sdpa(heads: 4, kvHeads: 4).inferType([q, kv, kv]))
    let variants = TensorType([18, 1024, 48], batched: true)
    XCTAssertEqual(try Op.localAttention(heads: 4, kvHeads: 1).inferType([q, variants, variants]), q)
    XCTAssertThrowsError(try Op.localAttention(heads: 4, kvHeads: 1).inferType([q, kv, kv]))
  }

  func testPoolingPaddingAndSlicing() throws {
    let map = TensorType([192, 32, 32], batched: true)
    XCTAssertEqual(try Op.maxpool(kernel: [3, 3], stride: [2, 2], padding: [1, 1]).inferType([map]).shape, [192, 16, 16])
    XCTAssertEqual(try Op.circularPad(left: 3, right: 0, top: 1, bottom: 0).inferType([image]).shape, [3, 225, 227])
    XCTAssertEqual(try Op.slice(axis: 0, start: 1, length: 196).inferType([tokens]).shape, [196, 192])
    XCTAssertThrowsError(try Op.slice(axis: 0, start: 1, length: 197).inferType([tokens]))
    XCTAssertEqual(try Op.index(axis: 0, at: 0).inferType([tokens]).shape, [192])
    XCTAssertEqual(try Op.gap.inferType([map]).shape, [192])
    XCTAssertEqual(try Op.mean(axis: 0).inferType([tokens]).shape, [192])
  }

  func testArityIsChecked() {
    XCTAssertThrowsError(try Op.matmul.inferType([tokens])) { error in
      XCTAssertEqual((error as? ShapeError)?.message, "'matmul' takes 2 operands, got 1")
    }
  }
}
