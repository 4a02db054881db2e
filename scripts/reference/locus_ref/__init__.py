"""Independent PyTorch reference of the Locus bundled specs, written from shared/reference/ARCH_NOTES.md.

build(name, **overrides) -> nn.Module whose state_dict() has the official keys, shapes and order.
The overridable constants carry the same names as the `const`s of specs/<name>.locus.
"""
from . import ceit, deit, localvit, sag


def _localvit(name):
    variant = dict(localvit.VARIANTS[name])
    act = variant.pop("act")
    return {**localvit.DEFAULTS, **variant}, lambda **c: localvit.build(act, **c)


def _sag(name):
    return {**sag.DEFAULTS, **sag.FLAVOURS[name]["defaults"]}, lambda **c: sag.build(name, **c)


# name -> (default constants, constructor taking exactly those constants)
SPECS = {
    "deit_tiny": (deit.DEFAULTS, deit.build),
    **{name: _localvit(name) for name in localvit.VARIANTS},
    "ceit_tiny": (ceit.DEFAULTS, ceit.build),
    **{name: _sag(name) for name in sag.FLAVOURS},
}


def constants(name, **overrides):
    """The spec's default constants with `overrides` applied; unknown names are an error."""
    if name not in SPECS:
        raise KeyError(f"unknown spec {name!r}; known: {', '.join(SPECS)}")
    defaults = SPECS[name][0]
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise TypeError(f"{name} has no constant {', '.join(unknown)}; constants: {', '.join(defaults)}")
    return {**defaults, **overrides}


def build(name, **overrides):
    """The model of spec `name` in eval mode, float32, with zero/default-initialised parameters."""
    return SPECS[name][1](**constants(name, **overrides)).eval()
