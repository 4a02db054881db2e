"""Compare the Locus CLI with the PyTorch reference at full size (developer machine, not CI).

For each spec (or --spec NAME): build the full-size model with seeded random weights
(locus_ref/weights.py), save them as safetensors, save inputs B=1 and B=3 as .npy, run
    LOCUS run specs/<name>.locus --weights W --input X --output Y
and compare Y with the float64 PyTorch logits. Measures: rel = max|a-b| / max|b| (pass if
<= --rtol) and the worst element of |a-b| / (|b| + atol), printed with its index. Exits 1 if any
comparison fails or the CLI fails. --torch-only puts PyTorch's own float32 run in place of the CLI
(a check of this script and of float32 attainability, needs no Locus build).

    python check_full.py [--spec NAME ...] [--locus .build/release/locus] [--torch-only] [--keep DIR]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from locus_ref.data import random_inputs, run, run_f64, seed_of
from locus_ref.weights import randomize
from models import SPECS, build

REPO = Path(__file__).resolve().parents[2]


def compare(got, want, atol):
    """-> (rel, worst elementwise error, its index) of got against want."""
    diff = np.abs(got - want)
    elem = diff / (np.abs(want) + atol)
    worst = np.unravel_index(np.nanargmax(elem) if not np.isnan(elem).all() else 0, elem.shape)
    return diff.max() / np.abs(want).max(), elem[worst], tuple(int(i) for i in worst)


def locus_logits(args, name, weights, x, folder, tag):
    """Run the Locus CLI on x and return its output, or raise with its stderr."""
    x_path, y_path = folder / f"input_{tag}.npy", folder / f"locus_logits_{tag}.npy"
    np.save(x_path, x)
    command = [str(args.locus), "run", f"specs/{name}.locus",                   # relative to cwd=REPO
               "--weights", str(weights), "--input", str(x_path), "--output", str(y_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.strip()}")
    return np.load(y_path).astype(np.float64)


def check(args, name, folder):
    """Print one table row per batch size; return the number of failures."""
    model = randomize(build(name), seed_of(name))
    weights = folder / "weights.safetensors"
    save_file(model.state_dict(), str(weights))
    x3 = random_inputs(model, name, SPECS[name][0]["image"])
    failures = 0
    for tag, x in [("b1", x3[:1].copy()), ("b3", x3)]:
        want = run_f64(model, x)
        try:
            got = run(model, x) if args.torch_only else locus_logits(args, name, weights, x, folder, tag)
        except (RuntimeError, OSError) as error:
            print(f"{name:22s} {tag}  FAIL  {error}")
            failures += 1
            continue
        if got.shape != want.shape:
            print(f"{name:22s} {tag}  FAIL  output shape {got.shape}, expected {want.shape}")
            failures += 1
            continue
        rel, elem, at = compare(got, want, args.atol)
        ok = rel <= args.rtol                                   # False for NaN too
        failures += not ok
        print(f"{name:22s} {tag}  {'ok  ' if ok else 'FAIL'}  {rel:9.2e}  {elem:9.2e}  {str(at):10s} "
              f"{got[at]:+11.6f} {want[at]:+11.6f}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", action="append", choices=list(SPECS), help="repeatable; default: all")
    parser.add_argument("--locus", type=Path, default=REPO / ".build" / "release" / "locus")
    parser.add_argument("--rtol", type=float, default=1e-4, help="max allowed max|a-b| / max|b|")
    parser.add_argument("--atol", type=float, default=1e-5, help="floor of the elementwise denominator")
    parser.add_argument("--torch-only", action="store_true", help="compare PyTorch float32, not the CLI")
    parser.add_argument("--keep", type=Path, help="write weights, inputs and outputs here (default: temp)")
    args = parser.parse_args()
    if not args.torch_only and not args.locus.exists():
        parser.error(f"no Locus binary at {args.locus}: build it (swift build -c release) or pass --locus")
    torch.set_num_threads(2)
    print(f"{'spec':22s} B   ok?   rel        worst elem at          got        want")
    failures = 0
    with tempfile.TemporaryDirectory() as temp:
        for name in args.spec or list(SPECS):
            folder = (args.keep or Path(temp)) / name
            folder.mkdir(parents=True, exist_ok=True)
            failures += check(args, name, folder)
    print("all match" if not failures else f"{failures} comparison(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
