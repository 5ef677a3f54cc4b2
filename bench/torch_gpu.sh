#!/usr/bin/env bash
# The GPU check, one short script for a machine with an NVIDIA GPU and PyTorch (a few minutes):
# the digits example (examples/digits: 12 epochs of the CNN) built with
# `--engine torch --device cuda`, timed beside anneal's own CPU engine on 2 threads and on every
# core; the GPU-built program (store, lock, package, the job's model.py and log) packed into
# OUT_DIR/digits-cuda.tar.gz with the commands that check it with `anneal test` on a CPU
# machine. Exits 1 when PyTorch sees no GPU. Not run in CI.
#
# Usage: bench/torch_gpu.sh ANNEAL [OUT_DIR]     (OUT_DIR default: $OUT, else ./torch-gpu-out)
# Reference (an H200, PyTorch 2.11): the 12 epochs take 5.0 s on the GPU; anneal's native build
# 15.3 s on 2 cores and 7.3 s on 16.
set -euo pipefail
anneal=$(realpath "${1:?usage: bench/torch_gpu.sh ANNEAL [OUT_DIR]}")
out=$(realpath -m "${2:-${OUT:-torch-gpu-out}}")
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

python3 -c 'import torch, safetensors, numpy' || { echo "pip install torch safetensors numpy"; exit 1; }
python3 - <<'PY' || exit 1
import sys, torch
if not torch.cuda.is_available():
    sys.exit("PyTorch sees no CUDA device: this check needs a GPU")
print(f"PyTorch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PY
cores=$(nproc)
echo "CPU: $cores cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# One copy of the program per build, its store filled first (the builds time training and
# evaluation, not the import).
prepare() {
  cp -r examples/digits "$work/$1"
  rm -rf "$work/$1/.anneal" "$work/$1/target" "$work/$1/anneal.lock"
  "$anneal" data import "$work/$1/data/train10k" --split train -C "$work/$1" > /dev/null
  "$anneal" data import "$work/$1/data/t10k" --split test -C "$work/$1" > /dev/null
}
build() { # NAME FLAGS...
  local name=$1; shift
  prepare "$name"
  echo "anneal build $* ..."
  "$anneal" build -C "$work/$name" --json "$@" > "$work/$name.jsonl"
}

build cuda --engine torch --nproc 1 --device cuda
build native-2 --threads 2
[ "$cores" -gt 2 ] && build "native-$cores" --threads "$cores"

python3 - "$work" <<'PY' | tee "$out/figures.txt"
import json, os, sys
work = sys.argv[1]
names = sorted((f[:-6] for f in os.listdir(work) if f.endswith(".jsonl")), key=lambda n: n != "cuda")
rows = {}
for name in names:
    events = [json.loads(l) for l in open(os.path.join(work, f"{name}.jsonl")) if l.startswith("{")]
    train = sum(e["seconds"] for e in events if e.get("event") == "epoch_end")
    rows[name] = (events[-1]["seconds"], train, events[-1]["accuracy"])
gpu = rows["cuda"][1]
print(f"\n{'build':10} {'wall s':>8} {'train s':>8} {'accuracy':>9}  {'train / GPU train':>17}")
for name, (wall, train, acc) in rows.items():
    print(f"{name:10} {wall:8.1f} {train:8.1f} {acc:9.4f}  {train / gpu:16.2f}x")
print("reference (H200, PyTorch 2.11): GPU 5.0 s; native 15.3 s on 2 cores, 7.3 s on 16")
PY

# The GPU-built program, less the job's copy of the data (data.safetensors: rebuilt from the
# store, 30 MB), for `anneal test` on a CPU machine.
rm -f "$work/cuda/target/torch/"*.safetensors
tar -czf "$out/digits-cuda.tar.gz" -C "$work" cuda
cat <<EOF

Packed: $out/digits-cuda.tar.gz ($(du -h "$out/digits-cuda.tar.gz" | cut -f1)). On the CPU machine:
  tar -xzf digits-cuda.tar.gz                  # the program folder cuda/ (store, lock, package)
  anneal test -C cuda                          # its [[check]]s; no "stale" warning: same key
  anneal eval cuda/target/digits-0.1.0.anneal examples/digits/data/t10k   # accuracy on the CPU engine
EOF
