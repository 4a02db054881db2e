import LocusIR

/// The profiling part of `<m>.c` when compiled with `--profile` (`locus profile`, DESIGN.md §9):
/// one record per kernel of forward (its IR node, FLOPs, compulsory bytes) and the counters that
/// LK_PROF_BEGIN/END around each kernel call fill: calls, total seconds, and the last call's start
/// and end (for a trace of one run). Read through `<m>_profile_count/_record/_reset`.
struct ProfileFile {
  let graph: Graph
  let nodes: [Node]

  func write(_ w: inout CWriter) {
    let m = graph.name, n = max(nodes.count, 1)
    w.blank()
    w.comment("Profiling (--profile): \(nodes.count) timed kernels. The clock is the monotonic clock_gettime where\n<time.h> offers it, else C11's timespec_get, else OpenMP's omp_get_wtime (microsecond ticks here:\nsmall kernels read 0), else clock(); in seconds since the first reading, so a double keeps the\nnanoseconds. Timing adds two clock reads per kernel call.")
    w.line("#include <time.h>")
    w.line("#if defined(CLOCK_MONOTONIC) || defined(TIME_UTC)")
    w.line("static time_t lk_prof_epoch;")
    w.open("static double lk_prof_now(void)")
    w.line("struct timespec t;")
    w.line("#  if defined(CLOCK_MONOTONIC)")
    w.line("clock_gettime(CLOCK_MONOTONIC, &t);")
    w.line("#  else")
    w.line("timespec_get(&t, TIME_UTC);")
    w.line("#  endif")
    w.line("if (lk_prof_epoch == 0) lk_prof_epoch = t.tv_sec;")
    w.line("return (double)(t.tv_sec - lk_prof_epoch) + 1e-9 * (double)t.tv_nsec;")
    w.close("lk_prof_now")
    w.line("#elif defined(_OPENMP)")
    w.line("double omp_get_wtime(void);")
    w.line("static double lk_prof_now(void) { return omp_get_wtime(); }")
    w.line("#else")
    w.line("static double lk_prof_now(void) { return (double)clock() / CLOCKS_PER_SEC; }")
    w.line("#endif")
    func table(_ declaration: String, _ value: (Node) -> String) {
      w.line("static const \(declaration)[\(n)] = {")
      for node in nodes { w.line("  \(value(node)),") }
      w.line("};")
    }
    table("char *const lk_prof_name") { "\"\(escape(label($0)))\"" }
    table("char *const lk_prof_op") { "\"\($0.op.mnemonic)\"" }
    table("double lk_prof_flops") { "\(graph.flops(of: $0)).0" }
    table("double lk_prof_bytes") { "\(bytes($0)).0" }
    w.line("static double lk_prof_total[\(n)], lk_prof_start[\(n)], lk_prof_end[\(n)];")
    w.line("static long lk_prof_calls[\(n)];")
    w.line("#define LK_PROF_BEGIN(k) const double lk_prof_t##k = lk_prof_now()")
    w.line("#define LK_PROF_END(k) do { const double e_ = lk_prof_now(); lk_prof_total[k] += e_ - lk_prof_t##k; ++lk_prof_calls[k]; \\")
    w.line("    lk_prof_start[k] = lk_prof_t##k; lk_prof_end[k] = e_; } while (0)")
    w.blank()
    w.comment("Kernels timed; record i: node label, op, FLOPs and bytes per call, calls, total seconds,\nand the last call's start/end on the profiling clock. Returns 0, or -1 for i out of range.")
    w.line("int \(m)_profile_count(void) { return \(nodes.count); }")
    w.open("int \(m)_profile_record(int i, const char **name, const char **op, double *flops, double *bytes, long *calls,\n    double *seconds, double *last_start, double *last_end)")
    w.line("if (i < 0 || i >= \(nodes.count)) return -1;")
    w.line("*name = lk_prof_name[i]; *op = lk_prof_op[i]; *flops = lk_prof_flops[i]; *bytes = lk_prof_bytes[i];")
    w.line("*calls = lk_prof_calls[i]; *seconds = lk_prof_total[i]; *last_start = lk_prof_start[i]; *last_end = lk_prof_end[i];")
    w.line("return 0;")
    w.close("\(m)_profile_record")
    w.comment("Zeroes every counter (after warm-up runs).")
    w.open("void \(m)_profile_reset(void)")
    w.line("for (int i = 0; i < \(n); ++i) { lk_prof_total[i] = lk_prof_start[i] = lk_prof_end[i] = 0; lk_prof_calls[i] = 0; }")
    w.close("\(m)_profile_reset")
  }

  /// `%12 linear blocks.0.attn.qkv`.
  func label(_ node: Node) -> String { "\(node.id) \(node.op.mnemonic)" + (node.scope.isEmpty ? "" : " \(node.scope)") }

  /// Compulsory traffic of one call: every operand read once, the result written once (float32,
  /// whole batch for batched values). What a kernel moves at best; the GB/s it implies is a floor.
  func bytes(_ node: Node) -> Int {
    let size = { (t: TensorType) in t.count * (t.batched ? graph.batch : 1) * 4 }
    return node.operands.reduce(size(node.type)) { $0 + size(graph[$1].type) }
  }

  private func escape(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
}
