#!/usr/bin/env python3
"""Speaker generalisation of examples/spoken-digits: hold out one FSDD speaker at a time (train
on the other five, test on all 500 recordings of the sixth), one build each.

usage: bench/speaker_holdout.py ANNEAL WORKDIR
"""
import json, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FSDD = ROOT.parent / "shared/datasets/fsdd"
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]


def run(anneal, *args, cwd):
    out = subprocess.run([anneal, *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"anneal {' '.join(args)}:\n{out.stdout}{out.stderr}")
    return out.stdout


def main():
    anneal, work = str(Path(sys.argv[1]).resolve()), Path(sys.argv[2])
    src = ROOT / "examples/spoken-digits"
    results = {}
    for speaker in SPEAKERS:
        dst = work / f"holdout-{speaker}"
        shutil.rmtree(dst, ignore_errors=True)
        dst.mkdir(parents=True)
        shutil.copy(src / "anneal.toml", dst)
        run(anneal, "data", "import", str(FSDD / "recordings"), "--pattern", "{label}_{speaker}_{take}.wav",
            "--meta", str(FSDD / "speakers.csv"), "--split", "train", cwd=dst)
        run(anneal, "data", "split", "--where", f"speaker={speaker}", "--to", "test", cwd=dst)
        built = json.loads(run(anneal, "build", "--json", cwd=dst).splitlines()[-1])
        results[speaker] = built["accuracy"]
        print(f"  held out {speaker:<9} {built['accuracy']:.4f} on {built['test_examples']}", flush=True)
    mean = sum(results.values()) / len(results)
    worst = min(results, key=results.get)
    print(f"mean {mean:.4f}, worst {worst} {results[worst]:.4f} (reference CNN: mean 0.676, worst 0.402)")


if __name__ == "__main__":
    main()
