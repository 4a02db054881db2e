"""Inference latency of the bundled models: PyTorch eager, torch.compile and Locus side by side, one run.

For each spec and batch: the project's PyTorch reference model (scripts/reference/models.py, the same
architecture and parameter names as the spec) in eager mode and under torch.compile, then `locus bench`
on the same spec, batch and threads, one after the other on the same machine. PyTorch: --warmup untimed
forwards, then the median of --runs. Prints a markdown table (and writes it to --out), with Locus's
time divided by the best of them. ONNX Runtime is used when `import onnxruntime` works (pip install onnxruntime
onnx onnxscript: torch.onnx.export needs the last two); an export or session failure is reported and skipped.

    python bench/compare.py [--specs deit_tiny localvit_tiny ceit_tiny sag_tiny_cifar] [--batches 1 16]
                            [--threads 2] [--runs 20] [--warmup 3] [--no-compile] [--out BENCHMARKS.md]

Run it from the repository root with a venv that has torch (scripts/reference/README.md) and after
`swift build -c release`.
"""
import argparse
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

from locus_ref import constants  # noqa: E402
from models import build  # noqa: E402

LOCUS = ROOT / ".build" / "release" / "locus"


def time_forward(fn, x, warmup, runs):
    with torch.inference_mode():
        for _ in range(warmup):
            fn(x)
        times = []
        for _ in range(runs):
            tic = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - tic)
    return statistics.median(times) * 1e3


def onnx_runtime(model, x, threads, warmup, runs, path):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    try:
        torch.onnx.export(model, (x,), path, opset_version=17, input_names=["x"], output_names=["y"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # reported, not fatal: the other columns still mean something
        print(f"ONNX Runtime skipped for {path}: {e}", file=sys.stderr)
        return None
    feed = {"x": x.numpy()}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        tic = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - tic)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["deit_tiny", "localvit_tiny", "ceit_tiny", "sag_tiny_cifar"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for spec in args.specs:
        c = constants(spec)
        model = build(spec).eval()
        compiled = None if args.no_compile else torch.compile(model)
        for batch in args.batches:
            x = torch.randn(batch, c.get("in_chans", 3), c["image"], c["image"])
            eager = time_forward(model, x, args.warmup, args.runs)
            comp = None
            if compiled is not None:
                try:
                    comp = time_forward(compiled, x, args.warmup, args.runs)
                except Exception as e:  # a compile failure is reported, not fatal
                    print(f"{spec} b{batch}: torch.compile failed: {e}", file=sys.stderr)
            ort = onnx_runtime(model, x, args.threads, args.warmup, args.runs, f"/tmp/{spec}_b{batch}.onnx")
            out = subprocess.run([str(LOCUS), "bench", f"specs/{spec}.locus", "--batch", str(batch), "--threads", str(args.threads),
                                  "--runs", str(args.runs), "--warmup", str(args.warmup), "--json"],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
            locus = json.loads(out.stdout)
            best = min(t for t in (eager, comp, ort) if t is not None)
            rows.append((spec, batch, eager, comp, ort, locus["median_ms"], locus["median_ms"] / best,
                         100 * locus["peak_fraction"], locus["peak_rss_bytes"] / 2 ** 20))
            print(rows[-1], file=sys.stderr)

    fmt = lambda t: "–" if t is None else f"{t:.1f}"
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}; "
             f"{args.threads} threads; median of {args.runs} runs after {args.warmup} warm-up; `python bench/compare.py`.", "",
             "| model | batch | PyTorch eager ms | torch.compile ms | ONNX Runtime ms | Locus ms | Locus / best | Locus % of peak | Locus RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for spec, batch, eager, comp, ort, locus, ratio, peak, rss in rows:
        lines.append(f"| {spec} | {batch} | {fmt(eager)} | {fmt(comp)} | {fmt(ort)} | {locus:.1f} | {ratio:.2f}× | {peak:.0f} % | {rss:.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text("# Benchmarks\n\n" + table + "\n")


if __name__ == "__main__":
    main()
