"""Peer check: `anneal export --format onnx` against onnxruntime. Builds small programs on the
embedded digits data covering every layer kind (one with temperature scaling fitted on a
validation split), exports each, checks the model with `onnx.checker` (full check) and strict
shape inference, runs it in onnxruntime on raw pixels (0-255) and compares the probabilities
and the argmax with `anneal predict --json`. Then the same for an audio program (log-mel
features computed in numpy; skipped without ../shared/datasets/fsdd) and examples/income
(rows encoded in numpy; skipped without ../shared/datasets/adult).

Usage: python3 tests/peer/check_onnx.py PATH/TO/anneal
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from safetensors import safe_open

from common import DATA, build, read_idx_images

TOLERANCE = 1e-5
EXAMPLES = 1000
# An int8 package's QDQ model against anneal's integer kernels: the two agree on every
# integer sum, but an input that onnxruntime's f32 layers compute a last bit apart from
# anneal's can round to the neighbouring uint8 step.
INT8_TOLERANCE = 1e-3

PROGRAMS = {
    # Every image layer kind: conv with stride and pad, batchnorm on images and on vectors,
    # gelu, both poolings, dropout, flatten, dense, layernorm, tanh, sigmoid, relu, softmax.
    "onnx-cnn": (["conv 4 3x3 pad 1", "batchnorm", "gelu", "maxpool 2", "conv 6 3x3 stride 2 pad 1",
                  "relu", "avgpool 2 stride 1", "dropout 0.1", "flatten", "dense 32", "layernorm", "tanh",
                  "batchnorm", "sigmoid", "dense 10", "softmax"], None),
    # An MLP with temperature scaling: probabilities are softmax(logits / temperature).
    "onnx-mlp": (["flatten", "dense 64", "relu", "dropout 0.2", "dense 10"], "test"),
}


def export(anneal, package):
    path = package[: -len(".anneal")] + ".onnx"
    out = subprocess.run([anneal, "export", package, "--format", "onnx", "-o", path, "--json"],
                         check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    assert report["path"] == path and report["opset"] == 17, report
    return path


def check_model(path, signature):
    """The checker, strict shape inference and the declared interface."""
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert model.ir_version == 8 and model.producer_name == "anneal", (model.ir_version, model.producer_name)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["anneal.classes"]) == signature["classes"]
    norm = json.loads(props["anneal.normalization"])
    assert all(abs(norm[k] - signature["normalization"][k]) < 1e-6 for k in ("scale", "mean", "std"))
    if signature.get("temperature") is not None:
        assert abs(float(props["anneal.temperature"]) - signature["temperature"]) < 1e-6
    (inp,) = model.graph.input
    assert inp.name == "input" and inp.type.tensor_type.shape.dim[0].dim_param == "N"
    outs = [(o.name, o.type.tensor_type.elem_type) for o in model.graph.output]
    assert outs == [("probabilities", onnx.TensorProto.FLOAT), ("class", onnx.TensorProto.INT64)], outs
    return len(model.graph.node)


def run_ort(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    probs, cls = session.run(["probabilities", "class"], {"input": x})
    one, _ = session.run(["probabilities", "class"], {"input": x[:1]})  # the batch is symbolic
    assert np.abs(one - probs[:1]).max() < 1e-6
    return probs, cls


def check(anneal, tmp, name, layers, validation, images, flags=()):
    """An image program on the embedded digits: ONNX on raw pixels against `anneal predict`."""
    package = build(anneal, tmp, name, layers, validation=validation, flags=flags)
    theirs = predict(anneal, package, [os.path.join(DATA, "t10k")])[:len(images)]
    tolerance = INT8_TOLERANCE if "--int8" in flags else TOLERANCE
    return compare(anneal, name, package, images.astype(np.float32), theirs, tolerance)


def int8(anneal, tmp, images):
    """The CNN built with --int8: its QDQ model (INT8 weights per channel, uint8 inputs) in
    onnxruntime against anneal's integer kernels."""
    layers, _ = PROGRAMS["onnx-cnn"]
    ok = check(anneal, tmp, "onnx-int8", layers, None, images, flags=("--int8",))
    model = onnx.load(os.path.join(tmp, "onnx-int8", "target", "onnx-int8-0.1.0.onnx"))
    ops = [n.op_type for n in model.graph.node]
    int8 = [i.name for i in model.graph.initializer
            if i.data_type == onnx.TensorProto.INT8 and i.name.endswith("_quantized")]
    print(f"onnx-int8: {ops.count('QuantizeLinear')} QuantizeLinear, {ops.count('DequantizeLinear')} "
          f"DequantizeLinear, INT8 initializers {sorted(int8)}")
    return [ok and ops.count("QuantizeLinear") == 4 and len(int8) == 4]


def predict(anneal, package, inputs):
    out = subprocess.run([anneal, "predict", package, *inputs, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return np.array([p["probabilities"] for p in json.loads(out)], dtype=np.float64)


def compare(anneal, name, package, x, theirs, tolerance):
    """Export `package`, check the model, run it on the features `x` and compare with
    `theirs` (anneal's probabilities on the same examples)."""
    path = export(anneal, package)
    with safe_open(package, framework="np") as f:
        signature = json.loads(f.metadata()["anneal.signature"])
    nodes = check_model(path, signature)
    probs, cls = run_ort(path, x)
    diff = float(np.abs(probs - theirs).max())
    agree = float((cls == theirs.argmax(1)).mean())
    t = signature.get("temperature")
    print(f"{name}: {nodes} nodes, temperature {t if t is None else round(t, 4)}, "
          f"max |onnxruntime - anneal| = {diff:.2e} over {probs.size} probabilities, argmax agreement {agree:.4f}")
    return diff <= tolerance and agree == 1.0


def audio(anneal, tmp):
    """The audio program of check_audio_package: log-mel features computed in numpy (the front end is not
    part of the graph), so the tolerance is that check's, 1e-4."""
    import check_audio_package as peer
    from logmel import log_mel, read_wav
    if not os.path.isdir(peer.FSDD):
        print(f"onnx-audio: skipped, {peer.FSDD} is absent")
        return []
    os.makedirs(os.path.join(tmp, "audio"))
    package, wavs = peer.program(anneal, os.path.join(tmp, "audio"))
    with safe_open(package, framework="np") as f:
        spec = json.loads(f.metadata()["anneal.program"])["input"]["audio"]
    x = np.stack([log_mel(read_wav(w)[0], spec) for w in wavs])[:, None].astype(np.float32)
    return [compare(anneal, "onnx-audio", package, x, predict(anneal, package, wavs), 1e-4)]


def table(anneal, tmp):
    """examples/income on UCI Adult: rows encoded in numpy from the package's fitted table."""
    import check_table_package as peer
    if not os.path.isdir(peer.ADULT):
        print(f"onnx-table: skipped, {peer.ADULT} is absent")
        return []
    package = peer.build(anneal, tmp)
    with safe_open(package, framework="np") as f:
        spec = json.loads(f.metadata()["anneal.program"])["input"]["table"]
    path, rows = peer.rows_file(tmp, 200)
    x = np.stack([peer.encode(spec, r) for r in rows]).astype(np.float32)
    return [compare(anneal, "onnx-table", package, x, predict(anneal, package, [path]), TOLERANCE)]


def main():
    anneal = os.path.abspath(sys.argv[1])
    images = read_idx_images(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:EXAMPLES]
    tmp = tempfile.mkdtemp(prefix="anneal-onnx-")
    try:
        results = [check(anneal, tmp, name, layers, validation, images)
                   for name, (layers, validation) in PROGRAMS.items()]
        results += int8(anneal, tmp, images) + audio(anneal, tmp) + table(anneal, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
