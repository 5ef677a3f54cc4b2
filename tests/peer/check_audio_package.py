"""Peer check for audio packages: open an anneal package with Python's `safetensors`, compute the
log-mel features of WAV files in numpy (`logmel.py`) from the front end the package records,
normalise them as its signature says, run the forward pass in numpy, and compare with
`anneal predict --json` on the same files.

Usage: python3 tests/peer/check_audio_package.py PATH/TO/anneal
Builds a small MLP on 600 FSDD recordings (takes 0-9) in a temporary folder; skips when
../shared/datasets/fsdd is absent.
"""

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
from logmel import log_mel, read_wav

FSDD = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "fsdd")

MANIFEST = """
[program]
name = "heard"
version = "0.1.0"

[data]
input = "audio"
classes = 10

[data.audio]
mels = 32
range = 8.0

[model]
layers = ["flatten", "dense 32", "relu", "dense 10"]

[train]
epochs = 3
batch = 32
"""


def program(anneal, tmp):
    """Import 600 recordings with the standard split by take, build; the package and the WAVs."""
    rec, prog = os.path.join(tmp, "rec"), os.path.join(tmp, "prog")
    os.makedirs(rec)
    os.makedirs(prog)
    names = [n for n in os.listdir(os.path.join(FSDD, "recordings")) if int(n[:-4].rsplit("_", 1)[1]) < 10]
    for n in names:
        shutil.copy(os.path.join(FSDD, "recordings", n), rec)
    with open(os.path.join(prog, "anneal.toml"), "w") as f:
        f.write(MANIFEST)
    run = lambda *a: subprocess.run([anneal, *a, "-C", prog], check=True, capture_output=True, text=True).stdout
    run("data", "import", rec, "--pattern", "{label}_{speaker}_{take}.wav", "--split", "train")
    run("data", "split", "--where", "take=0,1", "--to", "test")
    run("build")
    wavs = sorted(os.path.join(rec, n) for n in names)[::30]
    return os.path.join(prog, "target", "heard-0.1.0.anneal"), wavs


def main():
    if not os.path.isdir(FSDD):
        print(f"skipped: {FSDD} is absent")
        return
    anneal = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="anneal-peer-audio-")
    try:
        package, wavs = program(anneal, tmp)
        with safe_open(package, framework="np") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        prog = json.loads(meta["anneal.program"])
        norm = json.loads(meta["anneal.signature"])["normalization"]
        audio = prog["input"]["audio"]
        x = np.stack([log_mel(read_wav(w)[0], audio) for w in wavs])[:, None]
        x = (x * norm["scale"] - norm["mean"]) / norm["std"]
        ours = forward(prog, tensors, x.astype(np.float32))
        out = subprocess.run([anneal, "predict", package, *wavs, "--json"], check=True, capture_output=True, text=True)
        theirs = np.array([p["probabilities"] for p in json.loads(out.stdout)])
        diff = np.abs(ours - theirs).max()
        agree = (ours.argmax(1) == theirs.argmax(1)).mean()
        print(f"audio peer check: {len(wavs)} WAVs, max |numpy - anneal| = {diff:.2e} over {theirs.size} probabilities, argmax agreement {agree:.4f}")
        assert diff < 1e-4 and agree == 1.0, "numpy and anneal disagree"
        print("1 passed, 0 failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
