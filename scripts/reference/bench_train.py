"""Training throughput of a spec's model (default localvit_fmnist) in PyTorch: forward + backward + AdamW step on random data.

Times eager mode and, when it works on this machine, torch.compile (the model compiled, the optimizer eager);
a compile failure is reported and skipped. Each mode: 5 warm-up steps, then the median of 30 timed steps.

    python bench_train.py [--spec localvit_fmnist] [--batch 64] [--threads 2] [--steps 30] [--warmup 5] [--no-compile] [--json]
                          [--locus ../../.build/release/locus]

With --locus, the same step of Locus's generated training library (`locus train --benchmark-steps`,
same batch, threads, steps, clipping and AdamW settings) is timed in the same run, after PyTorch, and
the ratio Locus / eager is printed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from locus_ref.train import adamw, loss_of
from models import build, constants


def time_steps(model, x, y, warmup, steps, clip):
    """Median and min seconds of one forward + backward (+ clip) + AdamW step, after `warmup` untimed steps."""
    opt = adamw(model, 2e-3, 0.05)
    times = []
    for i in range(warmup + steps):
        tic = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model(x), y)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - tic)
    return statistics.median(times), min(times)


def bench(mode, args, x, y):
    torch.manual_seed(0)
    model = build(args.spec).train()
    if mode == "compile":
        model = torch.compile(model)
    tic = time.perf_counter()
    median, best = time_steps(model, x, y, args.warmup, args.steps, args.clip)
    return {"ms_per_step": median * 1e3, "min_ms_per_step": best * 1e3,
            "images_per_s": args.batch / median, "total_s": time.perf_counter() - tic}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="localvit_fmnist", help="a spec of specs/ with a PyTorch reference model")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--clip", type=float, default=0.0, help="also clip the global grad norm (train_fmnist: 1.0)")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--locus", type=Path, help="the locus binary: also time its training library")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    c = constants(args.spec)
    x = torch.randn(args.batch, c.get("in_chans", 3), c["image"], c["image"], generator=gen)
    y = torch.randint(0, c["classes"], (args.batch,), generator=gen)

    result = {"spec": args.spec, "batch": args.batch, "threads": args.threads, "steps": args.steps,
              "warmup": args.warmup, "clip": args.clip, "torch": torch.__version__}
    for mode in ["eager"] + ([] if args.no_compile else ["compile"]):
        try:
            result[mode] = bench(mode, args, x, y)
        except Exception as e:                                              # inductor needs a working C++ toolchain
            result[mode] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    if args.locus:
        result["locus"] = bench_locus(args)
        if "eager" in result and "ms_per_step" in result["eager"]:
            result["locus_over_eager"] = result["locus"]["median_ms"] / result["eager"]["ms_per_step"]
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.spec} train step (fwd + bwd + AdamW), batch {args.batch}, {args.threads} threads, "
          f"median of {args.steps} after {args.warmup} warm-up, torch {torch.__version__}")
    for mode in ["eager", "compile"]:
        r = result.get(mode)
        if r is None:
            continue
        if "error" in r:
            print(f"  {mode:8s} skipped: {r['error']}")
        else:
            print(f"  {mode:8s} {r['ms_per_step']:8.2f} ms/step (min {r['min_ms_per_step']:.2f})  "
                  f"{r['images_per_s']:8.0f} images/s")
    if "locus" in result:
        r = result["locus"]
        print(f"  {'locus':8s} {r['median_ms']:8.2f} ms/step (min {r['min_ms']:.2f})  {r['images_per_s']:8.0f} images/s")
        if "locus_over_eager" in result:
            print(f"  locus / eager: {result['locus_over_eager']:.2f}× the time per step")
    return 0


def bench_locus(args):
    """`locus train --benchmark-steps`: the spec's initial weights, random images, the same step."""
    root = Path(__file__).resolve().parents[2]
    command = [str(args.locus.resolve()), "train", f"specs/{args.spec}.locus", "--batch", str(args.batch),
               "--threads", str(args.threads), "--benchmark-steps", str(args.steps), "--clip", str(args.clip),
               "--json"]
    out = subprocess.run(command, cwd=root, capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        return {"error": out.stderr.strip()}
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
