"""Locally-SAG tiny (shellysheynin/Locally-SAG-Transformer, ShiftingTransformer), ARCH_NOTES section 3.

Surprises in the official code, kept on purpose:
* every shift variant has its own embedding conv, and stage 1 has a per-variant pos_emb [T, N, C];
* one norm1 and one norm2 per stage, shared by all of its blocks;
* CIFAR K/V are ONE head of D = dim/heads read by every query head (kv Linear C -> 2D, [k | v]);
  ImageNet K/V are per head (kv Linear C -> 2C, [k | v] then heads);
* the shifted variants are read only by the local attention of stage 1, block 0.
Deliberate deviation: the official local attention calls `.squeeze()` on [B, H, N, 1, D], which
with B == 1 (or H, N or D == 1) drops the wrong axes and scrambles the layout (notes: 0.033 max diff).
Here only the singleton variant axis is squeezed, so batch 1 equals a row of batch 3.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .common import Mlp, img2seq, seq2img

DEFAULTS = dict(dim=192, heads=4, image=32, classes=10, mlp=4, depth2=4, depth3=4, depth4=4)
STAGE1_DEPTH = 2   # block 0 local, block 1 global; not a constant of the spec

# torch.roll shifts (dy, dx) of the CIFAR model, after the unshifted image (variant 0).
CIFAR_ROLLS = [(1, 0), (0, 1), (-1, 0), (0, -1), (2, 0), (0, 2), (-2, 0), (0, -2), (1, 1), (1, 2), (1, -1),
               (-1, 1), (-1, 2), (-1, -1), (2, 1), (2, 2), (2, -1)]
# F.pad circular pads (left, right, top, bottom) of the ImageNet model, in the official order.
IMAGENET_PADS = [(k, 0, 0, 0) for k in (1, 2, 3)] + [(0, 0, k, 0) for k in (1, 2, 3)] + \
                [(k, 0, k, 0) for k in (1, 2, 3)]

FLAVOURS = {
    "sag_tiny_cifar": dict(defaults=dict(image=32, classes=10), kernel=3, stride=1, padding=1,
                           shifts=[lambda img, s=s: torch.roll(img, shifts=s, dims=(2, 3)) for s in CIFAR_ROLLS],
                           kv_per_head=False),
    "sag_tiny_imagenet": dict(defaults=dict(image=224, classes=1000), kernel=9, stride=7, padding=1,
                              shifts=[lambda img, p=p: F.pad(img, p, mode="circular") for p in IMAGENET_PADS],
                              kv_per_head=True),
}


class ShiftedEmbedding(nn.Module):
    """Variant 0 is the image itself, then one shifted copy per entry of `shifts`; one conv each."""

    def __init__(self, shifts, dim, kernel, stride, padding):
        super().__init__()
        self.shifts = shifts
        self.projections = nn.ModuleList([nn.Conv2d(3, dim, kernel, stride=stride, padding=padding)
                                          for _ in range(len(shifts) + 1)])

    def forward(self, img):                                                 # img: [B, 3, Hh, Ww]
        variants = [img] + [shift(img) for shift in self.shifts]
        return torch.stack([img2seq(conv(v)) for conv, v in zip(self.projections, variants)], dim=1)  # [B, T, N, C]


def split_kv(kv, dim, heads):
    """[..., 2 * Hk * D] laid out [k | v] then heads -> k, v: [..., Hk, D] (Hk = 1 or heads)."""
    D = dim // heads
    kv = kv.unflatten(-1, (2, kv.shape[-1] // (2 * D), D))
    return kv.select(-3, 0), kv.select(-3, 1)


class LocalAttention(nn.Module):
    """Each location attends over the T variants at the same location (softmax over T, scale D^-1/2)."""

    def __init__(self, dim, heads, kv_per_head):
        super().__init__()
        self.heads = heads
        self.Wkv_even = nn.Linear(dim, 2 * dim if kv_per_head else 2 * dim // heads)
        self.Wq_even = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, variants):                                         # x: [B, N, C]; variants: [B, T, N, C]
        B, N, C = x.shape
        D = C // self.heads
        q = self.Wq_even(x).view(B, N, self.heads, 1, D).transpose(1, 2)    # [B, H, N, 1, D]
        k, v = split_kv(self.Wkv_even(variants), C, self.heads)             # [B, T, N, Hk, D]
        k, v = k.permute(0, 3, 2, 1, 4), v.permute(0, 3, 2, 1, 4)           # [B, Hk, N, T, D]; Hk broadcasts to H
        attn = (q @ k.transpose(-2, -1) * D ** -0.5).softmax(dim=-1)      # [B, H, N, 1, T]
        out = (attn @ v).squeeze(3)                                         # [B, H, N, D]; squeeze only axis 3
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class GlobalAttention(nn.Module):
    """Self-attention over all tokens; with one K/V head (CIFAR) it is multi-query attention."""

    def __init__(self, dim, heads, kv_per_head):
        super().__init__()
        self.heads = heads
        self.Wkv_odd = nn.Linear(dim, 2 * dim if kv_per_head else 2 * dim // heads)
        self.Wq_odd = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):                                                   # x: [B, N, C]
        B, N, C = x.shape
        D = C // self.heads
        q = self.Wq_odd(x).view(B, N, self.heads, D).transpose(1, 2)        # [B, H, N, D]
        k, v = split_kv(self.Wkv_odd(x), C, self.heads)                     # [B, N, Hk, D]
        k, v = k.transpose(1, 2), v.transpose(1, 2)                         # [B, Hk, N, D]
        attn = (q @ k.transpose(-2, -1) * D ** -0.5).softmax(dim=-1)      # [B, H, N, N]
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Stage(nn.Module):
    """pos_emb, then blocks [attention, mlp] that all share norm1 and norm2 (keys: layers.<i>.0/1)."""

    def __init__(self, pos_shape, depth, dim, heads, mlp, kv_per_head, first):
        super().__init__()
        self.first = first
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.layers = nn.ModuleList([
            nn.ModuleList([(LocalAttention if first and i == 0 else GlobalAttention)(dim, heads, kv_per_head),
                           Mlp(dim, dim * mlp)])
            for i in range(depth)])
        self.pos_emb = nn.Parameter(torch.zeros(*pos_shape))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        # first stage: variants [B, T, N, C] + per-variant pos [T, N, C]; later: tokens [B, N, C] + [N, C]
        x = x + self.pos_emb
        if self.first:
            variants, x = x, x[:, 0]                                        # tokens of the unshifted image
        for i, (attn, mlp) in enumerate(self.layers):
            if self.first and i == 0:
                x = x + attn(self.norm1(x), self.norm1(variants))
            else:
                x = x + attn(self.norm1(x))
            x = x + mlp(self.norm2(x))
        return x


class Reduce(nn.Module):
    """conv3x3 -> LN over channels (eps 1e-6) -> maxpool 3 s2 p1: [B, N, C] -> [B, ~N/4, C]."""

    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):                                                   # x: [B, N, C]
        y = self.conv(seq2img(x, round(x.shape[1] ** 0.5)))                 # [B, C, h, w]
        y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return img2seq(F.max_pool2d(y, 3, stride=2, padding=1))             # [B, N', C]


def pooled(grid):
    return (grid - 1) // 2 + 1                                              # maxpool 3 s2 p1


class ShiftingTransformer(nn.Module):
    def __init__(self, flavour, dim, heads, image, classes, mlp, depth2, depth3, depth4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        f = FLAVOURS[flavour]
        self.to_patch_embedding = ShiftedEmbedding(f["shifts"], dim, f["kernel"], f["stride"], f["padding"])
        grid = embedded_grid(f, image)
        T = len(f["shifts"]) + 1
        # The official code sizes pos_emb as 1024 / 4^s; here the grids come from the conv/pool arithmetic,
        # which gives the same numbers at full size and stays exact for odd grids (tiny configs).
        grids = [grid]
        for _ in range(3):
            grids.append(pooled(grids[-1]))
        depths = [STAGE1_DEPTH, depth2, depth3, depth4]
        self.layers = nn.ModuleList()
        for s, (g, depth) in enumerate(zip(grids, depths)):
            pos_shape = (T, g * g, dim) if s == 0 else (g * g, dim)
            stage = Stage(pos_shape, depth, dim, heads, mlp, f["kv_per_head"], first=s == 0)
            self.layers.append(nn.ModuleList([stage, Reduce(dim) if s < 3 else nn.Identity()]))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_head = nn.Linear(dim, classes)

    def forward(self, img):                                                 # img: [B, 3, Hh, Ww]
        x = self.to_patch_embedding(img)                                    # [B, T, N, C]
        for stage, reduce in self.layers:
            x = reduce(stage(x))                                            # [B, N', C]
        return self.mlp_head(self.norm(x).mean(dim=1))                      # [B, classes]


def embedded_grid(f, image):
    """Token grid side after the embedding conv; every shifted variant must give the same square grid."""
    probe = torch.zeros(1, 1, image, image)
    sizes = {n for v in [probe] + [shift(probe) for shift in f["shifts"]] for n in v.shape[2:]}
    sides = {(n + 2 * f["padding"] - f["kernel"]) // f["stride"] + 1 for n in sizes}
    if len(sides) != 1:
        raise ValueError(f"image {image}: shift variants give different token grids {sorted(sides)}")
    return sides.pop()


def build(flavour, **constants):
    return ShiftingTransformer(flavour, **constants)
