"""PyTorch's training throughput for the same two workloads as anneal's throughput example."""
import sys
import time

import torch
from torch import nn

torch.set_num_threads(2)
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0

mlp = lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
cnn = lambda: nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5), nn.ReLU(),
                            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10))

for name, make, batch in [("mlp", mlp, 128), ("cnn", cnn, 64)]:
    torch.manual_seed(0)
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(10):
        step()
    rates = []
    start = time.perf_counter()
    while time.perf_counter() - start < secs:
        t = time.perf_counter()
        for _ in range(20):
            step()
        rates.append(20 * batch / (time.perf_counter() - t))
    rates.sort()
    med = rates[len(rates) // 2]
    print(f"pytorch {name} batch {batch}: {med:.0f} samples/s ({med / batch:.1f} steps/s, median of {len(rates)} blocks)")
