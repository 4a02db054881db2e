"""CeiT-T (coeusguo/ceit ceit_model.py, ceit_tiny_patch16_224), ARCH_NOTES section 2.

Surprises in the official code, kept on purpose:
* the I2T stem has no activation (conv -> BN -> maxpool), and "patch16" is a k4/s4 conv on the 56x56 map;
* LeFF returns cat(LN2(x)_cls, patches), so the block does cls <- cls + LN2(cls);
* the LeFF's last BN has no GELU after it;
* LCA attends from the last stacked class token only; pos_layer_embed is zero-initialised.
Blocks register norm2 before norm1, as the official Block does, so state_dict() keeps its order.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .common import Attention, Mlp, img2seq, seq2img

DEFAULTS = dict(dim=192, depth=12, heads=3, image=224, classes=1000, mlp=4, stem=64)


class Image2Tokens(nn.Module):
    """conv7 s2 p3 (no bias) -> BN -> maxpool 3 s2 p1; no activation."""

    def __init__(self, stem):
        super().__init__()
        self.conv = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(stem)

    def forward(self, img):                                                 # img: [B, 3, Hh, Ww]
        return F.max_pool2d(self.bn(self.conv(img)), 3, stride=2, padding=1)  # [B, stem, Hh/4, Ww/4]


class LeFF(nn.Module):
    """Locally-enhanced feed-forward on the patch tokens; the class token passes through unchanged."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.conv3 = nn.Conv2d(hidden, dim, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.bn3 = nn.BatchNorm2d(dim)

    def forward(self, x):                                                   # x: [B, N+1, C]
        cls, patches = x[:, :1], x[:, 1:]
        y = seq2img(patches, round(patches.shape[1] ** 0.5))                # [B, C, h, w]
        y = F.gelu(self.bn1(self.conv1(y)))
        y = F.gelu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))                                         # no GELU here
        return torch.cat([cls, img2seq(y)], dim=1)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.leff = LeFF(dim, dim * mlp)

    def forward(self, x):                                                   # x: [B, N+1, C]
        x = x + self.attn(self.norm1(x))
        return x + self.leff(self.norm2(x))                                 # cls gets + LN2(cls)


class LCAAttention(Attention):
    """Attention whose only query is the last token: q from qkv rows [0, C), k/v from all tokens."""

    def forward(self, x):                                                   # x: [B, L, C] (L = depth)
        B, L, C = x.shape
        D = C // self.heads
        w, b = self.qkv.weight, self.qkv.bias
        q = F.linear(x[:, -1:], w[:C], b[:C]).view(B, 1, self.heads, D).transpose(1, 2)      # [B, H, 1, D]
        kv = F.linear(x, w[C:], b[C:]).view(B, L, 2, self.heads, D).permute(2, 0, 3, 1, 4)  # [2, B, H, L, D]
        attn = (q @ kv[0].transpose(-2, -1) * D ** -0.5).softmax(dim=-1)  # [B, H, 1, L]
        return self.proj((attn @ kv[1]).transpose(1, 2).reshape(B, 1, C))  # [B, 1, C]


class LCA(nn.Module):
    """Layer-wise class-token attention; no DropPath. Residual is the raw last token."""

    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = LCAAttention(dim, heads)
        self.feedforward = Mlp(dim, dim * mlp)

    def forward(self, x):                                                   # x: [B, L, C]
        x = x[:, -1:] + self.attn(self.norm1(x))                            # [B, 1, C]
        return x + self.feedforward(self.norm2(x))


class CeiT(nn.Module):
    def __init__(self, dim, depth, heads, image, classes, mlp, stem):
        super().__init__()
        pooled = ((image + 6 - 7) // 2 + 1 - 1) // 2 + 1                  # conv7 s2 p3, then maxpool 3 s2 p1
        if pooled % 4:
            raise ValueError(f"image {image} gives a {pooled}x{pooled} stem map, not divisible by 4")
        tokens = (pooled // 4) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.pos_layer_embed = nn.Parameter(torch.zeros(1, depth, dim))
        self.i2t = nn.Module()
        self.i2t.backbone = Image2Tokens(stem)
        self.i2t.proj = nn.Conv2d(stem, dim, 4, stride=4)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp) for _ in range(depth)])
        self.lca = LCA(dim, heads, mlp)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, img):                                                 # img: [B, 3, Hh, Ww]
        x = img2seq(self.i2t.proj(self.i2t.backbone(img)))                  # [B, N, C]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed  # [B, N+1, C]
        class_tokens = []
        for block in self.blocks:
            x = block(x)
            class_tokens.append(x[:, 0])                                    # after the full block
        x = torch.stack(class_tokens, dim=1) + self.pos_layer_embed         # [B, depth, C]
        x = self.norm(self.lca(x))                                          # [B, 1, C]
        return self.head(x[:, 0])                                           # [B, classes]


def build(**constants):
    return CeiT(**constants)
