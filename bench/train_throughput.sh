#!/usr/bin/env bash
# anneal's engine beside PyTorch and onnxruntime, from one run on this machine: training
# steps/s of the MLP 784-512-256-10 (batch 128) and the CNN conv32 5x5-pool-conv64
# 5x5-pool-dense128-dense10 (batch 64) with Adam; the GFLOP/s each reaches as a fraction of a
# GEMM peak measured in the same run (the higher of the gemm crate's and torch.mm's); and MLP
# inference latency at batch 1 and samples/s at batch 256. Every figure is the median of 3
# blocks of at least SECONDS after a warm-up, THREADS threads for everyone. Not run in CI.
#
# PyTorch and onnxruntime come from PyPI: pip install torch onnx onnxruntime
#
# On a shared machine a busy spell halves any figure, so ROUNDS rounds (default 2) alternate
# anneal (with burn) and PyTorch/onnxruntime, and the summary keeps each figure's best round:
# the highest rate, the lowest latency, the highest GEMM peak (so a share of the peak is the
# best training rate over the best peak, both measured when the machine was least busy).
#
# Usage: bench/train_throughput.sh [SECONDS_PER_BLOCK] [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
threads=${2:-2}
rounds=${3:-2}
cargo build --release -q -p anneal-engine --example throughput
have_torch=1
python3 -c 'import torch' 2>/dev/null || have_torch=0
ours="" theirs=""
for round in $(seq "$rounds"); do
  echo "round $round of $rounds"
  run=$(./target/release/examples/throughput "$secs" "$threads")
  echo "$run"
  # The same figures on burn, the reference backend (the engine before the compiled plan).
  burn=$(ANNEAL_BACKEND=burn ./target/release/examples/throughput "$secs" "$threads" mlp; \
    ANNEAL_BACKEND=burn ./target/release/examples/throughput "$secs" "$threads" cnn)
  echo "$burn" | grep '^burn'
  ours+="$run"$'\n'"$burn"$'\n'
  if [ "$have_torch" = 1 ]; then
    run=$(python3 bench/torch_throughput.py "$secs" "$threads")
    echo "$run"
    theirs+="$run"$'\n'
  fi
done
if [ "$have_torch" = 0 ]; then
  echo "pytorch not importable: pip install torch onnx onnxruntime to print their figures beside ours"
  exit 0
fi
python3 - "$ours" "$theirs" <<'PY'
import re, sys

ours, theirs = sys.argv[1], sys.argv[2]

def find(text, pattern):
    """The best round's figure: the lowest latency (us), otherwise the highest."""
    found = [float(v) for v in re.findall(pattern, text)]
    if not found:
        return None
    return min(found) if " us" in pattern else max(found)

peak = max(p for p in [find(ours, r"gemm peak .*?: ([\d.]+) GFLOP/s"),
                       find(theirs, r"gemm peak .*?: ([\d.]+) GFLOP/s")] if p)
print(f"\nsummary (peak = {peak:.1f} GFLOP/s, the higher of the two GEMMs)")
print(f"{'workload':<28}{'anneal':>12}{'pytorch':>12}{'onnxruntime':>14}{'anneal/pytorch':>16}{'anneal/ort':>12}{'burn':>10}")
for name, batch in [("mlp", 128), ("cnn", 64)]:
    pat = rf"{name} train batch {batch}: ([\d.]+) steps/s"
    a, t = find(ours, "anneal " + pat), find(theirs, "pytorch " + pat)
    flops = find(ours, rf"anneal {name} train batch {batch}: .*?([\d.]+) GFLOP/s")
    tflops = find(theirs, rf"pytorch {name} train batch {batch}: .*?([\d.]+) GFLOP/s")
    bu = find(ours, "burn " + pat)
    print(f"{name + ' train steps/s':<28}{a:>12.1f}{t:>12.1f}{'':>14}{a / t:>15.2f}x{'':>12}{bu:>10.1f}")
    print(f"{name + ' train % of peak':<28}{100 * flops / peak:>11.0f}%{100 * tflops / peak:>11.0f}%")
a = find(ours, r"anneal mlp infer batch 1: ([\d.]+) us")
t = find(theirs, r"pytorch mlp infer batch 1: ([\d.]+) us")
o = find(theirs, r"onnxruntime mlp infer batch 1: ([\d.]+) us")
bu = find(ours, r"burn mlp infer batch 1: ([\d.]+) us")
print(f"{'mlp infer batch 1 (us)':<28}{a:>12.1f}{t:>12.1f}{(o or 0):>14.1f}{t / a:>15.2f}x{(o / a if o else 0):>11.2f}x{bu:>10.1f}  (speedups)")
a = find(ours, r"anneal mlp infer batch 256: ([\d.]+) samples/s")
t = find(theirs, r"pytorch mlp infer batch 256: ([\d.]+) samples/s")
o = find(theirs, r"onnxruntime mlp infer batch 256: ([\d.]+) samples/s")
bu = find(ours, r"burn mlp infer batch 256: ([\d.]+) samples/s")
print(f"{'mlp infer b256 (samples/s)':<28}{a:>12.0f}{t:>12.0f}{(o or 0):>14.0f}{a / t:>15.2f}x{(a / o if o else 0):>11.2f}x{bu:>10.0f}")
PY
