#!/usr/bin/env python3
"""Composition end to end: the digits program published to an OCI registry and reused by a
Fashion-MNIST program trained on 1,000 labels, frozen and fine-tuned, against the same network
trained from scratch on the same 1,000 labels.

1. Start Debian's `docker-registry` (Distribution 2.8) on loopback with a temporary config.
2. Build examples/digits (MNIST, 10,000 images) and `anneal publish` it as
   127.0.0.1:PORT/anneal/digits:0.1.0.
3. Fashion-MNIST from ../shared/datasets/fashion-mnist/train60k: the first 1,000 images are the
   training split, the last 10,000 the test split.
4. Programs of 30 epochs of Adam 2e-3 with a cosine schedule, batch 64, each reusing digits
   through `anneal add 127.0.0.1:PORT/anneal/digits@^0.1`:
   - frozen: ["use digits frozen upto 11", "dense 10"]: the digits network up to its 128
     features, and a new classifier; frozen-conv: its convolutions only (`upto 9`: through the
     flatten, 512 features) under a new dense 128 and classifier;
   - finetune (the base at 0.1 times the learning rate), finetune-1 (at the full rate),
     finetune-conv (the convolutions at the full rate, a new head);
   - scratch: the digits architecture itself, from a random start.
5. Print each one's test accuracy and build time, and check that the frozen build kept the
   dependency's tensors bit for bit.

usage: bench/transfer.py target/debug/anneal      (needs docker-registry, numpy, safetensors)
"""
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FASHION = ROOT.parent / "shared/datasets/fashion-mnist"
TRAIN, TEST = 1000, 10000
DIGITS_LAYERS = ["conv 16 5x5", "batchnorm", "relu", "maxpool 2", "conv 32 5x5", "batchnorm",
                 "relu", "maxpool 2", "flatten", "dense 128", "relu", "dense 10"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(tmp):
    """Distribution 2.8 on a free loopback port, storage in tmp; returns (process, host:port)."""
    port = free_port()
    config = tmp / "registry.yml"
    config.write_text(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {tmp / "registry"}
http:
  addr: 127.0.0.1:{port}
  secret: transfer-bench
""")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/")
            return proc, f"127.0.0.1:{port}"
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    proc.kill()
    sys.exit("docker-registry did not start")


def idx(path, magic, dims, data):
    header = b"".join(int(v).to_bytes(4, "big") for v in (magic, *dims))
    with gzip.open(path, "wb") as f:
        f.write(header + data.tobytes())


def fashion_splits(data_dir):
    """train (first 1,000) and test (last 10,000) IDX files from the 60,000-image pool."""
    with gzip.open(FASHION / "train60k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / "train60k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    data_dir.mkdir(parents=True)
    for name, sl in (("train", slice(0, TRAIN)), ("test", slice(len(labels) - TEST, None))):
        x, y = images[sl], labels[sl]
        idx(data_dir / f"{name}-images-idx3-ubyte.gz", 0x803, (len(y), 28, 28), x)
        idx(data_dir / f"{name}-labels-idx1-ubyte.gz", 0x801, (len(y),), y)


def manifest(name, layers):
    quoted = ", ".join(f'"{layer}"' for layer in layers)
    return f"""[program]
name = "{name}"
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
layers = [{quoted}]

[train]
epochs = 30
batch = 64
optimizer = "adam 2e-3"
schedule = "cosine"
seed = 42
"""


def run(anneal, *args):
    out = subprocess.run([anneal, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"anneal {' '.join(map(str, args))} failed:\n{out.stderr}")
    return out.stdout


def build(anneal, prog):
    done = json.loads(run(anneal, "build", "-C", str(prog), "--json").strip().splitlines()[-1])
    return done["accuracy"], done["seconds"], Path(done["package"])


def tensors(package):
    from safetensors.numpy import load_file
    return load_file(str(package))


def main():
    anneal = str(Path(sys.argv[1]).resolve())
    if not FASHION.is_dir():
        sys.exit(f"skipped: {FASHION} is absent")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        registry, host = start_registry(tmp)
        try:
            digits = tmp / "digits"
            digits.mkdir()
            shutil.copy(ROOT / "examples/digits/anneal.toml", digits)
            shutil.copytree(ROOT / "examples/digits/data", digits / "data")
            acc, secs, digits_pkg = build(anneal, digits)
            print(f"digits (MNIST, 10,000 labels): accuracy {acc:.4f}, built in {secs:.1f}s")
            started = time.time()
            run(anneal, "publish", "-C", str(digits), f"{host}/anneal/digits:0.1.0")
            print(f"published {host}/anneal/digits:0.1.0 in {time.time() - started:.2f}s")
            fashion_splits(tmp / "fashion-data")
            programs = {
                "frozen": ["use digits frozen upto 11", "dense 10"],
                "frozen-conv": ["use digits frozen upto 9", "dense 128", "relu", "dense 10"],
                "finetune": ["use digits finetune lr 0.1 upto 11", "dense 10"],
                "finetune-1": ["use digits finetune upto 11", "dense 10"],
                "finetune-conv": ["use digits finetune upto 9", "dense 128", "relu", "dense 10"],
                "scratch": DIGITS_LAYERS,
            }
            print(f"\nFashion-MNIST, {TRAIN:,} training labels, tested on {TEST:,}:")
            print(f"{'program':<15}{'accuracy':>10}{'build s':>10}  layers")
            for name, layers in programs.items():
                prog = tmp / name
                prog.mkdir()
                shutil.copytree(tmp / "fashion-data", prog / "data")
                (prog / "anneal.toml").write_text(manifest(f"fashion-{name}", layers))
                if layers[0].startswith("use"):
                    run(anneal, "add", "-C", str(prog), f"{host}/anneal/digits@^0.1")
                acc, secs, pkg = build(anneal, prog)
                print(f"{name:<15}{acc:>10.4f}{secs:>10.1f}  {', '.join(layers)}", flush=True)
                if name == "frozen":  # its base: the digits tensors of layers 0-10
                    ours, theirs = tensors(pkg), tensors(digits_pkg)
                    base = [k for k in theirs if int(k.split(".")[1]) < 11]
                    same = all(np.array_equal(ours[k], theirs[k]) for k in base)
                    print(f"{'':<15}the {len(base)} tensors of the frozen base are the "
                          f"dependency's bit for bit: {same}")
        finally:
            registry.kill()


if __name__ == "__main__":
    main()
