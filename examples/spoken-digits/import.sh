#!/usr/bin/env bash
# Import FSDD into this program's store with the standard split: takes 0-4 of each speaker and
# digit are the test split, the rest train. Speakers' gender and accent come from speakers.csv.
# usage: examples/spoken-digits/import.sh [ANNEAL] [FSDD]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
anneal="${1:-anneal}"
fsdd="${2:-$here/../../../shared/datasets/fsdd}"
"$anneal" data import "$fsdd/recordings" --pattern '{label}_{speaker}_{take}.wav' \
  --meta "$fsdd/speakers.csv" --split train -C "$here"
"$anneal" data split --where take=0,1,2,3,4 --to test -C "$here"
