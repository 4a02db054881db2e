import LocusIR
import XCTest

/// Ops that only move elements, against the reference (exact copies; the shared tolerance holds
/// trivially).
final class LayoutOpTests: XCTestCase {
  func testReshapeAndTranspose() throws {
    try checkOp("transpose", seed: 141) { g, rng in
      let a = rng.int(2...5), b = rng.int(3...7), c = rng.int(2...19)
      let x = g.input("x", [a, b, c])
      g.output("swap_last", try g.add(.transpose([0, 2, 1]), [x]))
      g.output("rotate", try g.add(.transpose([2, 0, 1]), [x]))
      // A view feeding a kernel, and a view as an output.
      let flat = try g.add(.reshape([a * b, c]), [x])
      g.output("through_view", try g.add(.transpose([1, 0]), [flat]))
      g.output("view_out", try g.add(.reshape([c, a * b]), [x]))
      // Transpose of a parameter: unbatched, computed once.
      g.output("param_t", try g.add(.transpose([1, 0]), [g.param("w", [b, c])]))
    }
  }

  func testConcatAndStack() throws {
    try checkOp("concat", seed: 151) { g, rng in
      let n = rng.int(2...9), c = rng.int(3...13)
      let x = g.input("x", [n, c]), y = g.input("y", [n + 2, c])
      g.output("tokens", try g.add(.concat(axis: 0), [x, y]))
      g.output("channels", try g.add(.concat(axis: -1), [x, g.input("z", [n, 5])]))
      // Class token [1, 1, c] (a parameter) in front of batched tokens: repeated per sample.
      g.output("cls", try g.add(.concat(axis: 0), [g.param("cls_token", [1, 1, c]), x]))
      g.output("stack0", try g.add(.stack(axis: 0), [x, x, g.input("w", [n, c])]))
      g.output("stack_last", try g.add(.stack(axis: 2), [x, g.param("s", [n, c])]))
    }
  }

  func testSliceAndIndex() throws {
    try checkOp("slice", seed: 161) { g, rng in
      let n = rng.int(4...11), c = rng.int(3...13)
      let x = g.input("x", [3, n, c])
      g.output("middle", try g.add(.slice(axis: 1, start: 1, length: n - 2), [x]))
      g.output("last_axis", try g.add(.slice(axis: 2, start: 2, length: c - 2), [x]))
      g.output("first_axis", try g.add(.slice(axis: 0, start: 1, length: 2), [x]))
      g.output("index0", try g.add(.index(axis: 0, at: 2), [x]))
      g.output("index_mid", try g.add(.index(axis: 1, at: n - 1), [x]))
    }
  }

  func testTokenImageConversions() throws {
    try checkOp("seq_img", seed: 171) { g, rng in
      let h = rng.int(2...6), w = rng.int(2...7), c = rng.int(3...11)
      let tokens = g.input("tokens", [h * w, c])
      g.output("image", try g.add(.seq2img(height: h), [tokens]))
      g.output("tokens_back", try g.add(.img2seq, [g.input("image_in", [c, h, w])]))
    }
  }

  func testRollAndCircularPad() throws {
    try checkOp("shift", seed: 181) { g, rng in
      let c = rng.int(2...5), h = rng.int(3...9), w = rng.int(3...10)
      let x = g.input("x", [c, h, w])
      g.output("roll", try g.add(.roll(dy: 1, dx: -2), [x]))
      g.output("roll_wide", try g.add(.roll(dy: -h - 1, dx: w + 3), [x]))
      g.output("pad", try g.add(.circularPad(left: 1, right: 2, top: 0, bottom: 1), [x]))
    }
  }
}
