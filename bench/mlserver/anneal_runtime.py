"""An MLServer runtime that serves an anneal package with numpy: the peer `bench/serve_load.sh`
compares `anneal serve` against. It reads the package with `safetensors` and runs the program's
layers (dense, conv, pooling, batchnorm, activations) in numpy.
"""

import json

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri
from safetensors import safe_open


def conv(x, w, b, stride, pad):
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("bchwij,ocij->bohw", win, w, optimize=True) + b[None, :, None, None]


def pool(x, k, stride, op):
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return win.max(axis=(4, 5)) if op == "max" else win.mean(axis=(4, 5))


def forward(layers, t, x):
    for i, layer in enumerate(layers):
        op = layer["op"]
        p = lambda name: t[f"layers.{i}.{name}"]
        if op == "dense":
            x = x @ p("weight") + p("bias")
        elif op == "conv":
            x = conv(x, p("weight"), p("bias"), layer["stride"], layer["pad"])
        elif op in ("max-pool", "avg-pool"):
            x = pool(x, layer["kernel"], layer["stride"], "max" if op == "max-pool" else "avg")
        elif op == "batch-norm":
            shape = (1, -1) + (1,) * (x.ndim - 2)
            x = (x - p("running_mean").reshape(shape)) / np.sqrt(p("running_var").reshape(shape) + 1e-5)
            x = x * p("gamma").reshape(shape) + p("beta").reshape(shape)
        elif op == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif op == "relu":
            x = np.maximum(x, 0)
        elif op == "tanh":
            x = np.tanh(x)
        elif op == "sigmoid":
            x = 1 / (1 + np.exp(-x))
        elif op in ("dropout", "softmax"):
            pass
        else:
            raise ValueError(f"layer {op} is not implemented by this runtime")
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class AnnealRuntime(MLModel):
    async def load(self) -> bool:
        path = await get_model_uri(self._settings)
        with safe_open(path, framework="np") as f:
            self.tensors = {k: f.get_tensor(k) for k in f.keys()}
            self.layers = json.loads(f.metadata()["anneal.program"])["layers"]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        probs = forward(self.layers, self.tensors, x)
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(name="probabilities", payload=probs)],
        )
