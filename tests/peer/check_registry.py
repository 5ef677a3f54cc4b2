"""Peer check: anneal's packages as OCI artifacts, against an independent client (oras-py)
and real registries (Debian's Distribution 2.8, started by .ci/run: ANNEAL_TEST_REGISTRY;
ANNEAL_TEST_REGISTRY_AUTH with htpasswd auth and ANNEAL_TEST_REGISTRY_BEARER with Bearer
tokens, both for ANNEAL_TEST_REGISTRY_USER/PASSWORD).

On each registry:
1. `anneal publish`, then oras-py pulls it: the manifest's artifact and media types, the
   config blob (the package's metadata), and the weights layer (a plain safetensors file
   whose tensors are the package's, its sha256 the layer's digest).
2. oras-py pushes those two files with anneal's media types (and, as oras-py does, no
   artifactType); `anneal add` and `anneal fetch` take it, and the package they assemble is
   byte for byte the one built.
3. oras-py pushes a foreign artifact; `anneal add` refuses it by name and writes nothing.

Usage: python3 tests/peer/check_registry.py PATH/TO/anneal
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import oras.client
from safetensors.numpy import load_file

from common import build, manifest

CONFIG_TYPE = "application/vnd.anneal.package.config.v1+json"
WEIGHTS_TYPE = "application/vnd.anneal.weights.v1.safetensors"
ARTIFACT_TYPE = "application/vnd.anneal.package.v1"


def sha256(path):
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


def run(anneal, env, *args, ok=True):
    p = subprocess.run([anneal, *args], env=env, capture_output=True, text=True)
    if ok and p.returncode != 0:
        sys.exit(f"anneal {' '.join(args)} failed:\n{p.stdout}{p.stderr}")
    return p


def oras_client(registry, credentials, backend):
    if credentials is None:
        return oras.client.OrasClient(hostname=registry, insecure=True)
    client = oras.client.OrasClient(hostname=registry, insecure=True, auth_backend=backend)
    client.auth.set_basic_auth(*credentials)
    return client


def pulled_by_oras(client, ref, package, tmp):
    """oras-py pulls what anneal pushed; returns (config path, weights path)."""
    m = client.get_manifest(ref)
    assert m.get("artifactType") == ARTIFACT_TYPE, m
    assert m["config"]["mediaType"] == CONFIG_TYPE, m
    [layer] = m["layers"]
    assert layer["mediaType"] == WEIGHTS_TYPE, m
    out = os.path.join(tmp, "pulled")
    [weights] = client.pull(target=ref, outdir=out)
    assert sha256(weights) == layer["digest"], "the layer's bytes do not hash to its digest"
    config = os.path.join(tmp, "config.json")
    client.download_blob(ref, m["config"]["digest"], config)
    assert sha256(config) == m["config"]["digest"]
    meta = json.load(open(config))
    assert meta["program"]["name"] == "peer" and meta["signature"]["classes"] == [str(i) for i in range(10)], meta.keys()
    ours, theirs = load_file(package), load_file(weights)
    assert sorted(ours) == sorted(theirs) and all(np.array_equal(ours[k], theirs[k]) for k in ours)
    return config, weights


def user_program(tmp, name):
    prog = os.path.join(tmp, name)
    os.makedirs(prog)
    with open(os.path.join(prog, "anneal.toml"), "w") as f:
        f.write(manifest(name, ["flatten", "dense 10"]))
    return prog


def check(anneal, registry, credentials, backend, package, tmp):
    env = dict(os.environ, ANNEAL_CACHE_DIR=os.path.join(tmp, "cache"), XDG_CONFIG_HOME=os.path.join(tmp, "config"))
    if credentials:
        env.update(ANNEAL_REGISTRY_USER=credentials[0], ANNEAL_REGISTRY_PASSWORD=credentials[1])
    stamp = f"{time.time_ns()}"
    repo = f"{registry}/peer/digits-{stamp}"
    client = oras_client(registry, credentials, backend)

    start = time.perf_counter()
    out = json.loads(run(anneal, env, "publish", package, repo, "--json").stdout)
    assert not out["already"] and all(b["sent"] for b in out["blobs"]), out
    config, weights = pulled_by_oras(client, f"{repo}:0.1.0", package, tmp)
    print(f"  {registry}: anneal published {out['bytes_sent']} bytes in {out['seconds']:.3f} s; oras-py pulled it, tensors equal ({time.perf_counter() - start:.2f} s)")

    # oras-py pushes anneal's two blobs with anneal's media types (no artifactType).
    oras_repo = f"{registry}/peer/oras-{stamp}"
    client.push(target=f"{oras_repo}:0.1.0", files=[f"{weights}:{WEIGHTS_TYPE}"],
                manifest_config=f"{config}:{CONFIG_TYPE}", disable_path_validation=True, quiet=True)
    assert "artifactType" not in client.get_manifest(f"{oras_repo}:0.1.0")
    user = user_program(tmp, "user")
    added = json.loads(run(anneal, env, "add", "-C", user, f"{oras_repo}@^0.1", "--name", "digits", "--json").stdout)
    assert open(added["package"], "rb").read() == open(package, "rb").read(), "the assembled package differs from the built one"
    fetched = run(anneal, env, "fetch", "-C", user).stdout
    assert fetched.strip().endswith("cached, verified"), fetched
    print(f"  {registry}: oras-py pushed anneal's media types; anneal add assembled the package byte for byte")

    # A foreign artifact: oras-py's defaults.
    note = os.path.join(tmp, "note.txt")
    with open(note, "w") as f:
        f.write("not a model\n")
    foreign = f"{registry}/peer/foreign-{stamp}"
    client.push(target=f"{foreign}:1.0.0", files=[note], disable_path_validation=True, quiet=True)
    before = open(os.path.join(user, "anneal.toml")).read()
    p = run(anneal, env, "add", "-C", user, foreign, ok=False)
    assert p.returncode == 2 and "is not an anneal package" in p.stderr, p.stderr
    assert open(os.path.join(user, "anneal.toml")).read() == before
    print(f"  {registry}: a foreign artifact is refused: {p.stderr.splitlines()[0]}")


def main():
    anneal = os.path.abspath(sys.argv[1])
    registries = [(os.environ.get("ANNEAL_TEST_REGISTRY"), None, None)]
    credentials = (os.environ.get("ANNEAL_TEST_REGISTRY_USER"), os.environ.get("ANNEAL_TEST_REGISTRY_PASSWORD"))
    # htpasswd (oras-py's basic backend), and Bearer tokens (its token backend).
    for var, backend in [("ANNEAL_TEST_REGISTRY_AUTH", "basic"), ("ANNEAL_TEST_REGISTRY_BEARER", "token")]:
        if os.environ.get(var):
            registries.append((os.environ[var], credentials, backend))
    if not registries[0][0]:
        print("skipped: set ANNEAL_TEST_REGISTRY (and ANNEAL_TEST_REGISTRY_AUTH) to 127.0.0.1:PORT; .ci/run starts them")
        return
    with tempfile.TemporaryDirectory() as tmp:
        package = build(anneal, tmp, "peer", ["flatten", "dense 32", "relu", "dense 10"])
        for registry, credentials, backend in registries:
            with tempfile.TemporaryDirectory() as each:
                check(anneal, registry, credentials, backend, package, each)
    print("registry peer check: ok")


if __name__ == "__main__":
    main()
