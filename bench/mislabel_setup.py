#!/usr/bin/env python3
"""Make a program whose training labels are 10% wrong, for the mislabel-queue bench.

usage: mislabel_setup.py ANNEAL DIR [--program examples/digits] [--rate 0.1] [--seed 1]

Copies the program (anneal.toml and data/), imports its [[data.source]]s, flips RATE of the
training labels to a different class chosen uniformly at random (seeded) as one commit, and
writes DIR/flips.csv (id,true,flipped) so a scorer knows the truth. The build is left to the
caller.
"""
import argparse, csv, json, random, shutil, subprocess, sys, tomllib
from pathlib import Path


def run(anneal, *args, cwd):
    out = subprocess.run([anneal, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anneal")
    ap.add_argument("dir")
    ap.add_argument("--program", default="examples/digits")
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    anneal, src, dst = str(Path(a.anneal).resolve()), Path(a.program), Path(a.dir)
    if dst.exists():
        sys.exit(f"{dst} exists; remove it first")
    dst.mkdir(parents=True)
    shutil.copy(src / "anneal.toml", dst)
    shutil.copytree(src / "data", dst / "data")
    manifest = tomllib.loads((dst / "anneal.toml").read_text())
    for source in manifest["data"]["source"]:
        run(anneal, "data", "import", source["path"], "--split", source["split"], cwd=dst)
    flip(anneal, dst, imported(anneal, dst), a.rate, a.seed)


def imported(anneal, dst):
    """Every example the import commits added: id, label, split."""
    rows = []
    for commit in json.loads(run(anneal, "data", "log", "--json", cwd=dst)):
        shown = json.loads(run(anneal, "data", "show", commit["commit"], "--json", cwd=dst))
        rows += shown["diff"]["added"]
    return rows


def flip(anneal, dst, rows, rate, seed):
    train = sorted((r["id"], r["label"]) for r in rows if r["split"] == "train" and r["label"])
    classes = sorted({label for _, label in train})
    rng = random.Random(seed)
    chosen = rng.sample(train, round(rate * len(train)))
    with open(dst / "flips.csv", "w", newline="") as f, open(dst / "edit.csv", "w", newline="") as e:
        truth, edit = csv.writer(f), csv.writer(e)
        truth.writerow(["id", "true", "flipped"])
        for id_, label in chosen:
            new = rng.choice([c for c in classes if c != label])
            truth.writerow([id_, label, new])
            edit.writerow([id_, new])
    run(anneal, "data", "label", "--from", "edit.csv", "-m", f"flip {len(chosen)} labels", cwd=dst)
    print(f"flipped {len(chosen)} of {len(train)} training labels in {dst}")


if __name__ == "__main__":
    main()
