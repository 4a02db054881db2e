import Foundation
import LocusBuild
import LocusCodegen

/// The machine's measured FMA peak (`locus bench`'s denominator for "fraction of peak"): every
/// thread runs 12 independent chains of vector FMAs at the widest width the compiler targets
/// (`-march=native`: zmm with AVX-512, ymm with AVX2), enough in flight to cover 2 pipes × 4-5 cycles
/// of latency, on register-resident data, for a fixed wall time. FLOPs count 2 per lane per FMA.
public enum PeakProbe {
  /// The probe's C, shared with the kernel benchmarks (templates/fma_probe.c).
  static var source: String { Templates.fmaProbe }

  /// GFLOP/s of `threads` threads: the best of five ~0.2 s runs (a busy machine only lowers it).
  public static func measure(threads: Int) throws(DriverError) -> Double {
    let library: BuiltLibrary
    do {
      let compiler = try Compiler.fromEnvironment()
      library = try compiler.build(BuildRequest(name: "locus_fma_probe", sources: [SourceFile(name: "fma_probe.c", text: source)],
                                                extraFlags: ["-ffp-contract=fast"]))
    } catch {
      throw .build(error)
    }
    guard let handle = dlopen(library.path, RTLD_NOW | RTLD_LOCAL), let symbol = dlsym(handle, "locus_fma_probe") else {
      throw .usage("cannot load the FMA probe \(library.path): \(dlerror().map { String(cString: $0) } ?? "dlopen failed")")
    }
    typealias Probe = @convention(c) (Int32, Int) -> Double
    let probe = unsafeBitCast(symbol, to: Probe.self)
    var iterations = 1 << 20
    while true {  // calibrate to ~0.2 s per run
      let start = ContinuousClock.now
      _ = probe(Int32(threads), iterations)
      if Driver.seconds(ContinuousClock.now - start) > 0.05 || iterations > 1 << 30 { break }
      iterations *= 4
    }
    iterations *= 4
    return (0..<5).map { _ in probe(Int32(threads), iterations) }.max()! / 1e9
  }
}
