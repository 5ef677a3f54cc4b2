#!/usr/bin/env python3
"""The studio at scale: a synthetic store of N tiny images (8x8, 10 labels, 10% test) with a
synthetic build report (2 epochs of per-example loss, test probabilities), then `anneal studio` timed server-side: start-up (the index read), the first
grid page, filter changes, an example panel (what a key press swaps in), a page of thumbnails,
and a page after a label commit (the index patched in place). With --browser, also the first
page load and a filter change in headless chromium. Not run in CI.

Goals (issue 12): at 100k examples the first page in < 1 s and a filter change in < 200 ms.

usage: bench/studio_scale.py [N ...] [--anneal PATH] [--browser]    (default N: 100000 1000000)
"""
import argparse
import json
import pathlib
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIDE = 8

MANIFEST = f"""[program]
name = "synthetic"
version = "0.1.0"
[data]
input = "image"
shape = [1, {SIDE}, {SIDE}]
classes = 10
[model]
layers = ["flatten", "dense 10"]
"""


def write_idx(dir, n, seed=1):
    rng = random.Random(seed)
    images = struct.pack(">IIII", 2051, n, SIDE, SIDE) + rng.randbytes(n * SIDE * SIDE)
    labels = struct.pack(">II", 2049, n) + bytes(rng.randrange(10) for _ in range(n))
    (dir / "data").mkdir(parents=True, exist_ok=True)
    (dir / "data" / "synth-images-idx3-ubyte").write_bytes(images)
    (dir / "data" / "synth-labels-idx1-ubyte").write_bytes(labels)


def anneal(binary, dir, *args):
    return subprocess.run([binary, *args], cwd=dir, check=True, capture_output=True, text=True).stdout


def make_store(binary, dir, n):
    dir.mkdir(parents=True)
    (dir / "anneal.toml").write_text(MANIFEST)
    write_idx(dir, n)
    t0 = time.perf_counter()
    anneal(binary, dir, "data", "import", "data/synth")
    anneal(binary, dir, "data", "split", "--test", "0.1", "--seed", "3")
    print(f"  import + split of {n:,} examples: {time.perf_counter() - t0:.1f} s")
    width = max(5, len(str(n - 1)))
    ids = [f"synth:{i:0{width}d}" for i in range(n)]
    return ids


def write_report(dir, ids):
    rng = random.Random(2)
    test = [i for k, i in enumerate(ids) if k % 10 == 0]
    train = [i for k, i in enumerate(ids) if k % 10 != 0]
    probs = lambda: [round(rng.random(), 3) for _ in range(10)]
    report = {
        "format": 1,
        "build_key": "synthetic",
        "dataset_commit": "synthetic",
        "classes": [str(c) for c in range(10)],
        "train": {
            "ids": train,
            "labels": [rng.randrange(10) for _ in train],
            "loss": [[round(rng.random() * 3, 3) for _ in train] for _ in range(2)],
        },
        "test": {"ids": test, "labels": [rng.randrange(10) for _ in test], "probs": [probs() for _ in test]},
    }
    (dir / "target").mkdir(exist_ok=True)
    (dir / "target" / "synthetic-0.1.0.report.json").write_text(json.dumps(report))


class Client:
    def __init__(self, url):
        self.base, token = url.split("/?token=")
        self.port = self.base.rsplit(":", 1)[1]
        self.cookie = f"anneal_studio_{self.port}={token}"

    def request(self, path, body=None):
        req = urllib.request.Request(self.base + path, data=body, headers={"Cookie": self.cookie})
        if body is not None:
            req.add_header("Origin", self.base)
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as r:
            return r.read()

    def timed(self, path, repeat=5):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            body = self.request(path)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times), body


def server_side(c, ids):
    first, page = c.timed("/", repeat=1)
    print(f"  first grid page            {first:8.1f} ms ({len(page) // 1024} KiB)")
    for path in ("/?label=3", "/?split=test&correct=no", "/?top=100", "/?pred=7&label=2", "/?page=500"):
        ms, _ = c.timed(path)
        print(f"  filter {path:<20}{ms:8.1f} ms")
    ms, _ = c.timed(f"/panel/{ids[len(ids) // 2]}?label=3")
    print(f"  example panel              {ms:8.1f} ms")
    hashes = [h.split('"')[0] for h in page.decode().split('src="/media/')[1:]]
    t0 = time.perf_counter()
    for h in hashes:
        c.request(f"/media/{h}")
    print(f"  {len(hashes)} thumbnails, one by one {(time.perf_counter() - t0) * 1000:8.1f} ms")
    body = json.dumps({"ids": ids[1:4], "label": "9"}).encode()
    t0 = time.perf_counter()
    c.request("/api/bulk", body)
    commit = (time.perf_counter() - t0) * 1000
    ms, _ = c.timed("/?label=9", repeat=1)
    print(f"  bulk label commit          {commit:8.1f} ms, next page {ms:.1f} ms (index patched)")


def in_browser(url):
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from check_studio import browser

    d = browser()
    try:
        nav = (
            "const n = performance.getEntriesByType('navigation')[0];"
            "const p = performance.getEntriesByName('first-contentful-paint')[0];"
            "return [n.responseEnd, n.domContentLoadedEventEnd, p ? p.startTime : 0, n.loadEventEnd];"
        )
        shown = lambda t: f"response {t[0]:.0f}, DOM ready {t[1]:.0f}, first paint {t[2]:.0f}, all thumbnails {t[3]:.0f} ms"
        d.get(url)
        print(f"  browser first page:  {shown(d.execute_script(nav))}")
        d.get(url.split("/?")[0] + "/?label=3")
        print(f"  browser filter:      {shown(d.execute_script(nav))}")
    finally:
        d.quit()


def bench(binary, n, browser):
    print(f"{n:,} examples")
    with tempfile.TemporaryDirectory() as tmp:
        dir = pathlib.Path(tmp) / "p"
        ids = make_store(binary, dir, n)
        write_report(dir, ids)
        t0 = time.perf_counter()
        proc = subprocess.Popen([binary, "studio", "--port", "0", "--no-open"], cwd=dir, stdout=subprocess.PIPE, text=True)
        url = proc.stdout.readline().strip()
        print(f"  studio start (index read)  {(time.perf_counter() - t0) * 1000:8.1f} ms")
        try:
            server_side(Client(url), ids)
            if browser:
                in_browser(url)
        finally:
            proc.terminate()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    ap.add_argument("--anneal", default=str(ROOT / "target" / "release" / "anneal"))
    ap.add_argument("--browser", action="store_true")
    a = ap.parse_args()
    for n in a.sizes:
        bench(str(pathlib.Path(a.anneal).resolve()), n, a.browser)


if __name__ == "__main__":
    main()
