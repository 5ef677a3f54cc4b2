#!/usr/bin/env python3
"""docs/kserve/ against a real `anneal serve`: what KServe would do with the two YAMLs, on
loopback, without a cluster.

- both YAMLs parse and are what KServe reads: a v1alpha1 ServingRuntime speaking v2 whose
  supported format is the InferenceService's, its container's port, `--port` and probe ports
  one number, `--host 0.0.0.0`, its packages the folder KServe mounts (/mnt/models);
- a small package of the program the storageUri's file names (NAME-VERSION.anneal) is laid out
  as KServe's storage initializer lays out a file storageUri (the file, under its own name, in
  /mnt/models), here in a temp folder;
- the runtime's command and arguments start `anneal serve` on that folder (only the binary, the
  folder and the port substituted); the readiness and liveness probes' paths answer 200, the
  model is ready under the name KServe routes to (the InferenceService's), and a v2 JSON
  inference of four t10k images gives `anneal predict`'s classes and probabilities (1e-5);
- SIGTERM, as the kubelet sends it: the server exits 0 within Kubernetes' default grace period.

usage: tests/peer/check_kserve.py target/debug/anneal   (needs pyyaml, numpy)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import numpy as np
import yaml

from common import DATA, ROOT, build, read_idx_images

MOUNT = "/mnt/models"
GRACE_SECONDS = 30  # Kubernetes' default terminationGracePeriodSeconds
TOLERANCE = 1e-5


def load(name):
    with open(os.path.join(ROOT, "docs", "kserve", name)) as f:
        return yaml.safe_load(f)


def flag(args, name):
    """The value after `name` in the argument list, or None."""
    return args[args.index(name) + 1] if name in args else None


def mismatches(runtime, isvc):
    """What KServe would refuse or route wrong, in words."""
    bad = []
    spec, model = runtime["spec"], isvc["spec"]["predictor"]["model"]
    if (runtime["apiVersion"], runtime["kind"]) != ("serving.kserve.io/v1alpha1", "ServingRuntime"):
        bad.append(f"runtime is {runtime['apiVersion']} {runtime['kind']}")
    if (isvc["apiVersion"], isvc["kind"]) != ("serving.kserve.io/v1beta1", "InferenceService"):
        bad.append(f"inference service is {isvc['apiVersion']} {isvc['kind']}")
    if "v2" not in spec.get("protocolVersions", []):
        bad.append("the runtime does not declare protocolVersions v2")
    formats = {(f["name"], str(f.get("version"))) for f in spec["supportedModelFormats"]}
    wanted = (model["modelFormat"]["name"], str(model["modelFormat"].get("version")))
    if wanted not in formats:
        bad.append(f"modelFormat {wanted} is not among the runtime's {sorted(formats)}")
    if model.get("runtime", runtime["metadata"]["name"]) != runtime["metadata"]["name"]:
        bad.append(f"runtime `{model['runtime']}` is not `{runtime['metadata']['name']}`")
    c = spec["containers"][0]
    args = [str(a) for a in c["args"]]
    ports = {str(p["containerPort"]) for p in c.get("ports", [])}
    ports |= {str(c[p]["httpGet"]["port"]) for p in ("readinessProbe", "livenessProbe")}
    ports.add(flag(args, "--port"))
    if len(ports) != 1:
        bad.append(f"the container port, --port and the probe ports differ: {sorted(map(str, ports))}")
    if flag(args, "--host") != "0.0.0.0":
        bad.append(f"--host is {flag(args, '--host')}, not 0.0.0.0: no other pod could reach it")
    if MOUNT not in args:
        bad.append(f"the arguments do not serve {MOUNT}")
    if c.get("command", [None])[0] != "anneal" or c["command"][1:2] != ["serve"]:
        bad.append(f"the command is {c.get('command')}, not anneal serve")
    stored = os.path.basename(urlparse(model["storageUri"]).path)
    if not stored.endswith(".anneal"):
        bad.append(f"storageUri's file `{stored}` lacks .anneal: anneal serve would skip it")
    return bad


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def wait_ready(url, proc):
    for _ in range(200):
        if proc.poll() is not None:
            return False
        if get(url)[0] == 200:
            return True
        time.sleep(0.1)
    return False


def infer(base, model, images, norm):
    x = (images.astype(np.float32) * norm["scale"] - norm["mean"]) / norm["std"]
    body = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                        "data": x.ravel().tolist()}]}
    req = urllib.request.Request(f"{base}/v2/models/{model}/infer", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        out = {o["name"]: o for o in json.loads(r.read())["outputs"]}
    probs = np.array(out["probabilities"]["data"], dtype=np.float64).reshape(len(images), -1)
    return probs, [int(v) for v in out["class"]["data"]]


def serve_and_probe(anneal, runtime, isvc, mount, problems):
    c = runtime["spec"]["containers"][0]
    port = free_port()
    old = str(flag([str(a) for a in c["args"]], "--port"))
    args = [mount if a == MOUNT else str(port) if str(a) == old else str(a) for a in c["args"]]
    # KServe's template: the InferenceService's name.
    args = [a.replace("{{.Name}}", isvc["metadata"]["name"]) for a in args]
    cmd = [anneal, *c["command"][1:], *args]
    print("runtime command:", " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(base + c["readinessProbe"]["httpGet"]["path"], proc):
            problems.append(f"never ready on {c['readinessProbe']['httpGet']['path']}")
            return proc
        for probe in ("readinessProbe", "livenessProbe"):
            status, _ = get(base + c[probe]["httpGet"]["path"])
            print(f"{probe} {c[probe]['httpGet']['path']}: {status}")
            if status != 200:
                problems.append(f"{probe} answered {status}")
        check_model(anneal, base, isvc, mount, problems)
    finally:
        stop(proc, problems)
    return proc


def check_model(anneal, base, isvc, mount, problems):
    name = isvc["metadata"]["name"]
    status, meta = get(f"{base}/v2/models/{name}")
    ready, _ = get(f"{base}/v2/models/{name}/ready")
    print(f"/v2/models/{name}: {status}, ready: {ready}")
    if status != 200 or ready != 200:
        problems.append(f"model `{name}` (the InferenceService's name, which KServe routes "
                        f"/v2/models/{name} for) is not served: pass --model-name {{{{.Name}}}}")
        return
    norm = json.loads(meta)["parameters"]["normalization"]
    if isinstance(norm, str):
        norm = json.loads(norm)
    images = read_idx_images(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:4]
    probs, classes = infer(base, name, images, norm)
    package = os.path.join(mount, os.listdir(mount)[0])
    out = subprocess.run([anneal, "predict", package, os.path.join(DATA, "t10k"), "--json"],
                         check=True, capture_output=True, text=True).stdout
    theirs = json.loads(out)[:4]
    ref = np.array([p["probabilities"] for p in theirs], dtype=np.float64)
    diff = float(np.abs(probs - ref).max())
    print(f"infer {name}: classes {classes}, max |serve - predict| = {diff:.2e}")
    if classes != [int(p["class"]) for p in theirs] or diff > TOLERANCE:
        problems.append(f"inference differs from anneal predict (max diff {diff:.2e})")


def stop(proc, problems):
    """SIGTERM as the kubelet sends it: the process must exit 0 within the grace period."""
    if proc.poll() is not None:
        problems.append(f"anneal serve exited early: {proc.stderr.read().strip()}")
        return
    proc.send_signal(signal.SIGTERM)
    started = time.time()
    try:
        code = proc.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        problems.append(f"still running {GRACE_SECONDS} s after SIGTERM")
        return
    print(f"SIGTERM: exit {code} after {time.time() - started:.2f} s")
    if code != 0:
        problems.append(f"exit {code} after SIGTERM")


def main():
    anneal = os.path.abspath(sys.argv[1])
    runtime, isvc = load("servingruntime.yaml"), load("inferenceservice.yaml")
    problems = mismatches(runtime, isvc)
    with tempfile.TemporaryDirectory() as tmp:
        # The package the storageUri names (NAME-VERSION.anneal), built small.
        stored = os.path.basename(urlparse(isvc["spec"]["predictor"]["model"]["storageUri"]).path)
        program = stored.rsplit("-", 1)[0]
        package = build(anneal, tmp, program, ["flatten", "dense 32", "relu", "dense 10"])
        # The storage initializer: a file storageUri lands in /mnt/models under its own name.
        mount = os.path.join(tmp, "mnt", "models")
        os.makedirs(mount)
        shutil.copy(package, os.path.join(mount, stored))
        serve_and_probe(anneal, runtime, isvc, mount, problems)
    for p in problems:
        print("MISMATCH:", p)
    print("kserve: ok" if not problems else f"kserve: {len(problems)} mismatch(es)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
