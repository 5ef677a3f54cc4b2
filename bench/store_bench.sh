#!/usr/bin/env bash
# Dataset-store figures on a synthetic store of 1,000,000 examples (4x4 images, 10 labels):
# commit of 1,000 label edits, diff between those commits, log, status, and store growth;
# beside DVC doing the same edit (labels in a CSV tracked by `dvc add` + git) when `dvc` is
# installed (pip install dvc). Also the imports of Fashion-MNIST train60k, FSDD (WAV folder with
# a pattern and speakers.csv) and UCI Adult (CSV). Not run in CI.
#
# Usage: [ANNEAL=PATH] bench/store_bench.sh [EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# ANNEAL=PATH uses that binary instead of building one.
if [ -n "${ANNEAL:-}" ]; then
  anneal=$(realpath "$ANNEAL")
else
  cargo build --release -q
  anneal=$PWD/target/release/anneal
fi

ms() { python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.1f}')" "$1" "$2"; }
now() { date +%s.%N; }

if [ -d ../shared/datasets/fashion-mnist ]; then
  $anneal new "$work/fashion" --template mlp > /dev/null
  t0=$(now); $anneal data import ../shared/datasets/fashion-mnist/train60k -C "$work/fashion" --split train > /dev/null; t1=$(now)
  echo "import fashion-mnist train60k: $(ms $t0 $t1) ms"
fi
if [ -d ../shared/datasets/fsdd ]; then
  $anneal new "$work/fsdd" --template mlp > /dev/null
  t0=$(now)
  $anneal data import ../shared/datasets/fsdd/recordings -C "$work/fsdd" \
    --pattern '{label}_{speaker}_{take}.wav' --meta ../shared/datasets/fsdd/speakers.csv > /dev/null
  t1=$(now)
  echo "import fsdd (3,000 WAVs, every sample decoded, speakers joined): $(ms $t0 $t1) ms"
fi
if [ -d ../shared/datasets/adult ]; then
  $anneal new "$work/adult" --template mlp > /dev/null
  t0=$(now)
  $anneal data import ../shared/datasets/adult/adult.data --format csv --label-column Y -C "$work/adult" > /dev/null
  t1=$(now)
  echo "import adult.data (32,561 CSV rows): $(ms $t0 $t1) ms"
fi

python3 - "$work" "$n" <<'PY'
import os, random, struct, sys
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
with open(os.path.join(work, "synth-images-idx3-ubyte"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 4, 4))
    f.write(rng.randbytes(16 * n))
labels = bytes(rng.randrange(10) for _ in range(n))
with open(os.path.join(work, "synth-labels-idx1-ubyte"), "wb") as f:
    f.write(struct.pack(">II", 0x801, n))
    f.write(labels)
width = max(5, len(str(n - 1)))
picked = rng.sample(range(n), 1000)
with open(os.path.join(work, "edits.csv"), "w") as f:
    f.write("id,label\n")
    for i in picked:
        f.write(f"synth:{i:0{width}d},{(labels[i] + 1) % 10}\n")
with open(os.path.join(work, "edits2.csv"), "w") as f:
    f.write("id,label\n")
    for i in rng.sample(range(n), 1000):
        f.write(f"synth:{i:0{width}d},{(labels[i] + 2) % 10}\n")
with open(os.path.join(work, "labels.csv"), "w") as f:
    f.write("id,label\n")
    for i in range(n):
        f.write(f"synth:{i:0{width}d},{labels[i]}\n")
PY

$anneal new "$work/store" --template mlp > /dev/null
t0=$(now); $anneal data import "$work/synth" -C "$work/store" --split train > /dev/null; t1=$(now)
echo "import $n examples: $(ms $t0 $t1) ms"
size0=$(du -sb "$work/store/.anneal" | cut -f1)
t0=$(now); $anneal data label --from "$work/edits.csv" -C "$work/store" > /dev/null; t1=$(now)
commit_ms=$(ms $t0 $t1)
size1=$(du -sb "$work/store/.anneal" | cut -f1)
a=$($anneal data log -C "$work/store" --json | python3 -c "import json,sys; l=json.load(sys.stdin); print(l[1]['commit'])")
t0=$(now); $anneal data diff "$a" HEAD -C "$work/store" --stat > "$work/diff.txt"; t1=$(now)
diff_ms=$(ms $t0 $t1)
t0=$(now); $anneal data log -C "$work/store" > /dev/null; t1=$(now); log_ms=$(ms $t0 $t1)
t0=$(now); $anneal data status -C "$work/store" > /dev/null; t1=$(now); status_ms=$(ms $t0 $t1)
echo "commit of 1000 label edits: $commit_ms ms (goal <= 100)"
echo "diff between them: $diff_ms ms (goal <= 50): $(head -1 "$work/diff.txt")"
echo "log: $log_ms ms, status: $status_ms ms (goal <= 50 each)"
python3 -c "print(f'store growth: {($size1 - $size0) / 1024:.0f} KiB of {$size0 / 2**20:.1f} MiB = {100 * ($size1 - $size0) / $size0:.3f}% (goal < 1%)')"

# A folder remote (S3 and the other object stores go through the same object_store calls): the
# first push of the whole store, a clone of it into a new program, then one more 1,000-label
# edit pushed: what moves is the edit's objects, not the table.
$anneal data remote add origin "$work/remote" -C "$work/store" > /dev/null
t0=$(now); $anneal data push -C "$work/store" > /dev/null; t1=$(now); push_ms=$(ms $t0 $t1)
remote0=$(du -sb "$work/remote" | cut -f1)
$anneal new "$work/clone" --template mlp > /dev/null
t0=$(now); $anneal data clone "$work/remote" -C "$work/clone" > /dev/null; t1=$(now); clone_ms=$(ms $t0 $t1)
$anneal data label --from "$work/edits2.csv" -C "$work/store" > /dev/null
t0=$(now); $anneal data push -C "$work/store" > /dev/null; t1=$(now); push2_ms=$(ms $t0 $t1)
remote1=$(du -sb "$work/remote" | cut -f1)
t0=$(now); $anneal data pull -C "$work/clone" > /dev/null; t1=$(now); pull_ms=$(ms $t0 $t1)
echo "folder remote: first push $push_ms ms ($((remote0 / 1048576)) MiB), clone $clone_ms ms"
echo "folder remote: 1000 more edits pushed in $push2_ms ms (remote +$(((remote1 - remote0) / 1024)) KiB), pulled by the clone in $pull_ms ms"

if command -v dvc > /dev/null; then
  mkdir -p "$work/dvc" && cd "$work/dvc"
  git init -q && git config user.email b@b && git config user.name bench
  dvc init -q && git add -A && git commit -qm init
  cp "$work/labels.csv" labels.csv
  dvc add -q labels.csv && git add labels.csv.dvc .gitignore && git commit -qm "labels"
  python3 - "$work/edits.csv" <<'PY'
import csv, sys
edits = dict(list(csv.reader(open(sys.argv[1])))[1:])
rows = list(csv.reader(open("labels.csv")))
for r in rows[1:]:
    if r[0] in edits:
        r[1] = edits[r[0]]
csv.writer(open("labels.csv", "w", newline="")).writerows(rows)
PY
  t0=$(now); dvc add -q labels.csv && git add labels.csv.dvc && git commit -qm "1000 edits"; t1=$(now)
  dvc_ms=$(ms $t0 $t1)
  t0=$(now); dvc diff HEAD~1 > /dev/null; t1=$(now)
  dvcdiff_ms=$(ms $t0 $t1)
  echo "dvc: commit $dvc_ms ms, diff $dvcdiff_ms ms (which reports only that labels.csv changed)"
  python3 -c "print(f'ratio: commit {$dvc_ms / $commit_ms:.1f}x faster, diff {$dvcdiff_ms / $diff_ms:.1f}x faster than dvc')"
else
  echo "dvc not installed: pip install dvc to compare"
fi
