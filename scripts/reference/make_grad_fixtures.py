"""Write the per-primitive gradient fixtures: every differentiable primitive on seeded random shapes.

Each case of locus_ref/primitive_cases.py is the graph AutodiffTests builds for one op: the case's
input x times a trainable `scale` of x's shape, the primitive (with its own parameters), flatten, and
a linear head to CLASSES logits. One spec holds every case side by side (so the test compiles one
training library): the model's input is all cases' inputs concatenated, each case reads its slice, and
the logits are the sum of the heads. The loss is F.cross_entropy(logits, labels, label_smoothing=0.1),
mean over the batch. A case's parameters reach the loss only through its own head, so a wrong gradient
rule shows in the gradients of the case that uses it (and a wrong forward kernel in every case and in
the loss).

Tests/LocusEndToEndTests/Fixtures/primitives/ gets
  primitives.locus      the spec (generated): block case_<name>(x) per case, model `primitives`
  index.json            {"spec", "model", "reference": "float64", "batch", "classes", "label_smoothing",
                         "bn_momentum", "seed", "rtol", "labels", "loss", "input_size",
                         "cases": [{"name", "primitives", "shape", "attrs", "locus", "input_offset",
                                    "input_std", "parameters": {name: shape}, "running_statistics",
                                    "torch_f32_error", "kink_margin"}]}
  <case>.safetensors    float32: "input" [B, *shape] (the case's slice of the model input), every
                        parameter under its Locus name (<case>.scale, <case>.conv.weight, …,
                        <case>.head.weight), "grad:<name>" for every trainable one, and
                        "updated:<name>" for BatchNorm running statistics after the pass (momentum 0.1)
The reference runs in float64 on the stored float32 values; results are cast to float32. The script
fails unless PyTorch's own float32 run reaches every gradient within RTOL / F32_MARGIN (relative to the
tensor's max |g|), unless every nonsmooth point (relu/relu6/hswish/hsigmoid kinks, maxpool argmax ties)
is at least KINK_MARGIN away, unless every gradient tensor is nonzero, and if the folder passes
SIZE_LIMIT. Seeded: running it twice gives identical bytes.

    python make_grad_fixtures.py [--out DIR]
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from locus_ref import primitives
from locus_ref.data import seed_of
from locus_ref.primitive_cases import CASES
from make_fixtures import OUT as FIXTURES
from make_fixtures import SIZE_LIMIT as ALL_FIXTURES_LIMIT

OUT = FIXTURES / "primitives"
BATCH = 3
CLASSES = 4
LABEL_SMOOTHING = 0.1
RTOL = 1e-4                # the test's tolerance: max |Locus - reference| <= RTOL * max |reference|, per tensor
F32_MARGIN = 10            # PyTorch float32 must reach RTOL with this factor to spare
KINK_MARGIN = 1e-3         # least distance of any value from a kink (or between a window's top two)
SIZE_LIMIT = 512 * 1024    # bytes for primitives/
SEED = seed_of("primitives")


class Draw:
    """Shapes and attributes: integers in [lo, hi], choices, non-identity permutations."""

    def __init__(self, seed):
        self.g = np.random.default_rng(seed)

    def int(self, lo, hi):
        return int(self.g.integers(lo, hi + 1))

    def pick(self, *xs):
        return xs[int(self.g.integers(len(xs)))]

    def perm(self, n):
        while True:
            p = [int(i) for i in self.g.permutation(n)]
            if p != list(range(n)):
                return p


def initial(g, init, shape):
    a = g.standard_normal(shape) * init[1] if init[0] == "normal" else g.uniform(init[1], init[2], shape)
    return a.astype(np.float32)


def draw_cases():
    """[(name, primitives, Case, {full name: Param}, {"input" or full name: float32 array})] in table order."""
    shapes, values = Draw(SEED), np.random.default_rng(SEED + 1)
    out = []
    for name, (covers, draw) in CASES.items():
        case = draw(shapes)
        params = {f"{name}.scale": primitives.Param("scale", case.shape, ("uniform", 0.5, 1.5), free=True)}
        params.update({f"{name}.{p.name}": p for p in case.params})
        arrays = {n: initial(values, p.init, p.shape) for n, p in params.items()}
        # A float64 pass gives the head's width (the size of y) and the distance from the kinks: an input
        # with a value too close to one (a rare draw, e.g. a near tie in a maxpool window) is drawn again.
        for _ in range(10):
            arrays["input"] = (values.standard_normal([BATCH] + case.shape) * case.input_std).astype(np.float32)
            h = torch.from_numpy(arrays["input"]).double() * torch.from_numpy(arrays[f"{name}.scale"]).double()
            primitives.MARGINS.clear()
            width = case.torch(h, {p.name: torch.tensor(arrays[n], dtype=torch.float64) for n, p in params.items()})[0].numel()
            if min(primitives.MARGINS, default=math.inf) >= KINK_MARGIN:
                break
        # Heads of std 1/sqrt(width · cases): the summed logits stay O(1), not O(sqrt(cases)).
        head = ("normal", 1 / math.sqrt(width * len(CASES)))
        for leaf, init in [("head.weight", head), ("head.bias", primitives.BIAS)]:
            shape = [CLASSES, width] if leaf == "head.weight" else [CLASSES]
            params[f"{name}.{leaf}"] = primitives.Param(leaf, shape, init)
            arrays[f"{name}.{leaf}"] = initial(values, init, shape)
        out.append((name, covers, case, params, arrays))
    return out


def run(cases, labels, dtype):
    """Loss, {name: grad}, {name: running statistic after the pass}, {case: kink margin} in `dtype`."""
    z, tensors, margins = 0, {}, {}
    for name, _, case, params, arrays in cases:
        for n, p in params.items():
            tensors[n] = torch.tensor(arrays[n], dtype=dtype, requires_grad=p.trainable)   # a copy: batch_norm updates in place
        x = torch.tensor(arrays["input"], dtype=dtype)
        h = x * tensors[f"{name}.scale"]
        primitives.MARGINS.clear()
        y = case.torch(h, {p.name: tensors[n] for n, p in params.items()})
        margins[name] = min(primitives.MARGINS, default=math.inf)
        z = z + F.linear(y.reshape(BATCH, -1), tensors[f"{name}.head.weight"], tensors[f"{name}.head.bias"])
    loss = F.cross_entropy(z, torch.from_numpy(labels), label_smoothing=LABEL_SMOOTHING)
    loss.backward()
    grads = {n: t.grad.detach() for n, t in tensors.items() if t.requires_grad}
    stats = {n: t.detach() for n, t in tensors.items() if not t.requires_grad}
    return loss.item(), grads, stats, margins


def rel_err(got, want):
    return (got.double() - want).abs().max().item() / want.abs().max().item()


def spec_text(cases):
    lines = ["# Generated by scripts/reference/make_grad_fixtures.py; do not edit.",
             "# One block per primitive case: x times a trainable scale, the primitive, flatten, a linear head;",
             "# the model feeds each case its slice of one input and sums the heads' logits.", ""]
    for name, covers, case, params, _ in cases:
        lines.append(f"block case_{name}(x) {{  # x: {primitives.ints(case.shape)}; {', '.join(covers)}")
        lines += [f"  param {p.name}: f32{primitives.ints(p.shape)}" for p in params.values() if p.free]
        lines.append("  h = x * scale")
        lines += [f"  {s}" for s in case.locus]
        lines += [f"  return linear(flatten(y), out: {CLASSES}) @head", "}", ""]
    total = sum(math.prod(c.shape) for _, _, c, _, _ in cases)
    lines += ["model primitives {", f"  input x: f32[{total}]"]
    offset = 0
    for i, (name, _, case, _, _) in enumerate(cases):
        n = math.prod(case.shape)
        call = f"case_{name}(reshape(slice(x, axis: 0, start: {offset}, len: {n}), shape: {primitives.ints(case.shape)})) @{name}"
        lines.append(f"  z = {call}" if i == 0 else f"  z = z + {call}")
        offset += n
    lines += ["  output logits = z", "}", ""]
    return "\n".join(lines)


def index_text(index):
    """index.json with one line per case."""
    head = json.dumps({k: v for k, v in index.items() if k != "cases"}, indent=1)[:-2]
    cases = ",\n  ".join(json.dumps(c) for c in index["cases"])
    return f'{head},\n "cases": [\n  {cases}\n ]\n}}\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    cases = draw_cases()
    labels = np.random.default_rng(SEED + 2).choice(CLASSES, BATCH, replace=False).astype(np.int64)   # distinct
    loss, grads, stats, margins = run(cases, labels, torch.float64)
    loss32, grads32, _, _ = run(cases, labels, torch.float32)
    failures = []
    if abs(loss32 - loss) > RTOL / F32_MARGIN * abs(loss):
        failures.append(f"loss: float32 {loss32} vs float64 {loss}")

    args.out.mkdir(parents=True, exist_ok=True)
    index_cases, offset = [], 0
    print(f"{'case':26s} {'shape':16s} {'params':>6s} {'f32 error':>9s} {'margin':>8s}")
    for name, covers, case, params, arrays in cases:
        trainable = [n for n, p in params.items() if p.trainable]
        f32 = max(rel_err(grads32[n], grads[n]) for n in trainable)
        for n in trainable:
            if grads[n].abs().max().item() < 1e-8:
                failures.append(f"{n}: the gradient is zero; the case cannot check it")
        if f32 > RTOL / F32_MARGIN:
            failures.append(f"{name}: PyTorch float32 misses float64 by {f32:.1e} of the largest gradient")
        if margins[name] < KINK_MARGIN:
            failures.append(f"{name}: a value lies {margins[name]:.1e} from a kink or a maxpool tie")
        tensors = {"input": torch.from_numpy(arrays["input"])}
        tensors.update({n: torch.from_numpy(arrays[n]) for n in params})
        tensors.update({f"grad:{n}": grads[n].float().contiguous() for n in trainable})
        tensors.update({f"updated:{n}": stats[n].float().contiguous() for n in params if n in stats})
        save_file(tensors, str(args.out / f"{name}.safetensors"))
        size = math.prod(case.shape)
        index_cases.append({
            "name": name, "primitives": covers, "shape": case.shape, "attrs": case.attrs, "locus": case.locus,
            "input_offset": offset, "input_std": case.input_std,
            "parameters": {n: p.shape for n, p in params.items()},
            "running_statistics": [n for n, p in params.items() if not p.trainable],
            "torch_f32_error": f32, "kink_margin": None if math.isinf(margins[name]) else margins[name]})
        offset += size
        print(f"{name:26s} {str(case.shape):16s} {sum(math.prod(p.shape) for p in params.values()):6d} {f32:9.1e} "
              f"{margins[name]:8.1e}")

    (args.out / "primitives.locus").write_text(spec_text(cases))
    index = {"spec": "primitives.locus", "model": "primitives", "reference": "float64", "batch": BATCH,
             "classes": CLASSES, "label_smoothing": LABEL_SMOOTHING, "bn_momentum": 0.1, "seed": SEED, "rtol": RTOL,
             "labels": labels.tolist(), "loss": loss, "input_size": offset, "cases": index_cases}
    (args.out / "index.json").write_text(index_text(index))

    size = sum(f.stat().st_size for f in args.out.iterdir())
    total = sum(f.stat().st_size for f in FIXTURES.rglob("*") if f.is_file())
    print(f"{len(cases)} cases, loss {loss:.6f}; primitives/ {size / 1024:.0f} KiB (limit {SIZE_LIMIT // 1024} KiB), "
          f"Fixtures/ {total / 1024 ** 2:.2f} MiB (limit {ALL_FIXTURES_LIMIT / 1024 ** 2:.0f} MiB)")
    if size > SIZE_LIMIT or total > ALL_FIXTURES_LIMIT:
        failures.append("fixtures over the size limit")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
