#!/usr/bin/env bash
# Import UCI Adult into this program's store: adult.data as the train split, adult.test as the
# test split. The test file's labels end with a full stop (`>50K.`), which is dropped here; each
# file is imported under its split's name so that the ids (`train:00000`, `test:00000`) differ.
# usage: examples/income/import.sh [ANNEAL] [ADULT]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
anneal="${1:-anneal}"
adult="${2:-$here/../../../shared/datasets/adult}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$adult/adult.data" "$tmp/train.csv"
sed 's/\.$//' "$adult/adult.test" > "$tmp/test.csv"
for split in train test; do
  "$anneal" data import "$tmp/$split.csv" --label-column Y --split "$split" -C "$here"
done
