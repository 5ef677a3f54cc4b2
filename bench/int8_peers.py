"""onnxruntime's and PyTorch's inference figures for the models of anneal's `inference`
example: the MLP 784-512-256-10 and the CNN conv32 5x5-pool-conv64 5x5-pool-dense128-dense10,
random weights, at batch 1 (median latency, us) and batch 256 (samples/s).

- onnxruntime f32: the model exported by torch.onnx;
- onnxruntime int8: that model through onnxruntime's own static quantization
  (`quantize_static`, QDQ format, per-channel int8 weights, uint8 activations calibrated on
  256 random inputs: the scheme anneal uses);
- PyTorch f32 (eager, no_grad).

Same measurement as the example: median of 3 blocks of at least SECONDS each after a warm-up,
THREADS intra-op threads. Prints one line per figure in the example's format, so
bench/int8.sh can put them side by side.

Usage: python3 bench/int8_peers.py [SECONDS_PER_BLOCK] [THREADS]
"""
import os
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)


def median_rate(work):
    start = time.perf_counter()
    while time.perf_counter() - start < secs / 4:
        work()
    rates = []
    for _ in range(3):
        start, done = time.perf_counter(), 0.0
        while time.perf_counter() - start < secs:
            done += work()
        rates.append(done / (time.perf_counter() - start))
    return sorted(rates)[1]


MODELS = {
    "mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                 nn.Linear(256, 10)),
    "cnn": lambda: nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10)),
}


def report(who, name, run):
    x1 = np.random.rand(1, 1, 28, 28).astype(np.float32)
    x256 = np.random.rand(256, 1, 28, 28).astype(np.float32)
    one = median_rate(lambda: (run(x1), 1.0)[1])
    many = median_rate(lambda: (run(x256), 256.0)[1])
    print(f"{who} {name} infer batch 1: {1e6 / one:.1f} us")
    print(f"{who} {name} infer batch 256: {many:.0f} samples/s")


def main():
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": np.random.rand(16, 1, 28, 28).astype(np.float32)} for _ in range(16)])

        def get_next(self):
            return next(self.batches, None)

    print(f"pytorch {torch.__version__}, onnxruntime {ort.__version__}, {threads} threads")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    tmp = tempfile.mkdtemp(prefix="anneal-int8-bench-")
    for name, make in MODELS.items():
        model = make().eval()
        with torch.no_grad():
            report("pytorch f32", name, lambda x: model(torch.from_numpy(x)))
        f32 = os.path.join(tmp, f"{name}.onnx")
        torch.onnx.export(model, torch.rand(1, 1, 28, 28), f32, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
        prepared = os.path.join(tmp, f"{name}-prep.onnx")
        quant_pre_process(f32, prepared)
        int8 = os.path.join(tmp, f"{name}-int8.onnx")
        quantize_static(prepared, int8, Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        for kind, path in [("f32", f32), ("int8", int8)]:
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            report(f"onnxruntime {kind}", name, lambda x: session.run(["y"], {"x": x}))


if __name__ == "__main__":
    main()
