"""The cases of make_grad_fixtures.py: name -> (primitives it covers, draw(r) -> Case), in table order.

`r.int(lo, hi)` draws an integer in [lo, hi], `r.pick(*xs)` one of xs, `r.perm(n)` a permutation of
range(n) that is not the identity. See locus_ref/primitives.py for `Case` and the PyTorch helpers.
"""
import torch
from torch.nn import functional as F

from .primitives import (ACTIVATIONS, BIAS, DIVISOR, Case, Param, batchnorm, bn_params, img2seq, ints,
                         ln_params, local_attention, maxpool, sdpa, seq2img, weight)

CASES = {}


def case(*primitives):
    def register(draw):
        CASES[draw.__name__] = (list(primitives), draw)
        return draw
    return register


# MARK: - Products

@case("linear")
def linear(r):
    n, k, m = r.int(2, 5), r.int(3, 6), r.int(2, 6)
    return Case([n, k], [f"y = linear(h, out: {m}) @fc"],
                lambda h, p: F.linear(h, p["fc.weight"], p["fc.bias"]),
                [Param("fc.weight", [m, k], weight(k)), Param("fc.bias", [m], BIAS)], dict(out=m))


@case("linear")
def linear_nobias_3d(r):
    a, n, k, m = r.int(2, 3), r.int(2, 4), r.int(3, 5), r.int(2, 5)
    return Case([a, n, k], [f"y = linear(h, out: {m}, bias: false) @fc"],
                lambda h, p: F.linear(h, p["fc.weight"]),
                [Param("fc.weight", [m, k], weight(k))], dict(out=m, bias=False))


@case("matmul")
def matmul_param_broadcast(r):
    """[A, M, K] @ an unbatched [1, K, N]: the weight's gradient sums over A and the batch."""
    a, m, k, n = r.int(2, 3), r.int(2, 4), r.int(2, 5), r.int(2, 4)
    return Case([a, m, k], ["y = matmul(h, w)"], lambda h, p: h @ p["w"],
                [Param("w", [1, k, n], weight(k), free=True)])


@case("matmul", "transpose", "sigmoid")
def matmul_activations(r):
    """Both operands depend on h: h [M, K] @ sigmoid(h)ᵀ [K, M]."""
    m, k = r.int(2, 5), r.int(2, 5)
    return Case([m, k], ["y = matmul(h, transpose(sigmoid(h), perm: [1, 0]))"],
                lambda h, p: h @ torch.sigmoid(h).transpose(1, 2))


# MARK: - Convolutions

def conv_case(r, ci, co, hh, ww, kernel, stride, padding, groups, bias, depthwise=False):
    kh, kw = kernel
    params = [Param("conv.weight", [co, ci // groups, kh, kw], weight(ci // groups * kh * kw))]
    if bias:
        params.append(Param("conv.bias", [co], BIAS))
    if depthwise:
        call = f"dwconv(h, kernel: {ints(kernel)}, stride: {ints(stride)}, padding: {ints(padding)}, bias: {str(bias).lower()})"
    else:
        call = (f"conv2d(h, out: {co}, kernel: {ints(kernel)}, stride: {ints(stride)}, padding: {ints(padding)}, "
                f"groups: {groups}, bias: {str(bias).lower()})")
    return Case([ci, hh, ww], [f"y = {call} @conv"],
                lambda h, p: F.conv2d(h, p["conv.weight"], p.get("conv.bias"), stride=stride, padding=padding, groups=groups),
                params, dict(out=co, kernel=kernel, stride=stride, padding=padding, groups=groups, bias=bias))


@case("conv2d")
def conv2d(r):
    return conv_case(r, r.int(1, 3), r.int(2, 4), r.int(4, 6), r.int(4, 6), [3, 3], [1, 1], [1, 1], 1, True)


@case("conv2d")
def conv2d_strided_nobias(r):
    return conv_case(r, r.int(2, 3), r.int(2, 4), r.int(5, 7), r.int(4, 6), [3, 2], [2, 1], [1, 0], 1, False)


@case("conv2d")
def conv2d_grouped_strided(r):
    g = r.pick(2, 3)
    return conv_case(r, g * r.int(1, 2), g * r.int(1, 2), r.int(5, 7), r.int(5, 7), [3, 3], [2, 2], [1, 1], g, True)


@case("conv2d")
def conv2d_patch(r):
    """Patch embedding: kernel = stride, no padding."""
    return conv_case(r, r.int(1, 3), r.int(2, 4), 2 * r.int(2, 3), 2 * r.int(2, 3), [2, 2], [2, 2], [0, 0], 1, True)


@case("dwconv")
def dwconv(r):
    c = r.int(2, 4)
    return conv_case(r, c, c, r.int(4, 6), r.int(4, 6), [3, 3], [1, 1], [1, 1], c, True, depthwise=True)


@case("dwconv")
def dwconv_strided(r):
    c = r.int(2, 4)
    return conv_case(r, c, c, r.int(5, 7), r.int(5, 7), [5, 3], [2, 2], [2, 1], c, False, depthwise=True)


# MARK: - Norms

@case("layernorm")
def layernorm(r):
    n, c = r.int(2, 4), r.int(3, 8)
    return Case([n, c], ["y = layernorm(h, eps: 1e-6) @norm"],
                lambda h, p: F.layer_norm(h, (c,), p["norm.weight"], p["norm.bias"], eps=1e-6),
                ln_params("norm", c), dict(eps=1e-6))


@case("layernorm")
def layernorm_3d(r):
    a, n, c = r.int(2, 3), r.int(2, 3), r.int(3, 6)
    return Case([a, n, c], ["y = layernorm(h) @norm"],
                lambda h, p: F.layer_norm(h, (c,), p["norm.weight"], p["norm.bias"], eps=1e-5),
                ln_params("norm", c), dict(eps=1e-5))


@case("batchnorm")
def batchnorm_image(r):
    c, hh, ww = r.int(2, 4), r.int(2, 4), r.int(2, 4)
    return Case([c, hh, ww], ["y = batchnorm(h) @bn"], lambda h, p: batchnorm(h, p, "bn"), bn_params("bn", c), dict(eps=1e-5))


@case("batchnorm")
def batchnorm_tokens(r):
    """BatchNorm of [C, L] (BatchNorm1d over a sequence)."""
    c, n = r.int(2, 5), r.int(2, 5)
    return Case([c, n], ["y = batchnorm(h, eps: 1e-3) @bn"], lambda h, p: batchnorm(h, p, "bn", eps=1e-3),
                bn_params("bn", c), dict(eps=1e-3))


# MARK: - Activations and softmax

def activation(name, std):
    def draw(r):
        return Case([r.int(2, 4), r.int(3, 6)], [f"y = {name}(h)"], lambda h, p: ACTIVATIONS[name](h), input_std=std)
    draw.__name__ = name
    case(name)(draw)


# Wide inputs reach every piece: relu6 above 6, hswish/hsigmoid beyond ±3.
for _name, _std in [("gelu", 2), ("relu", 2), ("relu6", 4), ("hswish", 3), ("hsigmoid", 3), ("sigmoid", 2), ("identity", 1)]:
    activation(_name, _std)


@case("softmax")
def softmax_last(r):
    return Case([r.int(2, 4), r.int(3, 6)], ["y = softmax(h)"], lambda h, p: torch.softmax(h, -1), input_std=2)


@case("softmax")
def softmax_axis0(r):
    return Case([r.int(2, 4), r.int(2, 3), r.int(2, 3)], ["y = softmax(h, axis: 0)"],
                lambda h, p: torch.softmax(h, 1), attrs=dict(axis=0), input_std=2)


@case("softmax")
def softmax_axis1(r):
    return Case([r.int(2, 3), r.int(2, 4), r.int(2, 3)], ["y = softmax(h, axis: 1)"],
                lambda h, p: torch.softmax(h, 2), attrs=dict(axis=1), input_std=2)


# MARK: - Arithmetic (numpy broadcasting on per-sample shapes; parameters are unbatched)

@case("add")
def add_broadcast(r):
    a, b, c = r.int(2, 3), r.int(2, 4), r.int(2, 4)
    return Case([a, b, c], ["y = h + w"], lambda h, p: h + p["w"], [Param("w", [b, 1], BIAS, free=True)])


@case("sub")
def sub_broadcast(r):
    n, c = r.int(2, 4), r.int(2, 5)
    return Case([n, c], ["y = w - h"], lambda h, p: p["w"] - h, [Param("w", [1, c], BIAS, free=True)])


@case("mul")
def mul_broadcast(r):
    a, b, c = r.int(2, 3), r.int(2, 4), r.int(2, 4)
    return Case([a, b, c], ["y = h * w"], lambda h, p: h * p["w"], [Param("w", [a, 1, c], ("normal", 1.0), free=True)])


@case("mul", "mean", "reshape")
def mul_batched_broadcast(r):
    """Two batched operands, one with a size-1 axis: h [A, B, C] * mean over B as [A, 1, C]."""
    a, b, c = r.int(2, 3), r.int(2, 4), r.int(2, 4)
    return Case([a, b, c], [f"y = h * reshape(mean(h, axis: 1), shape: {ints([a, 1, c])})"],
                lambda h, p: h * h.mean(2, keepdim=True))


@case("div")
def div_broadcast(r):
    n, c = r.int(2, 4), r.int(2, 5)
    return Case([n, c], ["y = h / w"], lambda h, p: h / p["w"], [Param("w", [c], DIVISOR, free=True)])


@case("div", "sigmoid", "add_scalar")
def div_denominator(r):
    """The divisor depends on h; the numerator is an unbatched [N, 1]."""
    n, c = r.int(2, 4), r.int(2, 5)
    return Case([n, c], ["y = w / (sigmoid(h) + 0.5)"], lambda h, p: p["w"] / (torch.sigmoid(h) + 0.5),
                [Param("w", [n, 1], ("normal", 1.0), free=True)], input_std=2)


@case("add_scalar", "sub_scalar", "mul_scalar", "mul")
def scalar_add_sub_mul(r):
    """x + s, s + x, x - s, s - x, x * s, s * x."""
    return Case([r.int(2, 4), r.int(2, 5)], ["y = (h + 2) * (3 - h) * 0.5 - 1 + 1.5 * (0.5 + h)"],
                lambda h, p: (h + 2) * (3 - h) * 0.5 - 1 + 1.5 * (0.5 + h))


@case("div_scalar", "sigmoid")
def scalar_div(r):
    """x / s and s / x."""
    return Case([r.int(2, 4), r.int(2, 5)], ["y = h / 4 + 2 / (sigmoid(h) + 0.5)"],
                lambda h, p: h / 4 + 2 / (torch.sigmoid(h) + 0.5), input_std=2)


# MARK: - Layout

@case("reshape", "softmax")
def reshape(r):
    """The softmax groups differ after the reshape, so a wrong reshape gradient shows."""
    a, b, c = r.int(2, 3), r.int(2, 3), r.int(2, 3)
    return Case([a, b, c], [f"y = softmax(reshape(h, shape: {ints([b, a * c])}))"],
                lambda h, p: torch.softmax(h.reshape(h.shape[0], b, a * c), -1), input_std=2)


def transpose_case(r, shape):
    perm = r.perm(len(shape))
    return Case(shape, [f"y = softmax(transpose(h, perm: {ints(perm)}))"],
                lambda h, p: torch.softmax(h.permute(0, *[i + 1 for i in perm]), -1), attrs=dict(perm=perm), input_std=2)


@case("transpose", "softmax")
def transpose_3d(r):
    return transpose_case(r, [r.int(2, 3), r.int(2, 4), r.int(2, 3)])


@case("transpose", "softmax")
def transpose_4d(r):
    return transpose_case(r, [2, r.int(2, 3), r.int(2, 3), 2])


@case("concat", "sigmoid")
def concat(r):
    a, b = r.int(2, 4), r.int(2, 4)
    return Case([a, b], ["y = concat(h, sigmoid(h), axis: 1)"], lambda h, p: torch.cat([h, torch.sigmoid(h)], 2))


@case("concat")
def concat_param(r):
    """An unbatched [N, E] concatenated to every sample along the last axis."""
    n, c, e = r.int(2, 4), r.int(2, 4), r.int(1, 3)
    return Case([n, c], ["y = concat(h, w, axis: -1)"],
                lambda h, p: torch.cat([h, p["w"].expand(h.shape[0], n, e)], -1), [Param("w", [n, e], ("normal", 1.0), free=True)])


@case("concat_cls")
def concat_cls(r):
    """A class token [1, 1, C] in front of the tokens (its leading 1 is dropped, DESIGN.md §2)."""
    n, c = r.int(2, 4), r.int(2, 5)
    return Case([n, c], ["y = concat_cls(token, h)"],
                lambda h, p: torch.cat([p["token"].reshape(1, 1, c).expand(h.shape[0], 1, c), h], 1),
                [Param("token", [1, 1, c], ("normal", 1.0), free=True)])


@case("stack", "sigmoid", "mul")
def stack(r):
    a, b = r.int(2, 4), r.int(2, 4)
    return Case([a, b], ["y = stack(h, sigmoid(h), h * h, axis: 1)"],
                lambda h, p: torch.stack([h, torch.sigmoid(h), h * h], 2))


@case("slice")
def slice(r):
    a, c = r.int(2, 4), r.int(4, 6)
    start = r.int(1, c - 1)             # counted from the end
    length = r.int(1, start)
    return Case([a, c], [f"y = slice(h, axis: -1, start: -{start}, len: {length})"],
                lambda h, p: h.narrow(-1, c - start, length), attrs=dict(axis=-1, start=-start, len=length))


@case("index")
def index(r):
    a, b, c = r.int(2, 3), r.int(2, 4), r.int(2, 3)
    at = r.int(0, b - 1)
    return Case([a, b, c], [f"y = index(h, axis: 1, at: {at})"], lambda h, p: h.select(2, at), attrs=dict(axis=1, at=at))


@case("split", "concat", "sigmoid")
def split(r):
    n, c = r.int(3, 5), r.int(2, 4)
    first = r.int(1, n - 1)
    return Case([n, c], [f"a, b = split(h, sizes: {ints([first, n - first])}, axis: 0)", "y = concat(b, sigmoid(a), axis: 0)"],
                lambda h, p: torch.cat([h[:, first:], torch.sigmoid(h[:, :first])], 1), attrs=dict(sizes=[first, n - first]))


@case("split_cls", "concat_cls", "sigmoid")
def split_cls(r):
    n, c = r.int(3, 5), r.int(2, 4)
    return Case([n, c], ["t, rest = split_cls(h)", "y = concat_cls(sigmoid(t), rest * 2)"],
                lambda h, p: torch.cat([torch.sigmoid(h[:, :1]), h[:, 1:] * 2], 1))


@case("seq2img", "img2seq", "dwconv")
def seq2img_img2seq(r):
    """LocalViT's pattern: tokens as a (non-square) image, a depth-wise conv, back to tokens."""
    hh, ww, c = r.int(2, 3), r.int(3, 4), r.int(2, 3)
    return Case([hh * ww, c], [f"y = img2seq(dwconv(seq2img(h, h: {hh}), kernel: 3) @conv)"],
                lambda h, p: img2seq(F.conv2d(seq2img(h, hh), p["conv.weight"], p["conv.bias"], padding=1, groups=c)),
                [Param("conv.weight", [c, 1, 3, 3], weight(9)), Param("conv.bias", [c], BIAS)], dict(height=hh))


# MARK: - Reductions and spatial ops

@case("mean")
def mean(r):
    return Case([r.int(2, 3), r.int(2, 4), r.int(2, 3)], ["y = mean(h, axis: 1)"], lambda h, p: h.mean(2), attrs=dict(axis=1))


@case("mean")
def mean_last(r):
    return Case([r.int(2, 4), r.int(2, 5)], ["y = mean(h, axis: -1)"], lambda h, p: h.mean(-1), attrs=dict(axis=-1))


@case("gap")
def gap(r):
    return Case([r.int(2, 4), r.int(2, 4), r.int(2, 4)], ["y = gap(h)"], lambda h, p: h.mean((2, 3)))


@case("maxpool")
def maxpool_overlapping(r):
    return Case([r.int(1, 3), r.int(4, 6), r.int(4, 6)], ["y = maxpool(h, kernel: 3, stride: 2, padding: 1)"],
                lambda h, p: maxpool(h, 3, 2, 1), attrs=dict(kernel=3, stride=2, padding=1))


@case("maxpool")
def maxpool_2x2(r):
    """Stride = kernel by default; an odd size leaves the last row/column out."""
    return Case([r.int(1, 3), r.int(4, 5), r.int(4, 5)], ["y = maxpool(h, kernel: 2)"],
                lambda h, p: maxpool(h, 2, 2, 0), attrs=dict(kernel=2, stride=2, padding=0))


@case("roll")
def roll(r):
    c, hh, ww = r.int(1, 3), r.int(3, 5), r.int(3, 5)
    dy, dx = r.pick(-1, 1) * r.int(1, hh - 1), r.pick(-1, 1) * r.int(1, ww - 1)
    return Case([c, hh, ww], [f"y = roll(h, dy: {dy}, dx: {dx})"], lambda h, p: torch.roll(h, (dy, dx), dims=(2, 3)),
                attrs=dict(dy=dy, dx=dx))


@case("circular_pad")
def circular_pad(r):
    c, hh, ww = r.int(1, 3), r.int(3, 4), r.int(3, 4)
    left, right, top, bottom = r.int(0, 2), r.int(1, 3), r.int(1, 3), r.int(0, 2)
    return Case([c, hh, ww], [f"y = circular_pad(h, left: {left}, right: {right}, top: {top}, bottom: {bottom})"],
                lambda h, p: F.pad(h, (left, right, top, bottom), mode="circular"),
                attrs=dict(left=left, right=right, top=top, bottom=bottom))


# MARK: - Attention

@case("sdpa", "linear")
def sdpa_self(r):
    heads, d, n = r.pick(1, 2), r.int(2, 3), r.int(2, 4)
    c = heads * d
    return Case([n, c], [f"k = linear(h, out: {c}, bias: false) @k", f"v = linear(h, out: {c}) @v",
                         f"y = sdpa(h, k, v, heads: {heads})"],
                lambda h, p: sdpa(h, F.linear(h, p["k.weight"]), F.linear(h, p["v.weight"], p["v.bias"]), heads, heads),
                [Param("k.weight", [c, c], weight(c)), Param("v.weight", [c, c], weight(c)), Param("v.bias", [c], BIAS)],
                dict(heads=heads, kv_heads=heads), input_std=1.5)


@case("sdpa", "slice", "linear")
def sdpa_grouped_cross(r):
    """Grouped heads (kv_heads < heads) and fewer keys than queries: keys and values from tokens 1…Nk."""
    heads, kv_heads, d, nq = 4, r.pick(1, 2), 2, r.int(3, 4)
    nk, c, ckv = nq - 1, heads * d, kv_heads * d
    return Case([nq, c], [f"kv = slice(h, axis: 0, start: 1, len: {nk})", f"k = linear(kv, out: {ckv}, bias: false) @k",
                          f"v = linear(kv, out: {ckv}) @v", f"y = sdpa(h, k, v, heads: {heads}, kv_heads: {kv_heads})"],
                lambda h, p: sdpa(h, F.linear(h[:, 1:], p["k.weight"]), F.linear(h[:, 1:], p["v.weight"], p["v.bias"]), heads, kv_heads),
                [Param("k.weight", [ckv, c], weight(c)), Param("v.weight", [ckv, c], weight(c)), Param("v.bias", [ckv], BIAS)],
                dict(heads=heads, kv_heads=kv_heads), input_std=1.5)


@case("local_attention", "index", "slice", "linear")
def local_attention_grouped(r):
    """Queries from variant 0, keys and values from variants 1…T, two query heads per kv head."""
    heads, kv_heads, d, t, n = 2, 1, 2, r.int(2, 3), r.int(2, 3)
    c, ckv = heads * d, kv_heads * d
    return Case([t + 1, n, c], ["q = index(h, axis: 0, at: 0)", f"kv = slice(h, axis: 0, start: 1, len: {t})",
                                f"k = linear(kv, out: {ckv}, bias: false) @k", f"v = linear(kv, out: {ckv}) @v",
                                f"y = local_attention(q, k, v, heads: {heads}, kv_heads: {kv_heads})"],
                lambda h, p: local_attention(h[:, 0], F.linear(h[:, 1:], p["k.weight"]), F.linear(h[:, 1:], p["v.weight"], p["v.bias"]),
                                             heads, kv_heads),
                [Param("k.weight", [ckv, c], weight(c)), Param("v.weight", [ckv, c], weight(c)), Param("v.bias", [ckv], BIAS)],
                dict(heads=heads, kv_heads=kv_heads), input_std=1.5)
