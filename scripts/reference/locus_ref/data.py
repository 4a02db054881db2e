"""Seeds, inputs and forward passes shared by make_fixtures.py and check_full.py."""
import copy
import zlib

import numpy as np
import torch


def seed_of(name):
    """A stable per-spec seed (crc32 of the name), so every spec draws different weights."""
    return zlib.crc32(name.encode())


def random_inputs(model, name, image, batch=3):
    """[batch, Ci, image, image] float32 standard normal; Ci from the model's first conv."""
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    shape = (batch, first_conv.in_channels, image, image)
    return np.random.default_rng(seed_of(name) + 1).standard_normal(shape).astype(np.float32)


def run(model, x):
    """Logits of `model` on the numpy batch x, in the model's dtype, returned as float64 numpy."""
    with torch.no_grad():
        return model(torch.from_numpy(x).to(next(model.parameters()).dtype)).double().numpy()


def run_f64(model, x):
    """Logits of a float64 copy of `model`: its float32 weights and x upcast, computed in float64."""
    return run(copy.deepcopy(model).double(), x)
