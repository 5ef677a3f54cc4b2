"""anneal's FGSM and PGD against PyTorch's on the same package, the same images, the same attack:
the accuracy under attack (FGSM is deterministic, so the two must agree but for float rounding
at the sign of tiny gradients) and the CPU time per 1,000 images, in one run.

The PyTorch model is built from the package's program (conv, batchnorm, relu, maxpool, flatten,
dense layers: the digits CNN) with the package's weights, in eval mode; inputs are normalised
from the package's signature; epsilon is in pixel units over 255, inputs kept in [0, 1].

Usage: python3 bench/attacks.py PATH/TO/anneal PROGRAM_DIR [N] [THREADS]
(PROGRAM_DIR holds a built program, e.g. examples/digits; N test images, default 2000.)
"""
import gzip
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
from safetensors import safe_open
from torch import nn

anneal, program_dir = os.path.abspath(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
torch.set_num_threads(threads)


def package_path():
    toml = open(os.path.join(program_dir, "anneal.toml")).read()
    name = re.search(r'^name = "(.*)"', toml, re.M).group(1)
    version = re.search(r'^version = "(.*)"', toml, re.M).group(1)
    return os.path.join(program_dir, "target", f"{name}-{version}.anneal")


def torch_model(path):
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
        t = {k: torch.from_numpy(f.get_tensor(k).copy()) for k in f.keys()}
    program, signature = json.loads(meta["anneal.program"]), json.loads(meta["anneal.signature"])
    layers = []
    for i, layer in enumerate(program["layers"]):
        op = layer["op"]
        if op == "conv":
            w = t[f"layers.{i}.weight"]
            conv = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), layer["stride"], layer["pad"])
            conv.weight.data, conv.bias.data = w, t[f"layers.{i}.bias"]
            layers.append(conv)
        elif op == "batch-norm":
            bn = nn.BatchNorm2d(t[f"layers.{i}.gamma"].shape[0])
            bn.weight.data, bn.bias.data = t[f"layers.{i}.gamma"], t[f"layers.{i}.beta"]
            bn.running_mean, bn.running_var = t[f"layers.{i}.running_mean"], t[f"layers.{i}.running_var"]
            layers.append(bn)
        elif op == "relu":
            layers.append(nn.ReLU())
        elif op == "max-pool":
            layers.append(nn.MaxPool2d(layer["kernel"], layer["stride"]))
        elif op == "flatten":
            layers.append(nn.Flatten())
        elif op == "dense":
            w = t[f"layers.{i}.weight"]
            dense = nn.Linear(w.shape[0], w.shape[1])
            dense.weight.data, dense.bias.data = w.T.contiguous(), t[f"layers.{i}.bias"]
            layers.append(dense)
        else:
            raise SystemExit(f"bench/attacks.py does not build layer {op}")
    return nn.Sequential(*layers).eval(), signature["normalization"]


def test_images():
    data = os.path.join(program_dir, "data")
    with gzip.open(os.path.join(data, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    with gzip.open(os.path.join(data, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return torch.from_numpy(images.astype(np.float32) / 255), torch.from_numpy(labels.astype(np.int64))


def attack(model, norm, x, y, eps, steps, step, random_start):
    def loss_grad(v):
        v = v.clone().requires_grad_(True)
        z = (v * 255 * norm["scale"] - norm["mean"]) / norm["std"]
        nn.functional.cross_entropy(model(z), y, reduction="sum").backward()
        return v.grad
    v = x.clone()
    if random_start:
        v = (v + eps * (2 * torch.rand_like(v) - 1)).clamp(0, 1)
    for _ in range(steps):
        v = v + step * loss_grad(v).sign()
        v = torch.min(torch.max(v, x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return (model((v * 255 * norm["scale"] - norm["mean"]) / norm["std"]).argmax(1) == y).float().mean().item()


def torch_run(model, norm, x, y, eps, steps):
    start = time.process_time()
    if steps == 1:
        acc = attack(model, norm, x, y, eps, 1, eps, False)
    else:
        acc = attack(model, norm, x, y, eps, steps, 2.5 * eps / steps, True)
    return acc, (time.process_time() - start) / len(y) * 1000


def anneal_run(eps, steps):
    attacks = "fgsm" if steps == 1 else "pgd"
    args = [anneal, "audit", "-C", program_dir, "--json", "--explain", "0", "--attacks", attacks,
            "--epsilon", str(eps), "--steps", str(max(steps, 1)), "--examples", str(n)]
    start = os.times()
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    end = os.times()
    cpu = (end.children_user - start.children_user) + (end.children_system - start.children_system)
    acc = json.loads(out)["robustness"]["points"][0]["accuracy"]
    return acc, cpu / n * 1000


def main():
    model, norm = torch_model(package_path())
    x, y = test_images()
    print(f"{n} test images of {program_dir}, torch {torch.__version__} on {threads} threads; "
          "CPU seconds per 1,000 images (anneal's include loading the package and the test split)")
    print(f"{'attack':<8} {'epsilon':>7} {'anneal acc':>10} {'torch acc':>9} {'anneal s':>8} {'torch s':>7}")
    for steps, eps in [(1, 0.1), (1, 0.3), (20, 0.1), (20, 0.3)]:
        a_acc, a_cpu = anneal_run(eps, steps)
        t_acc, t_cpu = torch_run(model, norm, x, y, eps, steps)
        name = "fgsm" if steps == 1 else f"pgd-{steps}"
        print(f"{name:<8} {eps:>7} {a_acc:>10.4f} {t_acc:>9.4f} {a_cpu:>8.2f} {t_cpu:>7.2f}")


if __name__ == "__main__":
    main()
