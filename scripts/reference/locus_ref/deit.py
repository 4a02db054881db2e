"""DeiT-T (timm deit_tiny_patch16_224): the plain ViT baseline, ARCH_NOTES section 1 table."""
from torch import nn

from .common import Attention, Mlp, ViTShell

DEFAULTS = dict(dim=192, depth=12, heads=3, image=224, patch=16, classes=1000, mlp=4, in_chans=3)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp)

    def forward(self, x):                                                   # x: [B, N+1, C]
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def build(dim, depth, heads, image, patch, classes, mlp, in_chans):
    return ViTShell(lambda: Block(dim, heads, mlp), dim, depth, image, patch, classes, in_chans)
