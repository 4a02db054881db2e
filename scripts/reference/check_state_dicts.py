"""Check that every full-size reference model has exactly the official state_dict.

For each spec, compares model.state_dict() with shared/reference/state_dicts/<spec>.txt
(lines `name<TAB>[shape]<TAB>dtype`, header `# ... N entries, F floats.`): same keys in the same
order, same shapes and dtypes, and the same float32 total as the header. Exits 1 on any mismatch.

    python check_state_dicts.py [--dir DIR] [SPEC ...]
"""
import argparse
import re
import sys
from pathlib import Path

import torch

from models import SPECS, build

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "state_dicts"


def read_official(path):
    """-> ([(name, shape tuple, dtype str)], header float count)."""
    lines = path.read_text().splitlines()
    floats = int(re.search(r"([\d,]+) floats", lines[0]).group(1).replace(",", ""))
    entries = []
    for line in lines[1:]:
        if line.strip():
            name, shape, dtype = line.split("\t")
            entries.append((name, tuple(int(s) for s in re.findall(r"\d+", shape)), dtype))
    return entries, floats


def problems(name, directory):
    """Human-readable differences between build(name) and the official listing (empty if none)."""
    official, floats = read_official(directory / f"{name}.txt")
    ours = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in build(name).state_dict().items()]
    out = []
    missing = sorted({e[0] for e in official} - {e[0] for e in ours})
    extra = sorted({e[0] for e in ours} - {e[0] for e in official})
    out += [f"missing key {k}" for k in missing] + [f"unexpected key {k}" for k in extra]
    theirs = dict((e[0], e[1:]) for e in official)
    out += [f"{k}: ours {s} {d}, official {theirs[k][0]} {theirs[k][1]}"
            for k, s, d in ours if k in theirs and (s, d) != theirs[k]]
    if not out and [e[0] for e in ours] != [e[0] for e in official]:
        first = next(i for i, (a, b) in enumerate(zip(ours, official)) if a[0] != b[0])
        out.append(f"key order differs at entry {first}: ours {ours[first][0]}, official {official[first][0]}")
    total = sum(torch.Size(s).numel() for _, s, d in ours if d == "float32")
    if total != floats:
        out.append(f"float32 total {total:,} != official {floats:,}")
    return out, len(official), floats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=list(SPECS), help="default: all")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"default: {DEFAULT_DIR}")
    args = parser.parse_args()
    torch.set_num_threads(2)
    failed = 0
    for name in args.specs:
        found, entries, floats = problems(name, args.dir)
        print(f"{'FAIL' if found else 'ok  '} {name:22s} {entries:4d} entries {floats:>12,} floats")
        for p in found:
            print(f"     {p}")
        failed += bool(found)
    print(f"{len(args.specs) - failed}/{len(args.specs)} match the official state_dicts")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
