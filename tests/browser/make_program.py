#!/usr/bin/env python3
"""Write a small digits program for the studio's checks: DIR/anneal.toml (a small MLP, few
epochs) and DIR/data/{train,test}-{images,labels} IDX files cut from examples/digits/data.

With --pool P, also DIR/data/pool-images-idx3-ubyte: P more train10k images, for
`anneal data import DIR/data/pool --unlabeled` (the uncertain queue's pool).

usage: make_program.py DIR [--train N] [--test M] [--pool P] [--epochs E]
"""
import argparse
import gzip
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "digits" / "data"

MANIFEST = """[program]
name = "minidigits"
version = "0.1.0"

[data]
input = "image"
shape = [1, 28, 28]
classes = 10
normalize = "unit"

[[data.source]]
path = "data/train"
split = "train"

[[data.source]]
path = "data/test"
split = "test"

[model]
layers = ["flatten", "dense 32", "relu", "dense 10"]

[train]
epochs = {epochs}
batch = 32
optimizer = "adam 2e-3"
seed = 7
"""


def cut(prefix, n, skip=0):
    images = gzip.open(DATA / f"{prefix}-images-idx3-ubyte.gz").read()
    labels = gzip.open(DATA / f"{prefix}-labels-idx1-ubyte.gz").read()
    _, count, rows, cols = struct.unpack(">IIII", images[:16])
    n = max(0, min(n, count - skip))
    size = rows * cols
    img = struct.pack(">IIII", 2051, n, rows, cols)
    img += images[16 + skip * size : 16 + (skip + n) * size]
    lab = struct.pack(">II", 2049, n) + labels[8 + skip : 8 + skip + n]
    return img, lab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--pool", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    out = pathlib.Path(a.dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "anneal.toml").write_text(MANIFEST.format(epochs=a.epochs))
    for name, prefix, n in (("train", "train10k", a.train), ("test", "t10k", a.test)):
        img, lab = cut(prefix, n)
        (out / "data" / f"{name}-images-idx3-ubyte").write_bytes(img)
        (out / "data" / f"{name}-labels-idx1-ubyte").write_bytes(lab)
    if a.pool:
        img, lab = cut("train10k", a.pool, skip=a.train)
        (out / "data" / "pool-images-idx3-ubyte").write_bytes(img)
        (out / "data" / "pool-labels-idx1-ubyte").write_bytes(lab)


if __name__ == "__main__":
    main()
