#!/usr/bin/env python3
"""The active-learning bench: how many labels until the digits program reaches 97% on t10k?

usage: bench/active_learning.py ANNEAL WORKDIR [--order queue,random] [--start 100]
           [--round 100] [--goal 0.97] [--max 2500] [--steps 1000] [--seed 1]

The pool is MNIST train10k imported unlabeled (`--unlabeled --split train`); START examples
chosen at random (seeded) get their true labels. Each round builds the program, then labels
ROUND more with the oracle (the true labels from the IDX file), taken either from
`anneal queue uncertain --top ROUND` (order `queue`) or at random (order `random`), as one
`anneal data label --from` commit. It stops at GOAL test accuracy or MAX labels and prints the
curve (labels, accuracy) per order.

Small training sets get more epochs so that every round trains for about STEPS steps of the
program's batch (epochs = max(12, ceil(STEPS * batch / labels))): the program is the embedded
digits network with that one setting changed.
"""
import argparse, gzip, json, math, random, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples/digits"


def run(anneal, *args, cwd):
    out = subprocess.run([anneal, *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"anneal {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def truth():
    """The true label of every train10k example, by id."""
    raw = gzip.open(DIGITS / "data/train10k-labels-idx1-ubyte.gz").read()[8:]
    return {f"train10k:{i:05}": str(b) for i, b in enumerate(raw)}


def setup(anneal, dst, labels, start, seed):
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    shutil.copytree(DIGITS / "data", dst / "data")
    text = (DIGITS / "anneal.toml").read_text()
    text = re.sub(r"\[\[data\.source\]\][^\[]*", "", text)
    (dst / "anneal.toml").write_text(text)
    run(anneal, "data", "import", "data/train10k", "--split", "train", "--unlabeled", cwd=dst)
    run(anneal, "data", "import", "data/t10k", "--split", "test", cwd=dst)
    first = random.Random(seed).sample(sorted(labels), start)
    label(anneal, dst, labels, first, "the first labels")


def label(anneal, dst, labels, ids, why):
    rows = "".join(f"{i},{labels[i]}\n" for i in ids)
    (dst / "oracle.csv").write_text("id,label\n" + rows)
    run(anneal, "data", "label", "--from", "oracle.csv", "-m", f"oracle: {len(ids)} labels ({why})", cwd=dst)


def set_epochs(dst, labelled, steps):
    path = dst / "anneal.toml"
    text = path.read_text()
    batch = int(re.search(r"batch = (\d+)", text).group(1))
    epochs = max(12, math.ceil(steps * batch / labelled))
    path.write_text(re.sub(r"epochs = \d+", f"epochs = {epochs}", text))


def rounds(anneal, order, args, labels):
    dst = Path(args.workdir) / order
    setup(anneal, dst, labels, args.start, args.seed)
    rng, curve = random.Random(args.seed + 1), []
    count = args.start
    while True:
        set_epochs(dst, count, args.steps)
        start = time.time()
        built = json.loads(run(anneal, "build", "--json", cwd=dst).splitlines()[-1])
        curve.append((count, built["accuracy"]))
        print(f"  {order:>6}: {count:>5} labels -> {built['accuracy']:.4f} ({time.time() - start:.1f}s)", flush=True)
        if built["accuracy"] >= args.goal or count >= args.max:
            return curve
        ids = pick(anneal, dst, order, args.round, rng)
        label(anneal, dst, labels, ids, order)
        count += len(ids)


def pick(anneal, dst, order, n, rng):
    """The next N to label: the queue's, or N unlabeled at random."""
    queue = json.loads(run(anneal, "queue", "uncertain", "--top", str(n if order == "queue" else 10**9), "--json", cwd=dst))
    ids = [c["id"] for c in queue["candidates"]]
    return ids if order == "queue" else rng.sample(sorted(ids), min(n, len(ids)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anneal")
    ap.add_argument("workdir")
    ap.add_argument("--order", default="queue,random")
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--round", type=int, default=100)
    ap.add_argument("--goal", type=float, default=0.97)
    ap.add_argument("--max", type=int, default=2500)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    anneal, labels = str(Path(args.anneal).resolve()), truth()
    curves = {order: rounds(anneal, order, args, labels) for order in args.order.split(",")}
    for order, curve in curves.items():
        reached = next((n for n, acc in curve if acc >= args.goal), None)
        print(f"{order}: {'reached ' + format(args.goal) + ' at ' + str(reached) + ' labels' if reached else 'did not reach ' + format(args.goal)}")
        print("  labels,accuracy: " + " ".join(f"{n},{acc:.4f}" for n, acc in curve))


if __name__ == "__main__":
    main()
