"""Push and pull figures for packages as OCI artifacts, beside oras-py moving the same blobs.

Builds an MLP 784-1024-1024-10 (about 1.9 M parameters, a 7.5 MB package) on the embedded
digits data, then against a registry (default: $ANNEAL_TEST_REGISTRY, which .ci/run starts):
1. `anneal publish` of 0.1.0 (every blob sent), and again (already published, nothing sent);
2. the version bumped to 0.1.1 with the weights unchanged (same build key): `anneal publish`
   sends the new config and manifest only;
3. `anneal add` into an empty cache (pull: manifest, config, weights, assembly), then
   `anneal fetch` with everything cached (every blob hashed again);
4. oras-py pushing and pulling the same two blobs to another repository, for comparison.

Usage: python3 bench/registry.py PATH/TO/anneal [REGISTRY]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "peer"))
from common import build, manifest  # noqa: E402

LAYERS = ["flatten", "dense 1024", "relu", "dense 1024", "relu", "dense 10"]


def timed(anneal, env, *args):
    start = time.perf_counter()
    p = subprocess.run([anneal, *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"anneal {' '.join(args)}: {p.stderr}")
    return time.perf_counter() - start, p.stdout


def oras_figures(registry, repo_ref, tmp):
    import oras.client
    c = oras.client.OrasClient(hostname=registry, insecure=True)
    m = c.get_manifest(f"{repo_ref}:0.1.0")
    config, weights = os.path.join(tmp, "config.json"), os.path.join(tmp, "weights.safetensors")
    c.download_blob(repo_ref, m["config"]["digest"], config)
    c.download_blob(repo_ref, m["layers"][0]["digest"], weights)
    target = f"{repo_ref}-oras:0.1.0"
    start = time.perf_counter()
    c.push(target=target, files=[f"{weights}:application/vnd.anneal.weights.v1.safetensors"],
           manifest_config=f"{config}:application/vnd.anneal.package.config.v1+json",
           disable_path_validation=True, quiet=True)
    push = time.perf_counter() - start
    start = time.perf_counter()
    c.pull(target=target, outdir=os.path.join(tmp, "oras-pull"))
    return push, time.perf_counter() - start


def main():
    anneal = os.path.abspath(sys.argv[1])
    registry = sys.argv[2] if len(sys.argv) > 2 else os.environ["ANNEAL_TEST_REGISTRY"]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ANNEAL_CACHE_DIR=os.path.join(tmp, "cache"))
        package = build(anneal, tmp, "bench", LAYERS)
        prog = os.path.dirname(os.path.dirname(package))
        repo = f"{registry}/bench/mlp-{time.time_ns()}"
        t1, out1 = timed(anneal, env, "publish", "-C", prog, repo, "--json")
        t2, out2 = timed(anneal, env, "publish", "-C", prog, repo, "--json")
        text = open(os.path.join(prog, "anneal.toml")).read()
        open(os.path.join(prog, "anneal.toml"), "w").write(text.replace('version = "0.1.0"', 'version = "0.1.1"'))
        subprocess.run([anneal, "build", "-C", prog], check=True, capture_output=True)
        t3, out3 = timed(anneal, env, "publish", "-C", prog, repo, "--json")
        user = os.path.join(tmp, "user")
        os.makedirs(user)
        open(os.path.join(user, "anneal.toml"), "w").write(manifest("user", ["flatten", "dense 10"]))
        t4, out4 = timed(anneal, env, "add", "-C", user, f"{repo}@^0.1", "--name", "mlp", "--json")
        t5, _ = timed(anneal, env, "fetch", "-C", user)
        push, pull = oras_figures(registry, repo, tmp)
        first, again, bumped, added = (json.loads(o) for o in (out1, out2, out3, out4))
        size = os.path.getsize(package)
        print(f"package: {size} bytes ({LAYERS})")
        print(f"publish 0.1.0:          {first['bytes_sent']:>9} bytes sent, {first['seconds']:.3f} s in anneal ({t1:.3f} s wall)")
        print(f"publish 0.1.0 again:    {again['bytes_sent']:>9} bytes sent, {t2:.3f} s wall (already published)")
        weights = [b for b in bumped["blobs"] if b["what"] == "weights"][0]
        print(f"publish 0.1.1 (same weights): {bumped['bytes_sent']:>9} bytes sent, weights re-sent: {weights['size'] if weights['sent'] else 0} bytes, {t3:.3f} s wall")
        print(f"add (pull, empty cache): {added['downloaded']:>9} bytes downloaded, {t4:.3f} s wall")
        print(f"fetch (all cached, re-hashed): {t5:.3f} s wall")
        print(f"oras-py, same blobs: push {push:.3f} s, pull {pull:.3f} s")


if __name__ == "__main__":
    main()
