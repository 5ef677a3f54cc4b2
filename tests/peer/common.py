"""Shared by the peer checks: build a small program on the embedded digits data, read IDX."""

import gzip
import os
import shutil
import subprocess

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "examples", "digits", "data")


def manifest(name, layers, normalize="standard", seed=3, validation=None):
    """An MLP-style program on train10k/t10k with one training epoch; `validation` names the
    split temperature scaling is fitted on."""
    quoted = ", ".join(f'"{layer}"' for layer in layers)
    return f"""
[program]
name = "{name}"
version = "0.1.0"

[data]
input = "image"
shape = [1, 28, 28]
classes = 10
normalize = "{normalize}"
{f'validation-split = "{validation}"' if validation else ""}

[[data.source]]
path = "data/train10k"
split = "train"

[[data.source]]
path = "data/t10k"
split = "test"

[model]
layers = [{quoted}]

[train]
epochs = 1
batch = 128
seed = {seed}
"""


def build(anneal, tmp, name, layers, seed=3, validation=None, flags=()):
    """Build the program in tmp/name (`anneal build` with `flags`); return the package path."""
    prog = os.path.join(tmp, name)
    os.makedirs(prog)
    shutil.copytree(DATA, os.path.join(prog, "data"))
    with open(os.path.join(prog, "anneal.toml"), "w") as f:
        f.write(manifest(name, layers, seed=seed, validation=validation))
    subprocess.run([anneal, "build", "-C", prog, *flags], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(prog, "target", f"{name}-0.1.0.anneal")


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)
