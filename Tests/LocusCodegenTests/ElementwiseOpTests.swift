import LocusIR
import XCTest

/// Activations, binary ops with broadcasting and scalar ops against the reference (relative 1e-4,
/// see `tolerance(for:)`).
final class ElementwiseOpTests: XCTestCase {
  func testUnary() throws {
    try checkOp("unary", seed: 61) { g, rng in
      let shape = [rng.int(2...7), rng.int(3...37)]  // odd sizes: partial vectors at the tail
      for f in UnaryOp.allCases where f != .rsqrt {  // rsqrt needs positive inputs: FusedOpTests
        // Scaled so hswish/relu6 see both clamps (inputs in [-8, 8)).
        let x = g.input("x_\(f.rawValue)", shape)
        let scaled = try g.add(.scalar(.mul, 8, scalarFirst: false), [x])
        g.output(f.rawValue, try g.add(.unary(f), [scaled]))
      }
    }
  }

  func testBinarySameShapeAndBroadcast() throws {
    try checkOp("binary", seed: 71) { g, rng in
      let n = rng.int(2...9), c = rng.int(3...19)
      let x = g.input("x", [n, c]), y = g.input("y", [n, c])
      for f in BinaryOp.allCases where f != .div { g.output("\(f.rawValue)_same", try g.add(.binary(f), [x, y])) }
      // Division by values bounded away from zero.
      let denominator = try g.add(.scalar(.add, 3, scalarFirst: false), [y])
      g.output("div_same", try g.add(.binary(.div), [x, denominator]))
      // Per-channel parameter (trailing alignment), on either side.
      let bias = g.param("bias", [c], role: .bias)
      g.output("add_bias", try g.add(.binary(.add), [x, bias]))
      g.output("sub_from_bias", try g.add(.binary(.sub), [bias, x]))
      // pos_embed [1, n, c] drops its leading 1 to meet tokens [n, c].
      g.output("add_pos", try g.add(.binary(.add), [x, g.param("pos_embed", [1, n, c])]))
      // Within-sample broadcast: [n, 1] × [n, c], both batched.
      let column = g.input("column", [n, 1])
      g.output("mul_column", try g.add(.binary(.mul), [x, column]))
      // A batched operand of lower rank against a higher-rank parameter: [c] + [n, c] → [n, c].
      let row = g.input("row", [c])
      g.output("row_plus_table", try g.add(.binary(.add), [row, g.param("table", [n, c])]))
      // Image with a per-channel scale [C, 1, 1].
      let img = g.input("img", [3, n, 5])
      g.output("scale_channels", try g.add(.binary(.mul), [img, g.param("gamma", [3, 1, 1])]))
      // Two parameters: an unbatched result, repeated over the batch in the output.
      g.output("params_only", try g.add(.binary(.sub), [bias, g.param("other", [c])]))
      // A parameter as an output, and an input as an output: plain copies.
      g.output("raw_param", bias)
      g.output("raw_input", x)
    }
  }

  func testDeepBroadcastMergesAxes() throws {
    try checkOp("binary_deep", seed: 72) { g, _ in
      // Rank 6 per sample + batch = 7 axes: more than the kernel's 6, merged by the emitter.
      let x = g.input("x", [2, 3, 2, 2, 3, 4])
      g.output("y", try g.add(.binary(.add), [x, g.param("p", [2, 3, 2, 2, 3, 4])]))
    }
  }

  func testScalar() throws {
    try checkOp("scalar", seed: 81) { g, rng in
      let shape = [rng.int(3...11), rng.int(2...13)]
      for f in BinaryOp.allCases {
        for first in [false, true] {
          let x = g.input("x_\(f.rawValue)_\(first)", shape)
          // Keep divisors away from zero: (x + 2.5) with x in [-1, 1).
          let safe = f == .div && first ? try g.add(.scalar(.add, 2.5, scalarFirst: false), [x]) : x
          g.output("\(f.rawValue)_\(first ? "s_op_x" : "x_op_s")", try g.add(.scalar(f, 0.75, scalarFirst: first), [safe]))
        }
      }
    }
  }
}
