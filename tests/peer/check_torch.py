#!/usr/bin/env python3
"""The PyTorch handoff against PyTorch itself: a small CNN on the embedded digits built by anneal's
own engine and by `--engine torch --nproc 2 --device cpu` (two processes, DDP over gloo).

- the torch-built package loads, `anneal test` passes and does not call it stale;
- `anneal predict` agrees with the generated model.py's own forward pass (the package's weights
  loaded through its TENSORS table, the signature's normalisation) within 1e-5;
- the accuracy is within noise (1.5 points) of the native build's.

usage: tests/peer/check_torch.py target/debug/anneal   (needs torch, safetensors, numpy)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from common import DATA, read_idx_images

TOLERANCE = 1e-5
LAYERS = ["conv 8 5x5", "batchnorm", "relu", "maxpool 2", "flatten", "dropout 0.1", "dense 32",
          "relu", "dense 10"]


def manifest(name):
    quoted = ", ".join(f'"{layer}"' for layer in LAYERS)
    return f"""[program]
name = "{name}"
version = "0.1.0"
[data]
input = "image"
shape = [1, 28, 28]
classes = 10
normalize = "standard"
[[data.source]]
path = "data/train10k"
split = "train"
[[data.source]]
path = "data/t10k"
split = "test"
[model]
layers = [{quoted}]
[train]
epochs = 2
batch = 128
optimizer = "adam 3e-3"
augment = "shift 1"
seed = 7
[[check]]
metric = "accuracy"
at_least = 0.9
"""


def build(anneal, tmp, name, *flags):
    prog = os.path.join(tmp, name)
    os.makedirs(prog)
    shutil.copytree(DATA, os.path.join(prog, "data"))
    with open(os.path.join(prog, "anneal.toml"), "w") as f:
        f.write(manifest(name))
    out = subprocess.run([anneal, "build", "-C", prog, "--json", *flags], check=True,
                         capture_output=True, text=True).stdout
    done = json.loads(out.strip().splitlines()[-1])
    return prog, done


def module_probs(prog, package, images):
    """model.py of the torch job, with the package's weights, on the package's normalisation."""
    import torch
    from safetensors import safe_open

    sys.path.insert(0, os.path.join(prog, "target", "torch"))
    from model import Model, to_torch

    with safe_open(package, framework="np") as f:
        weights = {k: f.get_tensor(k) for k in f.keys()}
        norm = json.loads(f.metadata()["anneal.signature"])["normalization"]
    model = Model().eval()
    model.load_state_dict(to_torch(weights), strict=False)
    x = (images.astype(np.float32) * norm["scale"] - norm["mean"]) / norm["std"]
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x.astype(np.float32))), 1).double().numpy()


def main():
    anneal = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        _, native = build(anneal, tmp, "native")
        prog, torch_built = build(anneal, tmp, "torched", "--engine", "torch", "--nproc", "2",
                                  "--device", "cpu")
        package = torch_built["package"]
        tested = subprocess.run([anneal, "test", "-C", prog], capture_output=True, text=True)
        print(tested.stdout.strip())
        test_ok = tested.returncode == 0 and "stale" not in tested.stderr
        if not test_ok:
            print(f"anneal test: exit {tested.returncode}, {tested.stderr.strip()}")
        out = subprocess.run([anneal, "predict", package, os.path.join(DATA, "t10k"), "--json"],
                             check=True, capture_output=True, text=True).stdout
        ours = np.array([p["probabilities"] for p in json.loads(out)], dtype=np.float64)
        images = read_idx_images(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))
        theirs = module_probs(prog, package, images)
        diff = float(np.abs(ours - theirs).max())
        gap = abs(native["accuracy"] - torch_built["accuracy"])
        print(f"torch: native accuracy {native['accuracy']:.4f} in {native['seconds']:.1f}s, "
              f"torch x2 (gloo) {torch_built['accuracy']:.4f} in {torch_built['seconds']:.1f}s; "
              f"max |anneal predict - model.py| = {diff:.2e} over {ours.size} probabilities")
        ok = test_ok and diff <= TOLERANCE and gap <= 0.015
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
