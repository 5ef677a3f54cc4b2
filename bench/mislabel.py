#!/usr/bin/env python3
"""The mislabel queue's bench: flip labels, build once, score `anneal queue mislabeled`.

usage: bench/mislabel.py ANNEAL WORKDIR [--rate 0.1] [--seed 1] [--programs digits,fashion,spoken]

For each program: copy it (anneal.toml and data/) into WORKDIR/NAME, import its
[[data.source]]s, flip RATE of the training labels to a different class chosen uniformly at
random (seeded) as one commit (the truth goes to flips.csv), run `anneal build`, then score the
queue at its own cut: precision, recall, its estimate against the true count, and how often its
suggested label is the true one; and precision at N = the true count (ranking alone).

`digits` is examples/digits (MNIST train10k / t10k). `fashion` is the same network on
Fashion-MNIST: the first 10,000 images of ../shared/datasets/fashion-mnist/train60k to train and
the next 10,000 to test (skipped when that folder is absent). `spoken` is
examples/spoken-digits on FSDD (its import.sh, the standard split by take).
"""
import argparse, csv, gzip, json, os, random, shutil, struct, subprocess, sys, time, tomllib
from pathlib import Path


def run(anneal, *args, cwd):
    out = subprocess.run([anneal, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout


ROOT = Path(__file__).resolve().parent.parent
FASHION = ROOT.parent / "shared/datasets/fashion-mnist"
FSDD = ROOT.parent / "shared/datasets/fsdd"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anneal")
    ap.add_argument("workdir")
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--programs", default="digits,fashion")
    a = ap.parse_args()
    anneal, work = str(Path(a.anneal).resolve()), Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    for name in a.programs.split(","):
        src = program(name, work)
        if src is None:
            print(f"{name}: skipped ({FASHION} is absent)")
            continue
        dst = work / f"{name}-{a.rate}-{a.seed}"
        shutil.rmtree(dst, ignore_errors=True)
        setup(anneal, src, dst, a.rate, a.seed)
        score(anneal, name, dst)


def program(name, work):
    """The folder of program NAME (fashion is written from the shared dataset)."""
    if name == "digits":
        return ROOT / "examples/digits"
    if name == "spoken":
        return ROOT / "examples/spoken-digits" if FSDD.is_dir() else None
    if not FASHION.is_dir():
        return None
    dst = work / "fashion-src"
    if not dst.exists():
        fashion_program(dst)
    return dst


def fashion_program(dst):
    """The digits network on Fashion-MNIST: 10,000 images to train, the next 10,000 to test."""
    (dst / "data").mkdir(parents=True)
    images = gzip.open(FASHION / "train60k-images-idx3-ubyte.gz").read()
    labels = gzip.open(FASHION / "train60k-labels-idx1-ubyte.gz").read()
    for name, lo, hi in [("train10k", 0, 10000), ("test10k", 10000, 20000)]:
        n = hi - lo
        im = struct.pack(">IIII", 0x803, n, 28, 28) + images[16 + lo * 784 : 16 + hi * 784]
        lb = struct.pack(">II", 0x801, n) + labels[8 + lo : 8 + hi]
        (dst / "data" / f"{name}-images-idx3-ubyte").write_bytes(im)
        (dst / "data" / f"{name}-labels-idx1-ubyte").write_bytes(lb)
    text = (ROOT / "examples/digits/anneal.toml").read_text()
    text = text.replace('name = "digits"', 'name = "fashion"').replace("data/t10k", "data/test10k")
    (dst / "anneal.toml").write_text(text)


def setup(anneal, src, dst, rate, seed):
    dst.mkdir(parents=True)
    shutil.copy(src / "anneal.toml", dst)
    if (src / "import.sh").exists():
        shutil.copy(src / "import.sh", dst)
        subprocess.run(["bash", str(dst / "import.sh"), anneal, str(FSDD)], check=True, capture_output=True)
    else:
        shutil.copytree(src / "data", dst / "data")
        manifest = tomllib.loads((dst / "anneal.toml").read_text())
        for source in manifest["data"]["source"]:
            run(anneal, "data", "import", source["path"], "--split", source["split"], cwd=dst)
    flip(anneal, dst, imported(anneal, dst), rate, seed)


def score(anneal, name, dst):
    start = time.time()
    built = json.loads(run(anneal, "build", "--json", cwd=dst).splitlines()[-1])
    seconds = time.time() - start
    truth = {r["id"]: r["true"] for r in csv.DictReader(open(dst / "flips.csv"))}
    queue = json.loads(run(anneal, "queue", "mislabeled", "--json", cwd=dst))
    cut = queue["suspects"]
    hits = [s for s in cut if s["id"] in truth]
    right = sum(1 for s in hits if s["suggested"] == truth[s["id"]])
    ranked = json.loads(run(anneal, "queue", "mislabeled", "--json", "--top", str(len(truth)), cwd=dst))
    at_n = sum(1 for s in ranked["suspects"] if s["id"] in truth)
    n, t = len(cut), len(truth)
    print(f"{name}: {t} of {queue['examples']} labels flipped; build {seconds:.1f}s, test accuracy {built['accuracy']:.4f}")
    if t:
        print(f"  at the queue's cut: flagged {n}, precision {len(hits) / max(n, 1):.3f}, recall {len(hits) / t:.3f}; estimate {queue['estimated']} vs true {t} ({100 * (queue['estimated'] - t) / t:+.1f}%)")
        print(f"  ranking alone: precision at N = {t}: {at_n / t:.3f}; suggested label is the true one for {right} of {len(hits)} found")
    else:
        print(f"  no flips: the queue estimates {queue['estimated']} wrong labels")


def imported(anneal, dst):
    """Every example at HEAD (id, label, split): the import commits' additions, oldest first,
    with later split changes applied."""
    rows = {}
    for commit in reversed(json.loads(run(anneal, "data", "log", "--json", cwd=dst))):
        diff = json.loads(run(anneal, "data", "show", commit["commit"], "--json", cwd=dst))["diff"]
        for r in diff["added"] + diff.get("changed", []):
            rows[r["id"]] = r
    return list(rows.values())


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
    if chosen:
        run(anneal, "data", "label", "--from", "edit.csv", "-m", f"flip {len(chosen)} labels", cwd=dst)


if __name__ == "__main__":
    main()
