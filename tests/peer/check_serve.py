"""Peer check of `anneal serve`: the stock `tritonclient.http` client against a real server
process. Health, metadata, and inference with Triton's default binary tensors and with
binary_data=False, compared with `anneal predict --json` on the same images; then a table
package fed one input per column (FP32 numbers, BYTES categories, binary and JSON), compared
with `anneal predict --json` on the same CSV rows.

Usage: python3 tests/peer/check_serve.py PATH/TO/anneal
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np
import tritonclient.http as httpclient

from common import DATA, build, read_idx_images


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        print("0 passed, 1 failed")
        sys.exit(1)


def main():
    anneal = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="anneal-serve-peer-")
    server = None
    try:
        package = build(anneal, tmp, "mlp", ["flatten", "dense 64", "relu", "dense 10"], seed=11)

        server = subprocess.Popen([anneal, "serve", package, "--port", "0"], stderr=subprocess.PIPE, text=True)
        line = server.stderr.readline()
        match = re.search(r"http://([0-9.]+:[0-9]+)", line)
        check(match is not None, f"server did not announce its address: {line!r}")
        url = match.group(1)
        client = httpclient.InferenceServerClient(url=url)

        check(client.is_server_live(), "is_server_live")
        check(client.is_server_ready(), "is_server_ready")
        check(client.is_model_ready("mlp"), "is_model_ready")
        meta = client.get_model_metadata("mlp")
        check(meta["inputs"][0]["name"] == "input" and meta["inputs"][0]["shape"] == [-1, 1, 28, 28], f"metadata {meta}")
        sig = meta["parameters"]
        norm = sig["normalization"]
        # The build's audit summary travels in the package and the server shows it.
        ece = sig["audit"]["calibration"]["ece"]
        check(0 <= ece < 1, f"metadata audit {sig.get('audit')}")

        images = read_idx_images(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:64]
        x = ((images.astype(np.float32) * np.float32(norm["scale"]) - np.float32(norm["mean"])) / np.float32(norm["std"])).astype(np.float32)

        out = subprocess.run([anneal, "predict", package, os.path.join(DATA, "t10k"), "--json"],
                             check=True, capture_output=True, text=True).stdout
        predicted = json.loads(out)[:64]
        want = np.array([p["probabilities"] for p in predicted], dtype=np.float32)
        want_labels = [p["class"] for p in predicted]

        # 1. tritonclient's defaults: binary input, binary outputs (binary_data_output).
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        res = client.infer("mlp", [inp], request_id="peer-1")
        probs = res.as_numpy("probabilities")
        labels = [v.decode() for v in res.as_numpy("label")]
        classes = res.as_numpy("class")
        d1 = float(np.abs(probs - want).max())
        check(d1 < 1e-5, f"binary probabilities differ from anneal predict by {d1}")
        check(labels == want_labels, "binary labels differ from anneal predict")
        check(list(classes) == [int(c) for c in want_labels], "class indices differ")
        check(res.get_response()["id"] == "peer-1", "id not echoed")

        # 2. JSON tensors both ways.
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
        outs = [httpclient.InferRequestedOutput("probabilities", binary_data=False),
                httpclient.InferRequestedOutput("label", binary_data=False)]
        res = client.infer("mlp", [inp], outputs=outs)
        d2 = float(np.abs(res.as_numpy("probabilities") - want).max())
        check(d2 < 1e-5, f"JSON probabilities differ from anneal predict by {d2}")
        check([v if isinstance(v, str) else v.decode() for v in res.as_numpy("label")] == want_labels, "JSON labels differ")

        # 3. A bad request is a 400 that tritonclient reports as an error.
        bad = httpclient.InferInput("input", [1, 1, 28, 27], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 1, 28, 27), dtype=np.float32))
        try:
            client.infer("mlp", [bad])
            check(False, "a wrong shape was accepted")
        except httpclient.InferenceServerException as e:
            check(e.status() == "400", f"wrong shape gave status {e.status()}")

        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=10)
        check(code == 0, f"server exited with {code} on SIGTERM")
        server = None
        d3 = check_table(anneal, tmp)
        print(f"serve peer check: tritonclient binary max diff {d1:.2e}, JSON max diff {d2:.2e} over {probs.size} probabilities; table max diff {d3:.2e}")
        print("1 passed, 0 failed")
    finally:
        if server is not None:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


TABLE_MANIFEST = """[program]
name = "rows"
version = "0.1.0"
[data]
input = "table"
classes = ["high", "low"]
[data.table]
numeric = ["age", "hours"]
categorical = ["sex", "job"]
[model]
layers = ["dense 16", "relu", "dense 2"]
[train]
epochs = 3
batch = 16
seed = 5
"""


def write_rows(path, n, seed, unseen=False):
    rng = np.random.default_rng(seed)
    jobs = ["clerk", "cook", "pilot"] + (["astronaut"] if unseen else [])
    with open(path, "w") as f:
        f.write("age,hours,sex,job,y\n")
        for i in range(n):
            age, hours = int(rng.integers(18, 70)), float(rng.integers(10, 70)) + 0.5
            job, sex = jobs[i % len(jobs)], ["F", "M"][int(rng.integers(0, 2))]
            f.write(f"{age},{hours},{sex},{job},{'high' if hours > 40 and job != 'cook' else 'low'}\n")


def check_table(anneal, tmp):
    """Serve a table package; each column its own input, binary and JSON; return the max diff."""
    prog = os.path.join(tmp, "rows")
    os.makedirs(prog)
    with open(os.path.join(prog, "anneal.toml"), "w") as f:
        f.write(TABLE_MANIFEST)
    for split, n, seed in [("train", 120, 1), ("test", 30, 2)]:
        path = os.path.join(tmp, f"{split}.csv")
        write_rows(path, n, seed)
        subprocess.run([anneal, "data", "import", path, "--label-column", "y", "--split", split, "-C", prog],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([anneal, "build", "-C", prog], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    package = os.path.join(prog, "target", "rows-0.1.0.anneal")
    rows_csv = os.path.join(tmp, "rows.csv")
    write_rows(rows_csv, 12, 3, unseen=True)
    out = subprocess.run([anneal, "predict", package, rows_csv, "--json"], check=True, capture_output=True, text=True).stdout
    want = np.array([p["probabilities"] for p in json.loads(out)], dtype=np.float32)
    with open(rows_csv) as f:
        rows = [line.strip().split(",") for line in f.readlines()[1:]]

    server = subprocess.Popen([anneal, "serve", package, "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://([0-9.]+:[0-9]+)", server.stderr.readline()).group(1)
        client = httpclient.InferenceServerClient(url=url)
        meta = client.get_model_metadata("rows")
        names = [i["name"] for i in meta["inputs"]]
        check(names == ["age", "hours", "sex", "job"], f"table metadata inputs {meta['inputs']}")
        check(meta["parameters"]["table"]["categorical"][1]["values"] == ["clerk", "cook", "pilot"], "table metadata")
        worst = 0.0
        for binary in (True, False):
            inputs = []
            for i, (name, datatype) in enumerate([("age", "FP32"), ("hours", "FP32"), ("sex", "BYTES"), ("job", "BYTES")]):
                values = [r[i] for r in rows]
                array = np.array(values, dtype=np.float32) if datatype == "FP32" else np.array([v.encode() for v in values], dtype=np.object_)
                inp = httpclient.InferInput(name, [len(rows)], datatype)
                inp.set_data_from_numpy(array, binary_data=binary)
                inputs.append(inp)
            res = client.infer("rows", inputs)
            diff = float(np.abs(res.as_numpy("probabilities") - want).max())
            check(diff < 1e-5, f"table probabilities (binary {binary}) differ from anneal predict by {diff}")
            worst = max(worst, diff)
        try:
            client.infer("rows", inputs[:3])
            check(False, "a missing column was accepted")
        except httpclient.InferenceServerException as e:
            check(e.status() == "400" and "`job`" in str(e), f"missing column gave {e.status()}: {e}")
        server.send_signal(signal.SIGTERM)
        check(server.wait(timeout=10) == 0, "table server exit code")
        return worst
    finally:
        if server.poll() is None:
            server.kill()


if __name__ == "__main__":
    main()
