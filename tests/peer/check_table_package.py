"""Peer check for table packages: build examples/income (UCI Adult), open the package with
Python's `safetensors`, encode raw CSV rows in numpy from the fitted table the package records
(numeric columns standardised, optionally after a signed log; categorical columns one-hot over
the recorded values plus a last slot for anything else), run the forward pass in numpy, and
compare with `anneal predict --json` on the same CSV file.

Usage: python3 tests/peer/check_table_package.py PATH/TO/anneal
Skips when ../shared/datasets/adult is absent.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open

from check_package import forward
from common import ROOT

ADULT = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "adult")


def encode(table, row):
    """One raw row (a dict of text values) as the model input `table` says."""
    out = []
    for c in table["numeric"]:
        text = row.get(c["name"], "")
        if text == "":
            out.append(np.float32(0.0))
            continue
        x = np.float32(float(text))
        if c.get("log"):
            x = np.float32(np.sign(x) * np.log1p(np.abs(x)))
        out.append((x - np.float32(c["mean"])) / np.float32(c["std"]))
    for c in table["categorical"]:
        hot = np.zeros(len(c["values"]) + 1, dtype=np.float32)
        value = row.get(c["name"], "")
        hot[c["values"].index(value) if value in c["values"] else len(c["values"])] = 1.0
        out.extend(hot)
    return np.array(out, dtype=np.float32)


def build(anneal, tmp):
    """The income example built in `tmp`; its package."""
    prog = os.path.join(tmp, "income")
    os.makedirs(prog)
    for name in ["anneal.toml", "import.sh"]:
        shutil.copy(os.path.join(ROOT, "examples", "income", name), prog)
    subprocess.run(["bash", os.path.join(prog, "import.sh"), anneal, ADULT], check=True, capture_output=True)
    subprocess.run([anneal, "build", "-C", prog], check=True, capture_output=True)
    return os.path.join(prog, "target", "income-0.1.0.anneal")


def rows_file(tmp, n):
    """The first `n` rows of adult.test, labels without their full stop, with one unseen
    category and one missing value added; the file and its rows as dicts."""
    with open(os.path.join(ADULT, "adult.test")) as f:
        lines = [line.rstrip("\n").rstrip(".") for line in f][: n + 1]
    lines[1] = lines[1].replace("Private", "Astronaut", 1)
    lines[2] = lines[2].replace(", Male,", ", ,", 1).replace(", Female,", ", ,", 1)
    path = os.path.join(tmp, "rows.csv")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(path) as f:
        rows = list(csv.DictReader(f, skipinitialspace=True))
    return path, rows


def main():
    if not os.path.isdir(ADULT):
        print(f"skipped: {ADULT} is absent")
        return
    anneal = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="anneal-peer-table-")
    try:
        package = build(anneal, tmp)
        with safe_open(package, framework="np") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        prog = json.loads(meta["anneal.program"])
        path, rows = rows_file(tmp, 200)
        x = np.stack([encode(prog["input"]["table"], r) for r in rows])
        ours = forward(prog, tensors, x)
        out = subprocess.run([anneal, "predict", package, path, "--json"], check=True, capture_output=True, text=True)
        theirs = np.array([p["probabilities"] for p in json.loads(out.stdout)])
        diff = np.abs(ours - theirs).max()
        agree = (ours.argmax(1) == theirs.argmax(1)).mean()
        truth = np.array([r["Y"] == ">50K" for r in rows])
        accuracy = (theirs.argmax(1) == truth).mean()
        print(f"table peer check: {len(rows)} rows of width {x.shape[1]}, max |numpy - anneal| = {diff:.2e}, argmax agreement {agree:.4f}, accuracy {accuracy:.3f}")
        assert diff < 1e-5 and agree == 1.0, "numpy and anneal disagree"
        print("1 passed, 0 failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
