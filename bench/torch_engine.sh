#!/usr/bin/env bash
# The digits example (examples/digits: the CNN, 12 epochs, batch 64, shift-2 augmentation) built
# three ways from the same dataset commit: anneal's own engine (--threads T), and handed to
# PyTorch on the CPU with 1 process and with 2 (DDP over gloo, the batch of 64 split 32 + 32).
# Prints, per build, the whole build's wall time, the training time (the sum of the epochs'),
# and the test accuracy on t10k. Not run in CI.
#
# Usage: bench/torch_engine.sh ANNEAL [THREADS]      (needs torch, safetensors, numpy)
set -euo pipefail
anneal=$(realpath "${1:?usage: bench/torch_engine.sh ANNEAL [THREADS]}")
threads=${2:-2}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(python3 -c 'import torch; print("PyTorch", torch.__version__)')"

# One copy of the program per build; its store filled first, so the builds time training and
# evaluation, not the import.
prepare() {
  cp -r examples/digits "$work/$1"
  rm -rf "$work/$1/.anneal" "$work/$1/target" "$work/$1/anneal.lock"
  "$anneal" data import "$work/$1/data/train10k" --split train -C "$work/$1" > /dev/null
  "$anneal" data import "$work/$1/data/t10k" --split test -C "$work/$1" > /dev/null
}

# build NAME FLAGS...: the --json event stream goes to NAME.jsonl; one line of figures.
build() {
  local name=$1; shift
  prepare "$name"
  "$anneal" build -C "$work/$name" --json "$@" > "$work/$name.jsonl"
  rm -f "$work/$name/target/torch/"*.safetensors  # the job's copy of the data (30 MB)
  echo "$name: anneal build $* : $(figures "$work/$name.jsonl")"
}

# figures FILE.jsonl: the build's wall time, the sum of its epochs' times and its accuracy.
figures() {
  python3 - "$1" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
train = sum(e["seconds"] for e in events if e.get("event") == "epoch_end")
print(f"wall {events[-1]['seconds']:.1f} s, train {train:.1f} s, accuracy {events[-1]['accuracy']:.4f}")
PY
}

build native --threads "$threads"
build torch-x1 --threads "$threads" --engine torch --nproc 1 --device cpu
build torch-x2 --threads "$threads" --engine torch --nproc 2 --device cpu

python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
rows = []
for name in ("native", "torch-x1", "torch-x2"):
    events = [json.loads(l) for l in open(os.path.join(work, f"{name}.jsonl")) if l.startswith("{")]
    done = events[-1]
    epochs = [e for e in events if e.get("event") == "epoch_end"]
    train = sum(e["seconds"] for e in epochs)
    rows.append((name, done["seconds"], train, len(epochs), done["accuracy"]))
base = rows[0]
print(f"\n{'build':10} {'wall s':>8} {'train s':>8} {'epochs':>6} {'accuracy':>9}  {'train vs native':>15}")
for name, wall, train, n, acc in rows:
    print(f"{name:10} {wall:8.1f} {train:8.1f} {n:6d} {acc:9.4f}  {base[2] / train:14.2f}x")
PY
