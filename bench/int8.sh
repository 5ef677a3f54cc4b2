#!/usr/bin/env bash
# anneal's int8 and f32 inference beside onnxruntime (f32 and its own int8 quantization) and
# PyTorch, from one run on this machine: the MLP 784-512-256-10 and the CNN of
# bench/train_throughput.sh, random weights, latency at batch 1 and samples/s at batch 256.
# Every figure is the median of 3 blocks of at least SECONDS after a warm-up, THREADS threads
# for everyone, and the summary keeps the best of ROUNDS alternating rounds (default 2). The
# example also measures this machine's multiply-add peaks (f32 FMA; int8 VNNI, or vpmaddwd
# where the CPU has AVX2 only), and the summary puts every batch-256 figure against them. Not run in CI. The accuracy
# int8 costs is measured by `anneal build --int8` on real programs (the package keeps the f32
# accuracy beside its own).
#
# PyTorch and onnxruntime come from PyPI: pip install torch onnx onnxruntime
#
# Usage: bench/int8.sh [SECONDS_PER_BLOCK] [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
threads=${2:-2}
rounds=${3:-2}
cargo build --release -q -p anneal-engine --example inference
if ! python3 -c 'import torch, onnxruntime' 2>/dev/null; then
  ./target/release/examples/inference "$secs" "$threads"
  echo "pytorch or onnxruntime not importable: pip install torch onnx onnxruntime to print their figures beside ours"
  exit 0
fi
# Rounds alternate anneal and its peers, so a busy spell on a shared machine falls on both
# sides; the summary keeps each figure's best round.
ours="" theirs=""
for round in $(seq "$rounds"); do
  echo "round $round of $rounds"
  run=$(./target/release/examples/inference "$secs" "$threads")
  echo "$run"
  ours+="$run"$'\n'
  run=$(python3 bench/int8_peers.py "$secs" "$threads" 2>/dev/null)
  echo "$run"
  theirs+="$run"$'\n'
done
python3 - "$ours
$theirs" <<'PY'
import re, sys

text = sys.argv[1]

def find(who, name, batch):
    """The best round's figure: the lowest latency, the highest rate."""
    unit = "us" if batch == 1 else "samples/s"
    found = [float(v) for v in re.findall(rf"^{who} {name} infer batch {batch}: ([\d.]+) {unit}$", text, re.M)]
    if not found:
        return float("nan")
    return min(found) if batch == 1 else max(found)

whos = ["anneal f32", "anneal int8", "onnxruntime f32", "onnxruntime int8", "pytorch f32"]
print(f"\n{'workload':<22}" + "".join(f"{w:>18}" for w in whos) + f"{'f32/ort f32':>13}{'int8/ort int8':>15}")
for name in ["mlp", "cnn"]:
    for batch in [1, 256]:
        v = [find(w, name, batch) for w in whos]
        # Speed ratios of anneal to onnxruntime, f32 and int8 (above 1: anneal faster).
        ratios = [v[2] / v[0], v[3] / v[1]] if batch == 1 else [v[0] / v[2], v[1] / v[3]]
        label = f"{name} b{batch} " + ("(us)" if batch == 1 else "(/s)")
        print(f"{label:<22}" + "".join(f"{x:>18.1f}" for x in v) + "".join(f"{r:>12.2f}x" for r in ratios))

# Batch 256 against the machine's ceiling: multiply-adds per example (the MLP's three products;
# the CNN's two 5x5 convolutions, 24x24x32 and 8x8x64 outputs, and two dense layers) times
# samples/s, as a share of this run's peak (f32 FMA for the f32 columns; for int8, VNNI where
# the CPU has it, else vpmaddwd, the instructions anneal's kernels use).
MACS = {"mlp": 784 * 512 + 512 * 256 + 256 * 10,
        "cnn": 24 * 24 * 32 * 25 + 8 * 8 * 64 * 800 + 1024 * 128 + 128 * 10}
peaks = {k: re.findall(rf"^{k} \S* ?peak: ([\d.]+) GMAC/s$", text, re.M) for k in ["f32", "int8"]}
if all(peaks.values()):
    peak = {k: max(map(float, v)) for k, v in peaks.items()}
    print(f"\n{'b256, share of peak':<22}" + "".join(f"{w:>18}" for w in whos))
    for name in ["mlp", "cnn"]:
        v = [find(w, name, 256) * MACS[name] / 1e9 for w in whos]
        shares = [x / peak["int8" if "int8" in w else "f32"] for x, w in zip(v, whos)]
        print(f"{name:<22}" + "".join(f"{100 * x:>17.0f}%" for x in shares))
    print("(shares count the direct product's multiply-adds; anneal's f32 CNN does fewer, through")
    print(" Winograd's transforms, so its share is an effective rate, not its kernels' use of the FMA)")
PY
