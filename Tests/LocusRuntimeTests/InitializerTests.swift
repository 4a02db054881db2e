import Foundation
import XCTest

@testable import LocusRuntime

final class InitializerTests: XCTestCase {
  /// Sample mean and standard deviation, accumulated in Double.
  func moments(_ xs: [Float]) -> (mean: Double, std: Double) {
    let mean = xs.reduce(0.0) { $0 + Double($1) } / Double(xs.count)
    let variance = xs.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(xs.count - 1)
    return (mean, variance.squareRoot())
  }

  func sample(_ kind: InitKind, count: Int = 1_000_000, seed: UInt64 = 0, name: String = "w") throws(RuntimeError) -> [Float] {
    try Initializer(seed: seed).values(for: ParameterInit(name: name, shape: [count], kind: kind))
  }

  func testGeneratorsMatchTheirReferenceSequences() {
    // SplitMix64 test vector from Vigna's splitmix64.c, seed 1234567.
    var sm = SplitMix64(seed: 1_234_567)
    XCTAssertEqual([sm.next(), sm.next(), sm.next()], [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423])
    // Pinned: changing the generator would silently change every `locus init` checkpoint.
    var xo = Xoshiro256StarStar(seed: 42)
    XCTAssertEqual([xo.next(), xo.next(), xo.next()], [1_546_998_764_402_558_742, 6_990_951_692_964_543_102, 12_544_586_762_248_559_009])
  }

  // Tolerances below are ≥ 5 standard errors for N = 10^6 samples: the mean's standard error is
  // std/1000, the sample std's relative standard error about 1/√(2N) ≈ 0.07%.

  func testNormalStatistics() throws {
    let xs = try sample(.normal(std: 0.02))
    let (mean, std) = moments(xs)
    XCTAssertEqual(mean, 0, accuracy: 1e-4)
    XCTAssertEqual(std, 0.02, accuracy: 0.02 * 0.005)
    let shifted = moments(try sample(.normal(mean: 3, std: 2), seed: 9))
    XCTAssertEqual(shifted.mean, 3, accuracy: 0.01)
    XCTAssertEqual(shifted.std, 2, accuracy: 2 * 0.005)
  }

  func testUniformAndKaimingStatistics() throws {
    let xs = try sample(.uniform(low: -3, high: 5))
    let (mean, std) = moments(xs)
    XCTAssertTrue(xs.allSatisfy { $0 >= -3 && $0 <= 5 })
    XCTAssertEqual(mean, 1, accuracy: 0.012)
    XCTAssertEqual(std, (64.0 / 12).squareRoot(), accuracy: 0.012)
    // fan_in 64 → U(-1/8, 1/8), std = (1/8)/√3.
    let k = try sample(.kaimingUniform(fanIn: 64))
    XCTAssertTrue(k.allSatisfy { abs($0) <= 0.125 })
    XCTAssertEqual(moments(k).std, 0.125 / 3.0.squareRoot(), accuracy: 0.125 / 3.0.squareRoot() * 0.005)
    XCTAssertEqual(InitKind.pytorchBias(fanIn: 64), .uniform(low: -0.125, high: 0.125))
    XCTAssertEqual(InitKind.fanIn(ofWeightShape: [192, 3, 16, 16]), 768)
  }

  func testTruncNormalCutsAtAbsoluteBoundsLikeTimm() throws {
    // std 1 on [-2, 2]: variance 1 − 4φ(2)/(Φ(2) − Φ(−2)) = 0.773741, std 0.879625.
    let xs = try sample(.truncNormal(std: 1))
    XCTAssertTrue(xs.allSatisfy { $0 >= -2 && $0 <= 2 })
    XCTAssertEqual(moments(xs).mean, 0, accuracy: 0.005)
    XCTAssertEqual(moments(xs).std, 0.879625, accuracy: 0.879625 * 0.005)
    // std 0.02: the cut at ±2 is 100 std away, so this is a plain normal.
    XCTAssertEqual(moments(try sample(.truncNormal(std: 0.02))).std, 0.02, accuracy: 0.02 * 0.005)
    // Far in a tail, where rejection sampling would crawl: mean of N(0,1) on [3, 4] is
    // (φ(3) − φ(4)) / (Φ(4) − Φ(3)) = 3.2605; its std there is ~0.25, so 5 SE ≈ 0.004 at 10^5 samples.
    let tail = try sample(.truncNormal(std: 1, low: 3, high: 4), count: 100_000)
    XCTAssertTrue(tail.allSatisfy { $0 >= 3 && $0 <= 4 })
    XCTAssertEqual(moments(tail).mean, 3.2605, accuracy: 0.005)
  }

  func testConstantKinds() throws {
    XCTAssertEqual(try sample(.zeros, count: 3), [0, 0, 0])
    XCTAssertEqual(try sample(.ones, count: 2), [1, 1])
    XCTAssertEqual(try sample(.constant(0.5), count: 2), [0.5, 0.5])
  }

  func testDeterministicPerSeedAndName() throws {
    let a = try sample(.normal(std: 1), count: 100, seed: 7, name: "blocks.0.mlp.fc1.weight")
    XCTAssertEqual(a, try sample(.normal(std: 1), count: 100, seed: 7, name: "blocks.0.mlp.fc1.weight"))
    XCTAssertNotEqual(a, try sample(.normal(std: 1), count: 100, seed: 8, name: "blocks.0.mlp.fc1.weight"))
    XCTAssertNotEqual(a, try sample(.normal(std: 1), count: 100, seed: 7, name: "blocks.1.mlp.fc1.weight"))
  }

  func testAddingOrReorderingParametersLeavesOthersUnchanged() throws {
    let w = ParameterInit(name: "head.weight", shape: [10, 4], kind: .truncNormal(std: 0.02))
    let b = ParameterInit(name: "head.bias", shape: [10], kind: .uniform(low: -1, high: 1))
    let extra = ParameterInit(name: "pos_embed", shape: [1, 5, 4], kind: .normal(std: 0.02))
    let first = try Initializer(seed: 3).initialize([w, b])
    let second = try Initializer(seed: 3).initialize([extra, b, w])
    XCTAssertEqual(first["head.weight"], second["head.weight"])
    XCTAssertEqual(first["head.bias"], second["head.bias"])
    XCTAssertEqual(second["pos_embed"]?.shape, [1, 5, 4])
  }

  func testInvalidInitialisersAreErrors() {
    let cases: [(InitKind, String)] = [
      (.normal(std: -1), "normal needs a finite std ≥ 0"),
      (.truncNormal(std: 1, low: 2, high: -2), "trunc_normal needs"),
      (.uniform(low: 1, high: 0), "uniform needs finite low ≤ high"),
      (.kaimingUniform(fanIn: 0), "kaiming_uniform needs fan_in > 0"),
    ]
    for (kind, expected) in cases {
      let error = runtimeError { () throws(RuntimeError) in try sample(kind, count: 1) }
      XCTAssertTrue(error?.description.hasPrefix("initialiser of 'w': \(expected)") == true, "\(String(describing: error))")
    }
    let duplicate = runtimeError { () throws(RuntimeError) in
      try Initializer(seed: 0).initialize([ParameterInit(name: "a", shape: [1], kind: .zeros), ParameterInit(name: "a", shape: [1], kind: .ones)])
    }
    XCTAssertEqual(duplicate?.description, "initialiser of 'a': parameter given twice")
  }

  func testErfinvInvertsErf() {
    XCTAssertEqual(erfinv(0.5), 0.4769362762044699, accuracy: 1e-15)
    for y in stride(from: -0.999999, through: 0.999999, by: 0.001) {
      XCTAssertEqual(erf(erfinv(y)), y, accuracy: 1e-14, "y = \(y)")
    }
    XCTAssertEqual(erfinv(1), .infinity)
    XCTAssertEqual(erfinv(-1), -.infinity)
  }
}
