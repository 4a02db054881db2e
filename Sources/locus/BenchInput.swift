import LocusDriver
import LocusIR
import LocusRuntime

/// The input every timing command feeds a model (summary, bench, profile): `count` floats uniform
/// in [−1, 1] in steps of 0.001, from a fixed seed, so their runs see the same data.
func benchmarkInput(count: Int) -> [Float] {
  var rng = SplitMix64(seed: 1)
  return (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
}

/// --threads, then --weights or, without them, the seeded initialisation of `graph` (for a
/// training library, the inference graph it was derived from: they share parameters): what
/// profile and train do to a loaded model before their runs.
func bindWeights(_ model: CompiledModel, path: String?, orInitialisationOf graph: Graph, seed: UInt64, threads: Int?) throws {
  if let threads { try model.setThreads(threads) }
  if let path {
    try model.bindWeights(try SafeTensorsFile.read(path: path))
  } else {
    try model.bindWeights(try Driver.initialWeights(for: graph, seed: seed), sourceName: "the spec's initialisation (seed \(seed))")
  }
}
