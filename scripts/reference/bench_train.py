"""Training throughput of a spec's model (default localvit_fmnist) in PyTorch: forward + backward + AdamW step on random data.

Times eager mode and, when it works on this machine, torch.compile (the model compiled, the optimizer eager);
a compile failure is reported and skipped.

    python bench_train.py [--spec localvit_fmnist] [--batch 64] [--threads 2] [--steps 30] [--rounds 5] [--warmup 5]
                          [--max-steal 5] [--extra-rounds N] [--no-compile] [--json] [--locus ../../.build/release/locus]

With --locus, the same step of Locus's generated training library (`locus train --benchmark-steps`,
same batch, threads, clipping and AdamW settings) is timed in the same run, and the ratios Locus / eager
and Locus / torch.compile are printed.

The frameworks take turns: each is warmed up once (--warmup steps), then --rounds rounds each time
--steps steps of eager, then torch.compile, then Locus (a `locus train --benchmark-steps` process per
round, which warms up by itself). Each column is the median of its pooled steps, and "per round" gives
the range of Locus / eager over the rounds: this VM's speed drifts by 10-70 % over minutes, and one
framework timed alone during a slow phase skews a sequential comparison. A round during which the
hypervisor stole more than --max-steal percent of the VM's CPU time (/proc/stat) is discarded and run
again, up to --extra-rounds times; the output gives the kept rounds' steal.

Leave KMP_BLOCKTIME unset: Locus's runtime then uses its default of 1 ms (LocusRuntime's
ModelLibrary.open), so its workers spin across the short gaps between a step's ~330 kernels.
KMP_BLOCKTIME=0 makes every one of those parallel regions wake a sleeping worker (15-70 µs each
on this VM), a cost only Locus pays: PyTorch's OpenMP is libgomp, which ignores the variable.
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

from locus_ref import steal
from locus_ref.train import adamw, loss_of
from models import build, constants


class Stepper:
    """One PyTorch mode's model and optimizer, kept across rounds."""

    def __init__(self, mode, args, x, y):
        torch.manual_seed(0)
        model = build(args.spec).train()
        self.model = torch.compile(model) if mode == "compile" else model
        self.opt = adamw(model, 2e-3, 0.05)
        self.x, self.y, self.clip = x, y, args.clip

    def steps(self, n):
        """Milliseconds of each of n forward + backward (+ clip) + AdamW steps."""
        times = []
        for _ in range(n):
            tic = time.perf_counter()
            self.opt.zero_grad(set_to_none=True)
            loss = loss_of(self.model(self.x), self.y)
            loss.backward()
            if self.clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.opt.step()
            times.append((time.perf_counter() - tic) * 1e3)
        return times


def summary(times, batch):
    median = statistics.median(times)
    return {"ms_per_step": median, "min_ms_per_step": min(times), "images_per_s": batch / (median / 1e3),
            "steps": len(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="localvit_fmnist", help="a spec of specs/ with a PyTorch reference model")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per framework per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (see the module docstring)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--clip", type=float, default=0.0, help="also clip the global grad norm (train_fmnist: 1.0)")
    parser.add_argument("--max-steal", type=float, default=5.0,
                        help="percent of hypervisor steal above which a round is discarded and run again")
    parser.add_argument("--extra-rounds", type=int,
                        help="most rounds run again (default: --rounds); then the least-stolen are kept")
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
              "rounds": args.rounds, "warmup": args.warmup, "clip": args.clip, "torch": torch.__version__}
    steppers, times = {}, {}
    for mode in ["eager"] + ([] if args.no_compile else ["compile"]):
        try:
            steppers[mode] = Stepper(mode, args, x, y)
            steppers[mode].steps(args.warmup)                                  # torch.compile compiles here
            times[mode] = []
        except Exception as e:                                              # inductor needs a working C++ toolchain
            result[mode] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    if args.locus:
        times["locus"] = []
    start = steal.ticks()

    locus_error = None

    def one_round(_):
        nonlocal locus_error
        run = {mode: stepper.steps(args.steps) for mode, stepper in steppers.items()}
        if args.locus and locus_error is None:
            locus = bench_locus(args)
            if "error" in locus:
                locus_error = locus
            else:
                run["locus"] = locus["times_ms"]
        return run

    rounds, info = steal.clean_rounds(args.rounds, one_round, limit=args.max_steal / 100, extra=args.extra_rounds)
    if locus_error is not None:
        result["locus"] = locus_error
        times.pop("locus", None)
    per_round = []
    for run in rounds:
        for mode, t in run.items():
            if mode in times:
                times[mode] += t
        if "locus" in times and "locus" in run and "eager" in run:
            per_round.append(statistics.median(run["locus"]) / statistics.median(run["eager"]))
    for mode, t in times.items():
        if t and "error" not in result.get(mode, {}):
            result[mode] = summary(t, args.batch)
    if "ms_per_step" in result.get("locus", {}):
        for mode in ["eager", "compile"]:
            if "ms_per_step" in result.get(mode, {}):
                result[f"locus_over_{mode}"] = result["locus"]["ms_per_step"] / result[mode]["ms_per_step"]
        if per_round:
            result["locus_over_eager_per_round"] = [min(per_round), max(per_round)]
    result["steal_fraction"] = steal.fraction(start, steal.ticks())
    result["rounds_steal"] = info
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.spec} train step (fwd + bwd + AdamW), batch {args.batch}, {args.threads} threads, "
          f"{args.rounds} interleaved rounds of {args.steps} steps after {args.warmup} warm-up, torch {torch.__version__}")
    for mode in ["eager", "compile", "locus"]:
        r = result.get(mode)
        if r is None:
            continue
        if "error" in r:
            print(f"  {mode:8s} skipped: {r['error']}")
        else:
            print(f"  {mode:8s} {r['ms_per_step']:8.2f} ms/step (min {r['min_ms_per_step']:.2f})  "
                  f"{r['images_per_s']:8.0f} images/s")
    if "locus_over_eager" in result:
        lo, hi = result.get("locus_over_eager_per_round", [float("nan")] * 2)
        print(f"  locus / eager: {result['locus_over_eager']:.2f}× the time per step (per round {lo:.2f}-{hi:.2f})")
    if "locus_over_compile" in result:
        print(f"  locus / torch.compile: {result['locus_over_compile']:.2f}×")
    print(f"  hypervisor steal during the timed rounds: {steal.describe(result['steal_fraction'])} (/proc/stat); "
          f"kept rounds: {steal.describe_rounds(info)}")
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
    run = json.loads(out.stdout.strip().splitlines()[-1])
    if "times_ms" not in run:
        return {"error": "this locus binary prints no times_ms: rebuild it"}
    return run


if __name__ == "__main__":
    sys.exit(main())
