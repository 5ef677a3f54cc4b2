"""Peer check: open an anneal package with Python's `safetensors`, run the forward pass of a
small MLP in numpy from its weights and metadata alone, and compare with `anneal predict --json`.
The program fits temperature scaling on a validation split (here the test split), so the
reader applies the signature's `temperature` too: softmax(logits / temperature).

Usage: python3 tests/peer/check_package.py PATH/TO/anneal
Builds a small MLP program on the embedded digits data in a temporary folder.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open

from common import DATA, build, read_idx_images


def forward(program, tensors, x, temperature=1.0):
    """The program's layers in numpy: dense weights are [in, out]."""
    for i, layer in enumerate(program["layers"]):
        op = layer["op"]
        if op == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif op == "dense":
            x = x @ tensors[f"layers.{i}.weight"] + tensors[f"layers.{i}.bias"]
        elif op == "relu":
            x = np.maximum(x, 0)
        elif op == "tanh":
            x = np.tanh(x)
        elif op == "sigmoid":
            x = 1 / (1 + np.exp(-x))
        elif op == "softmax":
            pass
        else:
            raise SystemExit(f"peer check does not implement layer {op}")
    x = x / temperature
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def main():
    anneal = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="anneal-peer-")
    try:
        package = build(anneal, tmp, "peer", ["flatten", "dense 64", "relu", "dense 32", "tanh", "dense 10", "softmax"],
                        validation="test")

        with safe_open(package, framework="np") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        assert meta["anneal.format"] == "1", meta["anneal.format"]
        program = json.loads(meta["anneal.program"])
        signature = json.loads(meta["anneal.signature"])
        lineage = json.loads(meta["anneal.lineage"])
        metrics = json.loads(meta["anneal.metrics"])
        cost = json.loads(meta["anneal.cost"])
        assert len(lineage["build_key"]) == 64 and len(lineage["dataset_commit"]) == 64
        assert cost["params"] == sum(t.size for t in tensors.values()), "cost.params disagrees with the tensors"
        assert signature["classes"] == [str(i) for i in range(10)]

        images = read_idx_images(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:500]
        norm = signature["normalization"]
        x = (images.astype(np.float32) * np.float32(norm["scale"]) - np.float32(norm["mean"])) / np.float32(norm["std"])
        temperature = signature["temperature"]
        assert 0 < temperature and abs(temperature - 1) > 1e-4, temperature
        ours = forward(program, tensors, x, temperature)

        out = subprocess.run([anneal, "predict", package, os.path.join(DATA, "t10k"), "--json"],
                             check=True, capture_output=True, text=True).stdout
        theirs = np.array([p["probabilities"] for p in json.loads(out)][:500], dtype=np.float64)
        diff = float(np.abs(ours - theirs).max())
        agree = float((ours.argmax(1) == theirs.argmax(1)).mean())
        print(f"peer check: {len(tensors)} tensors, temperature {temperature:.4f}, test accuracy {metrics['accuracy']:.4f}, "
              f"max |numpy - anneal| = {diff:.2e} over {ours.size} probabilities, argmax agreement {agree:.4f}")
        if diff > 1e-4:
            print("0 passed, 1 failed")
            sys.exit(1)
        print("1 passed, 0 failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
