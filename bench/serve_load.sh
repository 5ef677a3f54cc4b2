#!/usr/bin/env bash
# Serving load: throughput and p50/p99 latency of `anneal serve` for the digits MLP and CNN
# packages at 1, 8 and 64 concurrent clients, beside MLServer (numpy runtime of the same
# package, bench/mlserver/anneal_runtime.py) under the same load from the same generator;
# then a 60 s soak of anneal's memory. Loopback only, bounded in time. Not run in CI.
#
# Usage: [ANNEAL=PATH LOADGEN=PATH] bench/serve_load.sh [SECONDS_PER_POINT] [SOAK_SECONDS]
# Needs: pip install mlserver safetensors numpy (MLServer is skipped when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
soak=${2:-60}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# ANNEAL=PATH and LOADGEN=PATH use those binaries instead of building them.
if [ -n "${ANNEAL:-}" ] && [ -n "${LOADGEN:-}" ]; then
  anneal=$(realpath "$ANNEAL")
  loadgen=$(realpath "$LOADGEN")
else
  cargo build --release -q
  cargo build --release -q -p anneal-serve --example loadgen
  anneal=$PWD/target/release/anneal
  loadgen=$PWD/target/release/examples/loadgen
fi

# The two packages: the embedded digits CNN, and an MLP on the same data.
$anneal build examples/digits > /dev/null 2>&1
cnn=$PWD/examples/digits/target/digits-0.1.0.anneal
mkdir -p "$work/mlp"
cp -r examples/digits/data "$work/mlp/data"
cat > "$work/mlp/anneal.toml" <<'TOML'
[program]
name = "mlp"
version = "0.1.0"
[data]
input = "image"
shape = [1, 28, 28]
classes = 10
[[data.source]]
path = "data/train10k"
split = "train"
[[data.source]]
path = "data/t10k"
split = "test"
[model]
layers = ["flatten", "dense 512", "relu", "dense 256", "relu", "dense 10"]
[train]
epochs = 2
batch = 128
TOML
$anneal build "$work/mlp" > /dev/null 2>&1
mlp=$work/mlp/target/mlp-0.1.0.anneal

python3 -c "
import json
x = [0.5] * 784
json.dump({'inputs': [{'name': 'input', 'shape': [1, 1, 28, 28], 'datatype': 'FP32', 'data': x}],
           'outputs': [{'name': 'probabilities'}]}, open('$work/body.json', 'w'))
"

wait_for() { for _ in $(seq 100); do curl -sf "$1" > /dev/null 2>&1 && return 0; sleep 0.2; done; echo "server at $1 did not start"; exit 1; }

run_points() { # name url
  for c in 1 8 64; do
    r=$($loadgen "$2" "$work/body.json" $c "$secs")
    echo "$1 clients=$c $r"
  done
}

$anneal serve "$mlp" "$cnn" --port 8710 2> "$work/anneal.log" &
apid=$!
wait_for http://127.0.0.1:8710/v2/health/ready
run_points "anneal mlp" http://127.0.0.1:8710/v2/models/mlp/infer | tee -a "$work/results"
run_points "anneal cnn" http://127.0.0.1:8710/v2/models/digits/infer | tee -a "$work/results"

if python3 -c 'import mlserver' 2>/dev/null; then
  for m in mlp cnn; do
    mkdir -p "$work/ml/$m"
    cp bench/mlserver/anneal_runtime.py "$work/ml/$m/"
    pkg=$mlp; [ $m = cnn ] && pkg=$cnn
    cat > "$work/ml/$m/model-settings.json" <<JSON
{"name": "$m", "implementation": "anneal_runtime.AnnealRuntime", "parameters": {"uri": "$pkg"}}
JSON
  done
  echo '{"http_port": 8720, "grpc_port": 8721, "metrics_port": 8722, "parallel_workers": 0}' > "$work/ml/settings.json"
  (cd "$work/ml" && mlserver start . > "$work/mlserver.log" 2>&1) &
  wait_for http://127.0.0.1:8720/v2/models/cnn/ready
  run_points "mlserver mlp" http://127.0.0.1:8720/v2/models/mlp/infer | tee -a "$work/results"
  run_points "mlserver cnn" http://127.0.0.1:8720/v2/models/cnn/infer | tee -a "$work/results"
  pkill -f "mlserver start" || true
  python3 - "$work/results" <<'PY'
import json, re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) (\w+) clients=(\d+) (.*)", line)
    if m:
        rows[(m[1], m[2], int(m[3]))] = json.loads(m[4])
print("\nmodel clients  anneal rps (p50/p99 us)   mlserver rps (p50/p99 us)   throughput ratio")
for model in ("mlp", "cnn"):
    for c in (1, 8, 64):
        a, b = rows.get(("anneal", model, c)), rows.get(("mlserver", model, c))
        if a and b:
            print(f"{model:5} {c:7}  {a['rps']:9.0f} ({a['p50_us']}/{a['p99_us']})   {b['rps']:9.0f} ({b['p50_us']}/{b['p99_us']})   {a['rps'] / b['rps']:6.1f}x")
PY
else
  echo "mlserver not importable: pip install mlserver to compare"
fi

# p99 at half of the MLP's measured capacity: clients that give about half the peak rps.
peak=$(grep "anneal mlp clients=64" "$work/results" | python3 -c "import json,sys; print(json.loads(sys.stdin.read().split(' ',3)[3])['rps'])")
echo "anneal mlp peak ${peak} rps; p99 at about half of it:"
for c in 1 2 4; do $loadgen http://127.0.0.1:8710/v2/models/mlp/infer "$work/body.json" $c "$secs" | sed "s/^/  /"; done

# Soak: RSS of the server every 5 s under 8 clients.
echo "soak: ${soak}s at 8 clients on the MLP, anneal serve RSS (KiB):"
$loadgen http://127.0.0.1:8710/v2/models/mlp/infer "$work/body.json" 8 "$soak" > "$work/soak.json" &
lpid=$!
samples=""
for _ in $(seq $((soak / 5))); do
  sleep 5
  samples="$samples $(ps -o rss= -p $apid | tr -d ' ')"
done
wait $lpid
echo " $samples"
python3 -c "
s = [int(v) for v in '$samples'.split()]
print(f'  first {s[0]} KiB, last {s[-1]} KiB, max {max(s)} KiB, change {100 * (s[-1] - s[0]) / s[0]:+.1f}%')
"
cat "$work/soak.json"
kill $apid
