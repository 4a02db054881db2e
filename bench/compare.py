"""Inference latency of the bundled models: PyTorch eager, torch.compile and Locus side by side, one run.

For each spec and batch: the project's PyTorch reference model (scripts/reference/models.py, the same
architecture and parameter names as the spec) in eager mode and under torch.compile, ONNX Runtime on its
export, and `locus bench` on the same spec, batch and threads. Each is warmed up (--warmup untimed
forwards), then the four are timed in --rounds interleaved rounds of --runs / --rounds forwards each
(eager, compile, ONNX Runtime, Locus, then again): this machine's speed drifts by 10-70 % over minutes,
and one framework timed entirely in a slow phase would skew the ratio. Each column is the median of its
pooled runs. Prints a markdown table (and writes it to --out), with Locus's time divided by the best of
the others, and the range of that ratio over the rounds (each round's medians), which says how far a
single sequential run could have strayed. A round during which the hypervisor gave more than --max-steal
percent of the VM's CPU time to other guests (/proc/stat's steal) is discarded and run again, up to
--extra-rounds times per row; the table says how much steal the kept rounds saw and how many were
discarded, so a row timed while a neighbour was busy is not mistaken for a result. ONNX Runtime is used when `import onnxruntime` works (pip
install onnxruntime onnx onnxscript: torch.onnx.export needs the last two); an export or session failure
is reported and skipped.

    python bench/compare.py [--specs deit_tiny localvit_tiny ceit_tiny sag_tiny_cifar] [--batches 1 16]
                            [--threads 2] [--runs 20] [--rounds 5] [--warmup 3] [--max-steal 5]
                            [--extra-rounds N] [--no-compile]
                            [--out BENCHMARKS.md]

Run it from the repository root with a venv that has torch (scripts/reference/README.md) and after
`swift build -c release`.
"""
import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "reference"))

import torch  # noqa: E402

from locus_ref import constants, steal  # noqa: E402
from models import build  # noqa: E402

LOCUS = ROOT / ".build" / "release" / "locus"


def timer(fn, x):
    """A function of n that times n calls of fn(x) and returns their times in ms."""
    def run(n):
        times = []
        with torch.inference_mode():
            for _ in range(n):
                tic = time.perf_counter()
                fn(x)
                times.append((time.perf_counter() - tic) * 1e3)
        return times
    return run


def onnx_runtime(model, x, threads, path):
    """A timer for ONNX Runtime on model's export, or None when it is not installed or fails."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the exporter's progress lines, not the table's stdout
            torch.onnx.export(model, (x,), path, opset_version=17, input_names=["x"], output_names=["y"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # reported, not fatal: the other columns still mean something
        print(f"ONNX Runtime skipped for {path}: {e}", file=sys.stderr)
        return None
    feed = {"x": x.numpy()}
    return timer(lambda _: session.run(None, feed), None)


def locus_bench(spec, batch, threads, runs, warmup):
    """One `locus bench --json` invocation (compiled once, then from the build cache)."""
    out = subprocess.run([str(LOCUS), "bench", f"specs/{spec}.locus", "--batch", str(batch), "--threads", str(threads),
                          "--runs", str(runs), "--warmup", str(warmup), "--json"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def compare(spec, batch, model, compiled, args):
    """Times the frameworks in interleaved rounds; returns the table row."""
    c = constants(spec)
    x = torch.randn(batch, c.get("in_chans", 3), c["image"], c["image"])
    timers = {"eager": timer(model, x)}
    if compiled is not None:
        timers["compile"] = timer(compiled, x)
    ort = onnx_runtime(model, x, args.threads, f"/tmp/{spec}_b{batch}.onnx")
    if ort is not None:
        timers["ort"] = ort
    for name in list(timers):
        try:
            timers[name](args.warmup)
        except Exception as e:  # a compile failure is reported, not fatal
            print(f"{spec} b{batch}: {name} failed: {e}", file=sys.stderr)
            del timers[name]
    per_round = max(1, args.runs // args.rounds)

    def one_round(r):
        times = {name: run(per_round) for name, run in timers.items()}
        # The first round warms Locus up like the others; later rounds need one run to load the library.
        return times, locus_bench(spec, batch, args.threads, per_round, args.warmup if r == 0 else 1)

    rounds, info = steal.clean_rounds(args.rounds, one_round, limit=args.max_steal / 100, extra=args.extra_rounds)
    pooled = {name: [] for name in list(timers) + ["locus"]}
    ratios, peaks, rss = [], [], 0
    for times, report in rounds:
        for name, t in times.items():
            pooled[name] += t
        pooled["locus"] += report["times_ms"]
        peaks.append(report["peak_gflops"])
        rss = max(rss, report["peak_rss_bytes"])
        ratios.append(statistics.median(report["times_ms"]) / min(statistics.median(t) for t in times.values()))
    med = {name: statistics.median(times) for name, times in pooled.items()}
    best = min(t for name, t in med.items() if name != "locus")
    gflops = report["gflop_per_forward"] / (med["locus"] / 1e3)
    return (spec, batch, med.get("eager"), med.get("compile"), med.get("ort"), med["locus"], med["locus"] / best,
            min(ratios), max(ratios), 100 * gflops / statistics.median(peaks), rss / 2 ** 20,
            steal.describe_rounds(info))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["deit_tiny", "localvit_tiny", "ceit_tiny", "sag_tiny_cifar"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-steal", type=float, default=5.0,
                        help="percent of hypervisor steal above which a round is discarded and run again")
    parser.add_argument("--extra-rounds", type=int,
                        help="most rounds run again per row (default: --rounds); then the least-stolen are kept")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.rounds < 1 or args.runs < args.rounds:
        parser.error("--rounds must be at least 1 and at most --runs")
    rows, start = [], steal.ticks()
    for spec in args.specs:
        model = build(spec).eval()
        compiled = None if args.no_compile else torch.compile(model)
        for batch in args.batches:
            rows.append(compare(spec, batch, model, compiled, args))
            print(rows[-1], file=sys.stderr)

    fmt = lambda t: "–" if t is None else f"{t:.1f}"
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}; "
             f"{args.threads} threads; median of {args.runs // args.rounds * args.rounds} runs in {args.rounds} interleaved "
             f"rounds after {args.warmup} warm-up (rounds with more than {args.max_steal:g} % hypervisor steal run "
             f"again); `python bench/compare.py`; hypervisor steal during the whole run "
             f"{steal.describe(steal.fraction(start, steal.ticks()))} (/proc/stat).", "",
             "| model | batch | PyTorch eager ms | torch.compile ms | ONNX Runtime ms | Locus ms | Locus / best | per round | "
             "Locus % of peak | Locus RSS MiB | steal in kept rounds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for spec, batch, eager, comp, ort, locus, ratio, low, high, peak, rss, stolen in rows:
        lines.append(f"| {spec} | {batch} | {fmt(eager)} | {fmt(comp)} | {fmt(ort)} | {locus:.1f} | {ratio:.2f}× | "
                     f"{low:.2f}–{high:.2f}× | {peak:.0f} % | {rss:.0f} | {stolen} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text("# Benchmarks\n\n" + table + "\n")


if __name__ == "__main__":
    main()
