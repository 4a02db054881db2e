import LocusRuntime

/// The input every timing command feeds a model (summary, bench, profile): `count` floats uniform
/// in [−1, 1] in steps of 0.001, from a fixed seed, so their runs see the same data.
func benchmarkInput(count: Int) -> [Float] {
  var rng = SplitMix64(seed: 1)
  return (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
}
