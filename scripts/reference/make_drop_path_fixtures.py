"""Write the drop-path (stochastic depth) fixtures: loss and every gradient with masks applied.

Locus's train-mode graphs multiply each `drop_path(branch, rate)` by a per-sample mask input that the
trainer draws from (seed, step, mask index, sample) with a counter-based hash (LocusRuntime's
DropPathMasks; the C library's context draws the same). This script draws the same masks, applies them
as timm's DropPath does (branch * mask, mask in {0, 1/keep}) with forward hooks on the reference models'
branches, and writes, for deit_tiny (masks on attention and MLP) and ceit_tiny (attention and LeFF),
into Tests/LocusEndToEndTests/Fixtures/<spec>/drop_path/:
  config.json        {"set": the tiny configuration plus drop_path_rate, "seed", "step": 1, "masks": [[...] per mask],
                      "rtol", "atol"}
  loss.npy           [1] float32, the label-smoothed loss in train mode (float64 reference)
  grads.safetensors  float32 gradient of every parameter (float64 reference, cast)
Input, labels and weights are the train/ fixture's (same folder one level up). The seed is the first one
whose masks drop at least one sample and keep at least one in every mask, so the test sees both.

    python make_drop_path_fixtures.py
"""
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from locus_ref.train import loss_of
from make_fixtures import OUT, TINY
from make_train_fixtures import BATCH, load_model

RATE = 0.5                  # drop_path_rate: with depth 2 the rates are linspace(0, 0.5, 2) = [0, 0.5]
RTOL, ATOL = 1e-4, 1e-6
BRANCHES = {"deit_tiny": ("attn", "mlp"), "ceit_tiny": ("attn", "leff")}
M64 = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def mask(seed, step, index, rate, batch):
    """DropPathMasks.values: 1/keep where u < keep, else 0; u = top 24 bits of the hash, in float32."""
    keep = np.float32(1) - np.float32(rate)
    stream = splitmix64(splitmix64(seed) ^ step)
    out = []
    for b in range(batch):
        h = splitmix64(stream ^ ((index << 32) | b))
        u = np.float32(h >> 40) * np.float32(1 / 16777216)
        out.append(np.float32(1) / keep if u < keep else np.float32(0))
    return np.array(out, dtype=np.float32)


def main():
    for name, branches in BRANCHES.items():
        folder = OUT / name
        model = load_model(name, folder).double().train()
        depth = len(model.blocks)
        rates = [RATE * i / (depth - 1) for i in range(depth)]
        live = [(i, b) for i in range(depth) for b in branches if rates[i] > 0]   # mask index order
        seed = next(s for s in range(1000) if all(
            0 < np.count_nonzero(mask(s, 1, k, rates[i], BATCH)) < BATCH for k, (i, _) in enumerate(live)))
        masks = [mask(seed, 1, k, rates[i], BATCH) for k, (i, _) in enumerate(live)]
        for (i, branch), m in zip(live, masks):
            scale = torch.from_numpy(m).double().view(-1, 1, 1)
            getattr(model.blocks[i], branch).register_forward_hook(lambda mod, inp, out, s=scale: out * s)
        train = folder / "train"
        x = torch.from_numpy(np.load(train / "input.npy")).double()
        labels = torch.from_numpy(np.load(train / "labels.npy"))
        loss = loss_of(model(x), labels)
        loss.backward()
        grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)).float().contiguous()
                 for n, p in model.named_parameters()}
        out = folder / "drop_path"
        out.mkdir(exist_ok=True)
        np.save(out / "loss.npy", np.array([loss.item()], dtype=np.float32))
        save_file(grads, str(out / "grads.safetensors"))
        config = {"set": {**TINY[name], "drop_path_rate": RATE}, "seed": seed, "step": 1,
                  "masks": [m.tolist() for m in masks], "rtol": RTOL, "atol": ATOL}
        (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        print(f"{name}: seed {seed}, masks {[m.tolist() for m in masks]}, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
