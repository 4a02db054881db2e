"""Layers shared by the ViT-style families (DeiT, LocalViT, CeiT).

Legend for shape comments: B batch, N tokens, C channels, H heads, D head dim, T shift variants,
Hh/Ww image height/width.
"""
import torch
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    """timm multi-head self-attention: fused qkv Linear laid out [q | k | v] x [head x D]."""

    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):                                                   # x: [B, N, C]
        B, N, C = x.shape
        D = C // self.heads
        qkv = self.qkv(x).view(B, N, 3, self.heads, D).permute(2, 0, 3, 1, 4)  # [3, B, H, N, D]
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1) * D ** -0.5).softmax(dim=-1)      # [B, H, N, N]
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)                 # [B, N, H*D]
        return self.proj(out)


class Mlp(nn.Module):
    """fc1 -> GELU (exact erf) -> fc2, the transformer feed-forward of DeiT, CeiT's LCA and SAG."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):                                                   # x: [..., C]
        return self.fc2(F.gelu(self.fc1(x)))


def seq2img(x, h):
    """[B, N, C] -> [B, C, h, N/h], token n at row n // w, column n % w (row-major, as flatten(2))."""
    B, N, C = x.shape
    return x.transpose(1, 2).reshape(B, C, h, N // h)


def img2seq(x):
    """[B, C, Hh, Ww] -> [B, Hh*Ww, C]."""
    return x.flatten(2).transpose(1, 2)


class ViTShell(nn.Module):
    """Patch conv + class token + pos embedding + blocks + final LN on token 0 + head.

    DeiT and LocalViT share everything but the block (timm VisionTransformer, LN eps 1e-6).
    Parameter registration order follows timm so state_dict() lists keys in the official order.
    """

    def __init__(self, make_block, dim, depth, image, patch, classes, in_chans):
        super().__init__()
        if image % patch:
            raise ValueError(f"image {image} is not divisible by patch {patch}")
        self.grid = image // patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid ** 2 + 1, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)
        self.blocks = nn.ModuleList([make_block() for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, img):                                                 # img: [B, Ci, Hh, Ww]
        x = img2seq(self.patch_embed.proj(img))                             # [B, N, C]
        cls = self.cls_token.expand(x.shape[0], -1, -1)                     # [B, 1, C]
        x = torch.cat([cls, x], dim=1) + self.pos_embed                     # [B, N+1, C]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])                                # [B, classes]
