"""PyTorch's and onnxruntime's figures for the workloads of anneal's throughput example.

Same measurement as the example: median of 3 blocks of at least SECONDS each after a warm-up,
THREADS intra-op threads, random inputs, Adam. Prints one line per figure in the example's
format, so bench/train_throughput.sh can put them side by side.

Usage: python3 bench/torch_throughput.py [SECONDS_PER_BLOCK] [THREADS]
"""
import os
import sys
import tempfile
import time

import torch
from torch import nn

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)


def median_rate(work):
    work()
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        done = 0.0
        while time.perf_counter() - start < secs:
            done += work()
        rates.append(done / (time.perf_counter() - start))
    return sorted(rates)[1]


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10))


# Forward FLOPs per example, counted as anneal's cost table counts them (2 per multiply-add).
FLOPS = {
    "mlp": 2 * (784 * 512 + 512 * 256 + 256 * 10),
    "cnn": 2 * (24 * 24 * 32 * 25 + 8 * 8 * 64 * 800 + 1024 * 128 + 128 * 10),
}

print(f"pytorch {torch.__version__}, {threads} threads")
n = 1024
a, b = torch.rand(n, n), torch.rand(n, n)


def mm():
    torch.mm(a, b)
    return 2.0 * n**3


peak = median_rate(mm) / 1e9
print(f"pytorch gemm peak (torch.mm f32 1024^3): {peak:.1f} GFLOP/s")

models = {}
for name, make, batch in [("mlp", mlp, 128), ("cnn", cnn, 64)]:
    torch.manual_seed(0)
    model = make()
    models[name] = model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        return 1.0

    steps = median_rate(step)
    gflops = steps * batch * 3 * FLOPS[name] / 1e9
    print(f"pytorch {name} train batch {batch}: {steps:.1f} steps/s, {steps * batch:.0f} samples/s, "
          f"{gflops:.1f} GFLOP/s = {100 * gflops / peak:.0f}% of peak")

model = models["mlp"].eval()
def report_inference(who, run):
    """Batch-1 latency and batch-256 throughput of `run(batch)`, one inference of that size."""
    for batch in [1, 256]:
        def work():
            run(batch)
            return batch

        rate = median_rate(work)
        if batch == 1:
            print(f"{who} mlp infer batch 1: {1e6 / rate:.1f} us")
        else:
            print(f"{who} mlp infer batch 256: {rate:.0f} samples/s")


inputs = {batch: torch.rand(batch, 1, 28, 28) for batch in [1, 256]}


def torch_infer(batch):
    with torch.inference_mode():
        torch.softmax(model(inputs[batch]), 1)


report_inference("pytorch", torch_infer)

try:
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"onnxruntime figures skipped: {e} (pip install onnx onnxruntime)")
    sys.exit(0)

# The same MLP (same weights) as an ONNX graph: Flatten, Gemm/Relu x2, Gemm, Softmax.
linears = [m for m in model if isinstance(m, nn.Linear)]
inits, nodes, prev = [], [helper.make_node("Flatten", ["x"], ["h0"], axis=1)], "h0"
for i, lin in enumerate(linears):
    inits += [numpy_helper.from_array(lin.weight.detach().numpy(), f"w{i}"),
              numpy_helper.from_array(lin.bias.detach().numpy(), f"b{i}")]
    out = f"g{i}"
    nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [out], transB=1))
    if i + 1 < len(linears):
        nodes.append(helper.make_node("Relu", [out], [f"r{i}"]))
        out = f"r{i}"
    prev = out
nodes.append(helper.make_node("Softmax", [prev], ["p"], axis=1))
graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 28, 28])],
                          [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["n", 10])], inits)
onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx_model.ir_version = 8
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "mlp.onnx")
    with open(path, "wb") as f:
        f.write(onnx_model.SerializeToString())
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
x = np.random.rand(256, 1, 28, 28).astype(np.float32)
with torch.inference_mode():
    want = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
got = session.run(["p"], {"x": x})[0]
assert np.abs(got - want).max() < 1e-4, "the ONNX graph disagrees with the torch model"
print(f"onnxruntime {ort.__version__}")
report_inference("onnxruntime", lambda batch: session.run(["p"], {"x": x[:batch]}))
