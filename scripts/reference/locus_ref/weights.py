"""Seeded random weights that make every parameter and buffer matter to the logits.

Default init leaves BN at identity (mean 0, var 1, weight 1, bias 0), norms at ones/zeros and
the official models zero their biases, pos_layer_embed and (SAG) nothing else; a kernel that
dropped any of those terms would still match. So every float tensor is drawn here, from one numpy
PCG64 stream in state_dict order (reproducible byte for byte, independent of torch's RNG):
  conv / linear weight and bias   U(-sqrt(3/fan_in), sqrt(3/fan_in))   (variance preserving)
  LayerNorm / BatchNorm weight    1 + N(0, 0.1);  bias N(0, 0.1)
  BatchNorm running_mean          N(0, 0.1);      running_var U(0.5, 1.5)
  free parameters (cls token, positional embeddings)   N(0, 0.1)
num_batches_tracked stays the int64 0 that PyTorch has.
The conv/linear bound is sqrt(3) times PyTorch's default 1/sqrt(fan_in): the default shrinks the
signal 3x in variance per layer, and with it the tiny fixtures barely caught a tanh-GELU in CeiT
(1x the tolerance); at unit variance every tested kernel mistake (dropped SE, sigmoid for
h_sigmoid, tanh GELU, LN eps 1e-5, BN eps 1e-3) exceeds the fixture tolerance 4x or more.
"""
import numpy as np
import torch
from torch import nn


def _draws(module, rng):
    """{own tensor name: array} for the tensors `module` holds directly."""
    own = dict(module.named_parameters(recurse=False)) | dict(module.named_buffers(recurse=False))
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        w = own["weight"]
        bound = np.sqrt(3 / w[0].numel())                                    # fan_in = in * kh * kw / groups
        return {k: rng.uniform(-bound, bound, own[k].shape) for k in own}
    if isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
        out = {"weight": 1 + rng.normal(0, 0.1, own["weight"].shape), "bias": rng.normal(0, 0.1, own["bias"].shape)}
        if isinstance(module, nn.BatchNorm2d):
            out["running_mean"] = rng.normal(0, 0.1, own["running_mean"].shape)
            out["running_var"] = rng.uniform(0.5, 1.5, own["running_var"].shape)
        return out
    return {k: rng.normal(0, 0.1, t.shape) for k, t in own.items() if t.is_floating_point()}


def randomize(model, seed):
    """Overwrite every float tensor of `model` in place (float32) and return the model."""
    rng = np.random.default_rng(seed)
    drawn = set()
    with torch.no_grad():
        for prefix, module in model.named_modules():
            for key, value in _draws(module, rng).items():
                name = f"{prefix}.{key}" if prefix else key
                tensor = getattr(module, key)
                tensor.copy_(torch.from_numpy(value.astype(np.float32)))
                drawn.add(name)
    skipped = [k for k, v in model.state_dict().items() if v.is_floating_point() and k not in drawn]
    if skipped:
        raise RuntimeError(f"randomize left tensors untouched: {skipped}")
    return model
