#!/usr/bin/env bash
# Training throughput of anneal (burn flex) beside PyTorch's, from the same run, on random data:
# MLP 784-512-256-10 at batch 128 and the CNN conv32 5x5-pool-conv64 5x5-pool-dense128-dense10
# at batch 64, Adam, 2 threads each. Not run in CI. PyTorch is used when importable
# (pip install torch --index-url ... is not needed: the CPU wheel from PyPI works).
#
# Usage: bench/train_throughput.sh [SECONDS_PER_WORKLOAD]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
cargo build --release -q -p anneal-engine --example throughput
out=$(./target/release/examples/throughput "$secs" 2)
echo "$out"
if python3 -c 'import torch' 2>/dev/null; then
  python3 bench/torch_throughput.py "$secs" | tee /tmp/anneal-torch.txt
  python3 - "$out" <<'PY'
import re, sys
ours = dict(re.findall(r"anneal (\w+) batch \d+: (\d+) samples/s", sys.argv[1]))
theirs = dict(re.findall(r"pytorch (\w+) batch \d+: (\d+) samples/s", open("/tmp/anneal-torch.txt").read()))
for k in ours:
    if k in theirs:
        print(f"ratio {k}: anneal / pytorch = {int(ours[k]) / int(theirs[k]):.2f}")
PY
else
  echo "pytorch not importable: pip install torch to print its figures beside ours"
fi
