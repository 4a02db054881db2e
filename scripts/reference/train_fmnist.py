"""PyTorch baseline: train localvit_fmnist (full size) on Fashion-MNIST with the recipe Locus implements.

Recipe (every choice is a flag; the defaults are the recipe):
  init       the reference model's constructor under torch.manual_seed(seed): PyTorch defaults for Conv2d/Linear
             (kaiming_uniform a=sqrt(5), bias U(+-1/sqrt(fan_in))), LayerNorm/BatchNorm weight 1 bias 0,
             cls_token and pos_embed zeros
  data       pixels x/255, then (x - 0.2860) / 0.3530; --augment: random crop 28 from the image zero-padded by 2
             (black, i.e. padded before normalising) and a random horizontal flip, per image
  order      a fresh permutation of the 60000 training images per epoch from torch.Generator(seed);
             batch 64, the last partial batch dropped (937 steps per epoch); augmentation draws from Generator(seed + 1)
  optimizer  AdamW lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.05 on parameters of 2+ dims except
             position embeddings and the class token (locus_ref/train.py), 0 on the rest
  schedule   per step: lr * (step + 1) / warmup for step < warmup (warmup = warmup epochs * steps per epoch), then
             lr * 0.5 * (1 + cos(pi * (step - warmup) / (total - warmup)))
  loss       cross-entropy, label smoothing 0.1, mean over the batch; gradients clipped to global norm 1.0
  eval       after every epoch, model.eval() (BatchNorm running statistics) on the 10000 test images
Prints one line per epoch and writes the metrics as JSON to --out.

    python train_fmnist.py [--epochs 5] [--lr 2e-3] [--augment] [--out /tmp/torch_fmnist.json]
"""
import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from locus_ref.train import adamw, cosine_lr, loss_of
from models import build

DATA = Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530
PAD = 2


def read_idx(path):
    """An IDX file (gzip) as a numpy uint8 array: images [n, 28, 28] or labels [n]."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder, split):
    """Images [n, 1, 28, 28] float32 in [0, 1] and labels [n] int64."""
    x = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
    y = read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
    return torch.from_numpy(x.astype(np.float32) / 255).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def normalize(x):
    return (x - MEAN) / STD


def augment(x, gen):
    """Per image: crop 28x28 at a random offset from the image zero-padded by PAD, then flip with p 0.5."""
    B, _, H, W = x.shape
    padded = F.pad(x, (PAD, PAD, PAD, PAD))
    dy = torch.randint(0, 2 * PAD + 1, (B,), generator=gen)
    dx = torch.randint(0, 2 * PAD + 1, (B,), generator=gen)
    flip = torch.rand(B, generator=gen) < 0.5
    out = torch.stack([padded[b, :, dy[b]:dy[b] + H, dx[b]:dx[b] + W] for b in range(B)])
    out[flip] = out[flip].flip(-1)
    return out


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(normalize(x[i:i + batch]))
            correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
            loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
    model.train()
    return correct / len(x), loss / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup-epochs", type=float, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--clip", type=float, default=1.0, help="global gradient norm (0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("/tmp/torch_fmnist.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x_train, y_train = load(args.data, "train")
    x_test, y_test = load(args.data, "t10k")
    torch.manual_seed(args.seed)
    model = build("localvit_fmnist").train()
    params = sum(p.numel() for p in model.parameters())
    opt = adamw(model, args.lr, args.weight_decay)
    order_gen = torch.Generator().manual_seed(args.seed)
    aug_gen = torch.Generator().manual_seed(args.seed + 1)
    steps_per_epoch = len(x_train) // args.batch
    total = args.epochs * steps_per_epoch
    warmup = round(args.warmup_epochs * steps_per_epoch)
    print(f"localvit_fmnist {params} params, {steps_per_epoch} steps/epoch, {total} steps, warmup {warmup}, "
          f"{vars(args)}", flush=True)

    history, step, start = [], 0, time.perf_counter()
    for epoch in range(args.epochs):
        tic = time.perf_counter()
        order = torch.randperm(len(x_train), generator=order_gen)
        loss_sum, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            x = x_train[idx]
            x = normalize(augment(x, aug_gen) if args.augment else x)
            lr = cosine_lr(step, args.lr, warmup, total)
            for group in opt.param_groups:
                group["lr"] = lr
            logits = model(x)
            loss = loss_of(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            loss_sum += loss.item()
            correct += (logits.argmax(1) == y_train[idx]).sum().item()
            step += 1
        train_time = time.perf_counter() - tic
        acc, test_loss = evaluate(model, x_test, y_test)
        row = {"epoch": epoch + 1, "train_loss": loss_sum / steps_per_epoch,
               "train_acc": correct / (steps_per_epoch * args.batch), "test_acc": acc, "test_loss": test_loss,
               "train_seconds": train_time, "images_per_s": steps_per_epoch * args.batch / train_time,
               "lr_end": lr, "elapsed": time.perf_counter() - start}
        history.append(row)
        print(f"epoch {epoch + 1:2d}  train loss {row['train_loss']:.4f}  train acc {row['train_acc']:.4f}  "
              f"test acc {acc:.4f}  test loss {test_loss:.4f}  {row['images_per_s']:.0f} img/s  "
              f"({train_time:.0f} s, elapsed {row['elapsed']:.0f} s)", flush=True)
        args.out.write_text(json.dumps({"config": {k: str(v) if isinstance(v, Path) else v
                                                   for k, v in vars(args).items()},
                                        "params": params, "epochs": history}, indent=1) + "\n")


if __name__ == "__main__":
    main()
