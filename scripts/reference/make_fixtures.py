"""Write the end-to-end test fixtures: tiny configurations of every spec with reference logits.

For each spec, Tests/LocusEndToEndTests/Fixtures/<spec>/ gets
  config.json          {"spec", "set": constant overrides for the Locus spec, "rtol", "atol"}
  weights.safetensors  the model's state_dict (float32; num_batches_tracked int64), see locus_ref/weights.py
  input_b1.npy         [1, C, Hh, Ww] float32, the first row of input_b3
  input_b3.npy         [3, C, Hh, Ww] float32, standard normal
  logits_b1.npy        [1, classes] float32: the model run in float64 on the stored weights, then cast
  logits_b3.npy        [3, classes] float32, likewise
Before writing, it checks that the float32 model agrees with the float64 one (so the fixture is
attainable at float32) and that batch 1 equals row 0 of batch 3. Everything is seeded from the
spec name: running the script twice gives identical bytes.

    python make_fixtures.py [--out DIR] [SPEC ...]
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from locus_ref.data import random_inputs, run, run_f64, seed_of
from locus_ref.weights import randomize
from models import SPECS, build

OUT = Path(__file__).resolve().parents[2] / "Tests" / "LocusEndToEndTests" / "Fixtures"
RTOL, ATOL = 1e-4, 1e-5
F32_VS_F64 = 1e-5            # max|f32 - f64| / max|f64| the float32 run must reach
SIZE_LIMIT = 10 * 1024 ** 2  # bytes for the whole Fixtures folder (inference, train/ capped at 3 MB by make_train_fixtures, drop_path/, primitives/)

VIT = dict(dim=32, depth=2, heads=2, image=32, patch=8, classes=10)
SAG = dict(dim=32, heads=2, classes=10, depth2=1, depth3=1, depth4=1)
TINY = {
    "deit_tiny": VIT,
    "localvit_tiny": {**VIT, "reduction": 32},        # reduction = dim, the model's rule
    "localvit_tiny_se4": VIT,                         # keeps reduction 4
    "localvit_tiny_relu6": VIT,
    "localvit_small": {**VIT, "reduction": 32},
    "localvit_fmnist": {"dim": 32, "depth": 2, "reduction": 32},
    "ceit_tiny": dict(dim=32, depth=2, heads=2, image=32, classes=10, stem=16),
    "sag_tiny_cifar": {**SAG, "image": 16},
    "sag_tiny_imagenet": {**SAG, "image": 64},
}


def reference_logits(model, x):
    """float64 logits of `model` (float32 weights upcast), after checking float32 reaches them."""
    want = run_f64(model, x)
    got = run(model, x)
    rel = np.abs(got - want).max() / np.abs(want).max()
    if rel > F32_VS_F64 or not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        raise RuntimeError(f"float32 and float64 disagree: max rel {rel:.2e}")
    return want, rel


def write(name, out):
    image = {**SPECS[name][0], **TINY[name]}["image"]
    model = randomize(build(name, **TINY[name]), seed_of(name))
    x3 = random_inputs(model, name, image)
    x1 = x3[:1].copy()
    logits3, rel3 = reference_logits(model, x3)
    logits1, rel1 = reference_logits(model, x1)
    if not np.allclose(logits1[0], logits3[0], rtol=1e-12, atol=1e-12):
        raise RuntimeError("batch 1 differs from row 0 of batch 3")
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    config = {"spec": name, "set": TINY[name], "rtol": RTOL, "atol": ATOL}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(model.state_dict(), str(folder / "weights.safetensors"))
    for file, array in [("input_b1", x1), ("input_b3", x3), ("logits_b1", logits1), ("logits_b3", logits3)]:
        np.save(folder / f"{file}.npy", array.astype(np.float32))
    size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"{name:22s} {size / 1024:8.1f} KiB  logits max |x| {np.abs(logits3).max():7.3f}  "
          f"f32 vs f64 rel {max(rel1, rel3):.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=list(TINY), help="default: all")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in args.specs:
        write(name, args.out)
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"Fixtures total {total / 1024 ** 2:.2f} MiB (limit {SIZE_LIMIT / 1024 ** 2:.0f} MiB)")
    return 1 if total > SIZE_LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
