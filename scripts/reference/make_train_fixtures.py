"""Write the training fixtures: loss, every gradient, BN running stats and 5 AdamW steps per spec.

For each spec, Tests/LocusEndToEndTests/Fixtures/<spec>/train/ gets (same tiny configuration and the
same weights.safetensors as the inference fixture one folder up):
  config.json                {"spec", "set", "batch": 4, "label_smoothing": 0.1, "optimizer": {...}, "steps": 5,
                              "rtol", "atol", "adamw_rtol", "checksum_rtol", "delta_rtol",
                              "no_decay": parameters AdamW does not decay, "zero_grads": parameters whose whole
                              gradient is 0, "grads_omitted": parameters missing from grads.safetensors}
  input.npy                  [4, C, Hh, Ww] float32, standard normal
  labels.npy                 [4] int64 in [0, classes)
  loss.npy                   [1] float32: cross-entropy (label smoothing 0.1, mean over the batch) of the model
                             in train mode (BatchNorm uses batch statistics; the models have no dropout/drop-path)
  grads.safetensors          float32 d loss / d parameter under its state_dict name (no buffers); a parameter
                             autograd gives no gradient is written as zeros, and so is every element that is
                             zero in exact arithmetic (see one_step). Gradients with more than --max-grad-elements
                             elements are left out (listed in "grads_omitted") and summarised in grad_checksums.json
  grad_checksums.json        {name: {"sum", "sumsq", "abs_max", "numel"}} of the omitted gradients (only if any)
  running_stats.safetensors  float32 running_mean / running_var of every BatchNorm after that one forward
                             (momentum 0.1); only for specs with BatchNorm
  adamw_losses.npy           [5] float32: the loss before each of 5 AdamW steps on the same batch (entry 0 == loss)
  adamw_checksums.json       {name: {"sum", "sumsq", "delta_sum", "delta_sumsq", "count"}} of every parameter after
                             the 5 steps (delta = final - initial), over the `count` elements whose gradient in
                             grads is nonzero; and {"sum", "sumsq"} of every float buffer (BN running stats)
Everything is computed in float64 from the float32 weights and inputs, then cast to float32. Tolerances:
loss, gradients, running stats: per tensor max|a - b| <= rtol * max|b| + atol; AdamW losses: the same with
adamw_rtol and atol 0; checksums: see checksum_err. The script fails unless PyTorch's own float32 run meets
every tolerance F32_MARGIN times over, and if the train/ folders pass SIZE_LIMIT.
Everything is seeded from the spec name: running the script twice gives identical bytes.

    python make_train_fixtures.py [--out DIR] [SPEC ...]
"""
import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from locus_ref import constants
from locus_ref.data import seed_of
from locus_ref.train import LABEL_SMOOTHING, adamw, loss_of, no_decay_names
from make_fixtures import OUT, TINY
from models import build

BATCH = 4
STEPS = 5
OPTIMIZER = {"kind": "adamw", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.05}
RTOL, ATOL = 1e-4, 1e-6           # loss and gradients: Locus float32 against the float64 reference
ADAMW_RTOL = 1e-4                 # the 5 AdamW losses
F32_MARGIN = 10                    # PyTorch float32 must reach the tolerances with this factor to spare
CHECKSUM_RTOL = 1e-5              # AdamW sum / sumsq checksums, relative to their scale (see checksum_err)
DELTA_RTOL = 1e-3                 # AdamW delta_sum / delta_sumsq checksums, likewise
# In sag_tiny_imagenet one element of layers.0.1.conv.weight has a step-0 gradient of 2.8e-8 (max 0.8), below
# float32 rounding: its first Adam step is +-lr by the sign of the noise, and the 5-step trajectory drifts
# (PyTorch float32: sum/sumsq 6e-5, delta 2e-3 of their scale). Any float32 run does the same.
TOLERANCE_OVERRIDES = {"sag_tiny_imagenet": {"checksum_rtol": 1e-3, "delta_rtol": 3e-2}}
ZERO_GRAD = 1e-12                 # float64 gradients this small (relative to the largest) are exactly 0
MAX_GRAD_ELEMENTS = 16_384        # larger gradients only as checksums (keeps train/ under the size budget)
SIZE_LIMIT = 3 * 1000 ** 2        # bytes for all train/ folders together


def load_model(name, folder):
    """The tiny model with the inference fixture's weights, after checking its configuration matches TINY."""
    config = json.loads((folder / "config.json").read_text())
    if config["set"] != TINY[name]:
        raise RuntimeError(f"{folder}/config.json sets {config['set']}, make_fixtures.TINY says {TINY[name]}")
    model = build(name, **TINY[name])
    model.load_state_dict(load_file(str(folder / "weights.safetensors")), strict=True)
    return model


def batch_of(model, name):
    """Seeded input [4, Ci, Hh, Ww] float32 and labels [4] int64 (stream seed+2; seed+1 is the inference input)."""
    c = constants(name, **TINY[name])
    ci = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
    rng = np.random.default_rng(seed_of(name) + 2)
    x = rng.standard_normal((BATCH, ci, c["image"], c["image"])).astype(np.float32)
    labels = rng.integers(0, c["classes"], BATCH).astype(np.int64)
    return x, labels


def one_step(model, x, labels, dtype):
    """Loss, {name: grad}, {name: running stat} of one train-mode pass, and the names autograd left without grad.

    A missing grad becomes zeros. In float64, gradient elements within ZERO_GRAD of 0 (relative to the largest
    gradient of the model) are zero in exact arithmetic and set to exactly 0: the key part of every qkv/kv bias
    (softmax ignores a shift shared by all keys) and conv biases right before a train-mode BatchNorm.
    """
    m = copy.deepcopy(model).to(dtype).train()
    loss = loss_of(m(torch.from_numpy(x).to(dtype)), torch.from_numpy(labels))
    loss.backward()
    grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)).detach() for n, p in m.named_parameters()}
    none = [n for n, p in m.named_parameters() if p.grad is None]
    if dtype == torch.float64:
        floor = ZERO_GRAD * max(g.abs().max().item() for g in grads.values())
        grads = {n: torch.where(g.abs() <= floor, torch.zeros_like(g), g) for n, g in grads.items()}
    stats = {n: b.detach() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var"))}
    return loss.item(), grads, stats, none


def adamw_run(model, x, labels, dtype):
    """Losses before each of STEPS AdamW steps on the same batch, and the model afterwards."""
    m = copy.deepcopy(model).to(dtype).train()
    opt = adamw(m, OPTIMIZER["lr"], OPTIMIZER["weight_decay"])
    xs, ys = torch.from_numpy(x).to(dtype), torch.from_numpy(labels)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(m(xs), ys)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return np.array(losses), m


def rel_err(got, want):
    """max|got - want| / max|want| (0 when both are all zero)."""
    diff = (got.double() - want).abs().max().item()
    scale = want.abs().max().item()
    return diff / scale if scale else diff


def check(what, got, want, rtol, atol):
    """Fail unless float32 reaches float64 with F32_MARGIN to spare; return the relative error."""
    diff = (got.double() - want).abs().max().item()
    if diff > (rtol * want.abs().max().item() + atol) / F32_MARGIN:
        raise RuntimeError(f"{what}: float32 misses float64 by {diff:.2e} (max |ref| {want.abs().max().item():.2e})")
    return rel_err(got, want)


def checksums(final, initial, grads):
    """{name: {"sum", "sumsq", "delta_sum", "delta_sumsq", "count"}} of the parameters after AdamW.

    Sums run over the elements whose reference gradient is nonzero (delta = final - initial): Adam turns the
    rounding noise of an exactly-zero gradient into steps of up to lr (eps 1e-8 is larger than the noise), so
    those elements move by noise in any float32 run. "count" is the number of elements summed (grads != 0).
    """
    out = {}
    for n, t in final.items():
        keep = grads[n] != 0
        t = t.detach().double()
        f, d = t[keep], (t - initial[n].detach().double())[keep]
        out[n] = {"sum": f.sum().item(), "sumsq": (f * f).sum().item(), "delta_sum": d.sum().item(),
                  "delta_sumsq": (d * d).sum().item(), "count": f.numel()}
    return out


def buffer_checksums(model):
    return {n: {"sum": b.double().sum().item(), "sumsq": (b.double() ** 2).sum().item()}
            for n, b in model.named_buffers() if b.is_floating_point()}


def checksum_err(got, want, keys):
    """Worst |a - b| / scale over the `keys` checksums of every parameter: scale(sum) = sqrt(count * sumsq),
    which bounds |sum|, scale(sumsq) = sumsq; delta_* likewise. Returns (error, where)."""
    worst, where = 0.0, ""
    for n, w in want.items():
        count = w["count"]
        for key in keys:
            scale = w[key] if key.endswith("sq") else (count * w[key + "sq"]) ** 0.5
            diff = abs(got[n][key] - w[key])
            err = diff / scale if scale else diff
            if err > worst:
                worst, where = err, f"{n} {key}"
    return worst, where


def dump(entries):
    """JSON with one entry per line: readable, and a third of the size of indent=1."""
    return "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entries.items()) + "\n}\n"


def write(name, out, max_grad_elements):
    model = load_model(name, out / name)
    x, labels = batch_of(model, name)

    loss, grads, stats, none = one_step(model, x, labels, torch.float64)
    loss32, grads32, stats32, _ = one_step(model, x, labels, torch.float32)
    worst = {"loss": check("loss", torch.tensor(loss32), torch.tensor(loss), RTOL, ATOL)}
    worst["grad"] = max(check(f"grad {n}", grads32[n], g, RTOL, ATOL) for n, g in grads.items())
    if stats:
        worst["stats"] = max(check(f"stat {n}", stats32[n], s, RTOL, ATOL) for n, s in stats.items())

    where = {}
    losses, trained = adamw_run(model, x, labels, torch.float64)
    losses32, trained32 = adamw_run(model, x, labels, torch.float32)
    if losses[0] != loss:
        raise RuntimeError(f"AdamW loss 0 {losses[0]} differs from the one-step loss {loss}")
    worst["adamw"] = check("adamw losses", torch.from_numpy(losses32), torch.from_numpy(losses), ADAMW_RTOL, 0)
    initial = dict(model.named_parameters())
    sums = checksums(dict(trained.named_parameters()), initial, grads)
    sums32 = checksums(dict(trained32.named_parameters()), initial, grads)
    tols = {"checksum_rtol": CHECKSUM_RTOL, "delta_rtol": DELTA_RTOL} | TOLERANCE_OVERRIDES.get(name, {})
    for what, keys, tol in (("checksum", ("sum", "sumsq"), tols["checksum_rtol"]),
                            ("delta", ("delta_sum", "delta_sumsq"), tols["delta_rtol"])):
        worst[what], where[what] = checksum_err(sums32, sums, keys)
        if worst[what] > tol / F32_MARGIN:
            raise RuntimeError(f"AdamW {where[what]}: float32 misses float64 by {worst[what]:.2e} of its scale")

    big = [n for n, g in grads.items() if g.numel() > max_grad_elements]
    zero = [n for n, g in grads.items() if not g.any()]
    folder = out / name / "train"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    config = {"spec": name, "set": TINY[name], "batch": BATCH, "label_smoothing": LABEL_SMOOTHING,
              "optimizer": OPTIMIZER, "steps": STEPS, "rtol": RTOL, "atol": ATOL, "adamw_rtol": ADAMW_RTOL,
              **tols, "no_decay": no_decay_names(model), "zero_grads": zero,
              "grads_omitted": big}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    np.save(folder / "input.npy", x)
    np.save(folder / "labels.npy", labels)
    np.save(folder / "loss.npy", np.array([loss], dtype=np.float32))
    save_file({n: g.float().contiguous() for n, g in grads.items() if n not in big}, str(folder / "grads.safetensors"))
    if big:
        omitted = {n: {"sum": grads[n].sum().item(), "sumsq": (grads[n] ** 2).sum().item(),
                       "abs_max": grads[n].abs().max().item(), "numel": grads[n].numel()} for n in big}
        (folder / "grad_checksums.json").write_text(dump(omitted))
    if stats:
        save_file({n: s.float().contiguous() for n, s in stats.items()}, str(folder / "running_stats.safetensors"))
    np.save(folder / "adamw_losses.npy", losses.astype(np.float32))
    (folder / "adamw_checksums.json").write_text(dump(sums | {n: v for n, v in buffer_checksums(trained).items()}))

    size = sum(f.stat().st_size for f in folder.iterdir())
    notes = (f"  None grads: {none}" if none else "") + (f"  omitted: {big}" if big else "")
    masked = sum(p.numel() - sums[n]["count"] for n, p in initial.items())
    print(f"{name:20s} {size / 1024:6.1f} KiB  loss {loss:.5f} -> {losses[-1]:.5f}  f32 rel: loss {worst['loss']:.0e} "
          f"grad {worst['grad']:.0e} adamw {worst['adamw']:.0e} checksum {worst['checksum']:.0e} delta {worst['delta']:.0e} ({where['delta']})  "
          f"zero grads {len(zero)} masked {masked}{notes}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=list(TINY), help="default: all")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    parser.add_argument("--max-grad-elements", type=int, default=MAX_GRAD_ELEMENTS,
                        help=f"larger gradients are stored as checksums only (default {MAX_GRAD_ELEMENTS})")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    for name in args.specs:
        write(name, args.out, args.max_grad_elements)
    total = sum(f.stat().st_size for f in args.out.glob("*/train/*"))
    print(f"train/ total {total / 1000 ** 2:.2f} MB (limit {SIZE_LIMIT / 1000 ** 2:.0f} MB)")
    return 1 if total > SIZE_LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
