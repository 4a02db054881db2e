"""One case per differentiable primitive of the spec language, for make_grad_fixtures.py.

A case draws its own shapes and attributes from a seeded generator and returns a `Case`: the per-sample
input shape, its parameters, the Locus statements computing `y` from `h` (the input times a trainable
`scale`), and the same computation in PyTorch on [B, ...] tensors. The PyTorch side is written from the
primitives' definitions in docs/DESIGN.md §3, not from Locus's lowering. Legend: B batch, N tokens,
C channels, H heads, D head dim, T variants, Hh/Ww image height/width, K reduction length.

Parameter names are the case's leaf names (the script prefixes `<case>.`): the ones a case declares
(`param w: f32[...]` in its block, `free=True`) and the ones its primitives create under a scope
(`conv2d(...) @conv` makes `conv.weight`, `conv.bias`).
"""
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.nn import functional as F

# Kinds of initial values (the script draws them): ("normal", std), ("uniform", low, high).
def weight(fan_in):
    return ("normal", 1 / math.sqrt(fan_in))


BIAS = ("normal", 0.1)
NORM_WEIGHT = ("uniform", 0.8, 1.2)
NORM_BIAS = ("normal", 0.1)
RUNNING_MEAN = ("normal", 0.1)
RUNNING_VAR = ("uniform", 0.5, 1.5)
DIVISOR = ("uniform", 1.0, 2.0)


@dataclass
class Param:
    name: str            # leaf name under the case's scope
    shape: list
    init: tuple
    free: bool = False   # declared with `param` in the case's block (else created by a primitive)
    trainable: bool = True


@dataclass
class Case:
    shape: list                      # per-sample shape of x (and of h = x * scale)
    locus: list                      # spec statements from `h` to `y`
    torch: Callable                  # (h [B, *shape], {leaf: tensor}) -> y [B, ...]
    params: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    input_std: float = 1.0           # x ~ N(0, input_std²)


# Nonsmooth points are recorded by the float64 run (see make_grad_fixtures.kink_margin): a value this
# close to a kink could fall on the other side in float32 and change the gradient.
MARGINS = []


def kinked(f, points):
    def g(t):
        if t.dtype == torch.float64:
            MARGINS.append(min((t - k).abs().min().item() for k in points))
        return f(t)
    return g


ACTIVATIONS = {
    "gelu": F.gelu,                                   # exact (erf), as nn.GELU()
    "relu": kinked(F.relu, [0.0]),
    "relu6": kinked(F.relu6, [0.0, 6.0]),
    "hswish": kinked(F.hardswish, [-3.0, 3.0]),
    "hsigmoid": kinked(F.hardsigmoid, [-3.0, 3.0]),
    "sigmoid": torch.sigmoid,
    "identity": lambda t: t,
}


def maxpool(t, kernel, stride, padding):
    """F.max_pool2d, recording the gap between the two largest values of every window (an argmax tie
    breaks differently in float32)."""
    if t.dtype == torch.float64:
        padded = F.pad(t, (padding, padding, padding, padding), value=-math.inf)
        windows = F.unfold(padded, kernel, stride=stride).reshape(t.shape[0], t.shape[1], kernel * kernel, -1)
        top = windows.topk(2, dim=2).values
        MARGINS.append((top[:, :, 0] - top[:, :, 1]).min().item())
    return F.max_pool2d(t, kernel, stride, padding)


def seq2img(x, h):
    """[B, N, C] -> [B, C, h, N/h]: token n at row n // w, column n % w."""
    b, n, c = x.shape
    return x.transpose(1, 2).reshape(b, c, h, n // h)


def img2seq(x):
    """[B, C, Hh, Ww] -> [B, Hh*Ww, C]."""
    return x.flatten(2).transpose(1, 2)


def sdpa(q, k, v, heads, kv_heads):
    """softmax(q kᵀ / √D) v per head; query head h reads kv head h // (H / Hk).
    q [B, Nq, H*D], k, v [B, Nk, Hk*D] -> [B, Nq, H*D]."""
    b, nq, width = q.shape
    nk, d, g = k.shape[1], width // heads, heads // kv_heads
    qh = q.reshape(b, nq, heads, d).transpose(1, 2)                                  # [B, H, Nq, D]
    kh = k.reshape(b, nk, kv_heads, d).transpose(1, 2).repeat_interleave(g, dim=1)   # [B, H, Nk, D]
    vh = v.reshape(b, nk, kv_heads, d).transpose(1, 2).repeat_interleave(g, dim=1)
    a = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(d), dim=-1)
    return (a @ vh).transpose(1, 2).reshape(b, nq, width)


def local_attention(q, k, v, heads, kv_heads):
    """At every location n, softmax over the T variants of q·k_t / √D, then Σ_t a_t v_t.
    q [B, N, H*D], k, v [B, T, N, Hk*D] -> [B, N, H*D]."""
    b, n, width = q.shape
    t, d, g = k.shape[1], width // heads, heads // kv_heads
    qh = q.reshape(b, n, heads, d)
    kh = k.reshape(b, t, n, kv_heads, d).repeat_interleave(g, dim=3)                 # [B, T, N, H, D]
    vh = v.reshape(b, t, n, kv_heads, d).repeat_interleave(g, dim=3)
    a = torch.softmax(torch.einsum("bnhd,btnhd->bnht", qh, kh) / math.sqrt(d), dim=-1)
    return torch.einsum("bnht,btnhd->bnhd", a, vh).reshape(b, n, width)


def batchnorm(h, p, name, eps=1e-5):
    """Train mode: batch statistics over B and every axis after C; running stats updated in place."""
    return F.batch_norm(h, p[f"{name}.running_mean"], p[f"{name}.running_var"], p[f"{name}.weight"],
                        p[f"{name}.bias"], training=True, momentum=0.1, eps=eps)


def bn_params(name, c):
    return [Param(f"{name}.weight", [c], NORM_WEIGHT), Param(f"{name}.bias", [c], NORM_BIAS),
            Param(f"{name}.running_mean", [c], RUNNING_MEAN, trainable=False),
            Param(f"{name}.running_var", [c], RUNNING_VAR, trainable=False)]


def ln_params(name, c):
    return [Param(f"{name}.weight", [c], NORM_WEIGHT), Param(f"{name}.bias", [c], NORM_BIAS)]


def ints(xs):
    return "[" + ", ".join(str(x) for x in xs) + "]"
