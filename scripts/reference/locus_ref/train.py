"""The training recipe shared by make_train_fixtures.py, train_fmnist.py and bench_train.py.

Loss: cross-entropy with label smoothing, mean over the batch. Optimizer: AdamW with two parameter
groups, the timm convention for what is not decayed (biases, norm weights, every 1-D parameter,
position embeddings and class tokens). Schedule: linear warm-up then cosine, per step.
"""
import math

import torch
from torch.nn import functional as F

LABEL_SMOOTHING = 0.1
ADAMW = dict(betas=(0.9, 0.999), eps=1e-8)
NO_DECAY_WORDS = ("pos", "cls_token")        # covers pos_embed (ViT), pos_layer_embed (CeiT), pos_emb (SAG)


def decays(name, param):
    """True when AdamW decays `param`: weights of 2 or more dims that are not embeddings or tokens."""
    return param.ndim >= 2 and not any(word in name for word in NO_DECAY_WORDS)


def no_decay_names(model):
    """state_dict names of the parameters AdamW leaves undecayed, in state_dict order."""
    return [name for name, p in model.named_parameters() if not decays(name, p)]


def param_groups(model, weight_decay):
    """[decayed group, undecayed group] for torch.optim.AdamW."""
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if decays(n, p)], "weight_decay": weight_decay},
            {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]


def adamw(model, lr, weight_decay):
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, **ADAMW)


def loss_of(logits, labels):
    """Cross-entropy with label smoothing 0.1, mean over the batch: logits [B, classes], labels [B]."""
    return F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)


def cosine_lr(step, base, warmup, total):
    """Learning rate of `step` (0-based): base*(step+1)/warmup for step < warmup, then cosine to 0."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, base * 0.5 * (1 + math.cos(math.pi * progress)))
