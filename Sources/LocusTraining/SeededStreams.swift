import LocusRuntime

// Randomness of the training data, fixed by the seed alone: the same (seed, epoch) gives the same
// batches on every platform and Swift version, so a resumed run sees exactly what an uninterrupted
// one would have. We use LocusRuntime's SplitMix64 and xoshiro256** and write the two algorithms
// the standard library would otherwise supply (bounded integers, shuffling), since its versions
// are not promised to stay the same across releases.

enum StreamPurpose: UInt64 {
  case shuffle = 1
  case augmentation = 2
}

enum SeededStreams {
  /// The seed of one independent stream: the run's seed, a purpose, then any indices (epoch,
  /// sample), each folded in through SplitMix64's finaliser (a bijection with full avalanche).
  static func seed(_ seed: UInt64, _ purpose: StreamPurpose, _ indices: Int...) -> UInt64 {
    var h = SplitMix64.mix(seed ^ SplitMix64.mix(purpose.rawValue))
    for index in indices { h = SplitMix64.mix(h ^ UInt64(bitPattern: Int64(index))) }
    return h
  }

  /// A uniformly random permutation of 0..<count (Fisher–Yates, from the back).
  static func permutation(count: Int, using rng: inout some RandomNumberGenerator) -> [Int] {
    var order = Array(0..<count)
    var i = count - 1
    while i > 0 {
      let j = Int(rng.uniform(below: UInt64(i + 1)))
      order.swapAt(i, j)
      i -= 1
    }
    return order
  }
}

extension RandomNumberGenerator {
  /// Uniform in 0..<n without modulo bias: Lemire's multiply-and-reject ("Fast random integer
  /// generation in an interval", 2019). n must be > 0.
  mutating func uniform(below n: UInt64) -> UInt64 {
    var m = next().multipliedFullWidth(by: n)
    if m.low < n {
      let threshold = (0 &- n) % n
      while m.low < threshold { m = next().multipliedFullWidth(by: n) }
    }
    return m.high
  }
}
