"""Peer check of `anneal serve`: the stock `tritonclient.http` client against a real server
process. Health, metadata, and inference with Triton's default binary tensors and with
binary_data=False, compared with `anneal predict --json` on the same images.

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
        print(f"serve peer check: tritonclient binary max diff {d1:.2e}, JSON max diff {d2:.2e} over {probs.size} probabilities")
        print("1 passed, 0 failed")
    finally:
        if server is not None:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
