"""LocalViT (ofsoundof/LocalViT models/localvit.py), ARCH_NOTES section 1.

Surprises in the official code, kept on purpose:
* blocks have no norm2: the locality FFN reads the attention output un-normalised;
* the FFN adds its own residual (x + seq(x)) and has no DropPath;
* the class token bypasses the FFN entirely, so the last block's FFN cannot change the logits.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .common import Attention, ViTShell, img2seq, seq2img

DEFAULTS = dict(dim=192, depth=12, heads=4, image=224, patch=16, classes=1000, mlp=4, reduction=None,
                in_chans=3)
# reduction=None means "= dim", the rule of the registered _r192/_r384 models (SE hidden = mlp).

VARIANTS = {
    "localvit_tiny": dict(act="hs+se"),
    "localvit_tiny_se4": dict(act="hs+se", reduction=4),
    "localvit_tiny_relu6": dict(act="relu6", mlp=6),
    "localvit_small": dict(act="hs+se", dim=384, heads=8),
    "localvit_fmnist": dict(act="hs+se", dim=64, depth=4, heads=2, image=28, patch=4, classes=10, in_chans=1),
}


class HSigmoid(nn.Module):
    """ReLU6(x + 3) / 6, the paper's h_sigmoid (== nn.Hardsigmoid)."""

    def forward(self, x):
        return F.relu6(x + 3) / 6


class HSwish(nn.Module):
    """x * h_sigmoid(x) (== nn.Hardswish)."""

    def forward(self, x):
        return x * F.relu6(x + 3) / 6


class SELayer(nn.Module):
    """Squeeze-excitation: GAP -> Linear -> ReLU -> Linear -> h_sigmoid -> channel gate."""

    def __init__(self, channels, hidden):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), HSigmoid())

    def forward(self, x):                                                   # x: [B, C, Hh, Ww]
        gate = self.fc(x.mean(dim=(2, 3)))                                  # [B, C]
        return x * gate[:, :, None, None]


class LocalityFeedForward(nn.Module):
    """1x1 conv -> BN -> act -> dw 3x3 -> BN -> act [-> SE] -> 1x1 conv -> BN, plus the input.

    The Sequential is called `conv`, so keys read conv.conv.<i>; with act 'relu6' (no SE) the
    last conv/BN sit at indices 6/7 instead of 7/8.
    """

    def __init__(self, dim, hidden, act, se_hidden):
        super().__init__()
        make_act = HSwish if act.startswith("hs") else nn.ReLU6
        layers = [nn.Conv2d(dim, hidden, 1, bias=False), nn.BatchNorm2d(hidden), make_act(),
                  nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                  make_act()]
        if act == "hs+se":
            layers.append(SELayer(hidden, se_hidden))
        layers += [nn.Conv2d(hidden, dim, 1, bias=False), nn.BatchNorm2d(dim)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):                                                   # x: [B, C, Hh, Ww]
        return x + self.conv(x)                                             # residual inside the module


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, act, se_hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.conv = LocalityFeedForward(dim, hidden, act, se_hidden)

    def forward(self, x):                                                   # x: [B, N+1, C]
        x = x + self.attn(self.norm1(x))
        cls, patches = x[:, :1], x[:, 1:]                                   # [B, 1, C], [B, N, C]
        grid = round(patches.shape[1] ** 0.5)
        patches = img2seq(self.conv(seq2img(patches, grid)))                # no norm2: raw tokens in
        return torch.cat([cls, patches], dim=1)                             # class token skips the FFN


def build(act, dim, depth, heads, image, patch, classes, mlp, reduction, in_chans):
    reduction = dim if reduction is None else reduction
    hidden = dim * mlp
    se_hidden = hidden // reduction
    if act == "hs+se" and se_hidden < 1:
        raise ValueError(f"SE hidden = dim*mlp // reduction = {hidden}//{reduction} is 0")
    return ViTShell(lambda: Block(dim, heads, hidden, act, se_hidden), dim, depth, image, patch, classes, in_chans)
