import LocusIR
import XCTest

/// Normalisations, softmax, pooling and means against the reference (relative 1e-4, see
/// `tolerance(for:)`).
final class ReductionOpTests: XCTestCase {
  func testLayerNorm() throws {
    try checkOp("layernorm", seed: 91) { g, rng in
      let n = rng.int(2...9), c = rng.int(3...41)
      let x = g.input("x", [n, c])
      g.output("tokens", try g.add(.layernorm(eps: 1e-6), [x, g.param("ln.weight", [c], role: .norm), g.param("ln.bias", [c], role: .norm)]))
      let x3 = g.input("x3", [2, n, 7])
      g.output("rank3", try g.add(.layernorm(eps: 1e-5), [x3, g.param("l3.weight", [7], role: .norm), g.param("l3.bias", [7], role: .norm)]))
    }
  }

  func testBatchNorm() throws {
    try checkOp("batchnorm", seed: 101) { g, rng in
      let c = rng.int(2...7), h = rng.int(3...9), w = rng.int(2...11)
      let x = g.input("x", [c, h, w])
      let stats = ["weight", "bias", "running_mean", "running_var"].map { g.param("bn.\($0)", [c], role: .norm) }
      g.output("y", try g.add(.batchnorm(eps: 1e-5), [x] + stats))
    }
  }

  func testSoftmax() throws {
    try checkOp("softmax", seed: 111) { g, rng in
      let shape = [rng.int(2...5), rng.int(3...9), rng.int(2...37)]
      let x = g.input("x", shape)
      let scaled = try g.add(.scalar(.mul, 4, scalarFirst: false), [x])
      g.output("last", try g.add(.softmax(axis: -1), [scaled]))
      g.output("middle", try g.add(.softmax(axis: 1), [scaled]))  // through a transposed copy
      g.output("first", try g.add(.softmax(axis: 0), [scaled]))
    }
  }

  func testPooling() throws {
    try checkOp("pooling", seed: 121) { g, rng in
      let c = rng.int(2...6), h = rng.int(5...12), w = rng.int(5...13)
      let x = g.input("x", [c, h, w])
      g.output("gap", try g.add(.gap, [x]))
      g.output("maxpool", try g.add(.maxpool(kernel: [3, 3], stride: [2, 2], padding: [1, 1]), [x]))
      g.output("maxpool_rect", try g.add(.maxpool(kernel: [2, 3], stride: [2, 1], padding: [0, 1]), [x]))
    }
  }

  func testMean() throws {
    try checkOp("mean", seed: 131) { g, rng in
      let shape = [rng.int(2...7), rng.int(3...11), rng.int(2...9)]
      let x = g.input("x", shape)
      for axis in [0, 1, -1] { g.output("axis\(axis < 0 ? "_last" : "\(axis)")", try g.add(.mean(axis: axis), [x])) }
    }
  }
}
