# Written by anneal (`anneal build --engine torch`): trains model.py on the dataset commit's
# training split as the program says, on one process or under torchrun (DDP: gloo on CPUs,
# NCCL on GPUs), and writes the weights back in anneal's names and layouts.
#
# usage: python3 train.py JOB_DIR            (one process)
#        torchrun --nproc-per-node N train.py JOB_DIR
#
# JOB_DIR holds job.json (the settings), data.safetensors (x: the normalised inputs, float32
# [n, ...]; y: labels, int64 [n]), init.safetensors (anneal's initial weights) and model.py.
# Rank 0 prints one JSON object per line on stdout (progress) and writes weights.safetensors,
# losses.safetensors (per-example training loss, [epochs, n]) and result.json.
#
# Data parallelism: the program's `batch` is the global batch. Each step takes the next `batch`
# examples of the epoch's order (the same order on every rank, from the seed) and rank r trains
# on every world-th of them; gradients are averaged by DDP and scaled so that the step is the
# one a single process would take on the whole batch. Batch norm normalises over each rank's
# part of the batch.
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file


def say(**event):
    print(json.dumps(event), flush=True)


def device_for(wanted, local_rank):
    if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: PyTorch sees no CUDA device")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def shifted(x, shift, time_only, fill, gen):
    """Each image translated by up to `shift` pixels (rows unless time_only, and columns), the
    uncovered border filled with `fill`: anneal's `augment = "shift N"`."""
    if shift == 0 or x.dim() != 4:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), value=fill)
    out = torch.empty_like(x)
    dy = torch.zeros(n, dtype=torch.long) if time_only else torch.randint(-shift, shift + 1, (n,), generator=gen)
    dx = torch.randint(-shift, shift + 1, (n,), generator=gen)
    for i in range(n):
        top, left = shift - int(dy[i]), shift - int(dx[i])
        out[i] = padded[i, :, top:top + h, left:left + w]
    return out


def learning_rate(job, epoch, step, steps):
    base = job["lr"]
    if job["schedule"] == "constant":
        return base
    done = ((epoch - 1) * steps + step) / (steps * job["epochs"])
    return 0.5 * base * (1 + math.cos(math.pi * done))


def optimizer(job, params):
    if job["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=job["lr"], betas=(0.9, 0.999), eps=1e-8)
    return torch.optim.SGD(params, lr=job["lr"], momentum=job["momentum"])


def main():
    job_dir = Path(sys.argv[1])
    job = json.loads((job_dir / "job.json").read_text())
    sys.path.insert(0, str(job_dir))
    from model import Model, to_anneal, to_torch

    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = device_for(job["device"], local_rank)
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(job["seed"] + rank)
    gen = torch.Generator().manual_seed(job["seed"] + 1000 + rank)
    order_gen = torch.Generator().manual_seed(job["seed"])

    data = load_file(str(job_dir / "data.safetensors"))
    x = torch.from_numpy(data["x"]).reshape(-1, *job["input"])
    y = torch.from_numpy(data["y"]).long()
    n, batch, epochs = len(y), job["batch"], job["epochs"]
    steps = math.ceil(n / batch)
    fill = float(x[:64].min())

    model = Model()
    state = to_torch(load_file(str(job_dir / "init.safetensors")))
    model.load_state_dict(state, strict=False)
    model.to(device)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = optimizer(job, net.parameters())
    losses = torch.zeros(epochs, n)
    if rank == 0:
        say(event="start", torch=torch.__version__, device=str(device.type), world=world,
            threads=torch.get_num_threads())

    for epoch in range(1, epochs + 1):
        started = time.time()
        order = torch.randperm(n, generator=order_gen)
        net.train()
        if rank == 0:
            say(event="epoch_start", epoch=epoch, epochs=epochs, steps=steps)
        total, correct = torch.zeros(2, dtype=torch.float64), 0
        for step in range(steps):
            idx = order[step * batch:(step + 1) * batch]
            mine = idx[rank::world]
            xb = shifted(x[mine], job["shift"], job["time_only"], fill, gen).to(device)
            yb = y[mine].to(device)
            for group in opt.param_groups:
                group["lr"] = learning_rate(job, epoch, step, steps)
            logits = net(xb)
            each = F.cross_entropy(logits, yb, reduction="none")
            # DDP averages gradients over ranks: scaled so the step is the whole batch's mean.
            (each.sum() * world / len(idx)).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            values = each.detach().cpu()
            if not torch.isfinite(values).all():
                say(event="diverged", epoch=epoch, step=step + 1)
                raise SystemExit(3)
            losses[epoch - 1, mine] = values
            total[0] += float(values.sum())
            correct += int((logits.detach().argmax(1) == yb).sum())
            if rank == 0:
                seen = min((step + 1) * batch, n)
                say(event="step", step=step + 1, loss=float(values.mean()), seen=seen)
        total[1] = correct
        if world > 1:
            torch.distributed.all_reduce(total)
        if rank == 0:
            seconds = time.time() - started
            say(event="epoch_end", epoch=epoch, epochs=epochs, loss=float(total[0]) / n,
                accuracy=float(total[1]) / n, seconds=seconds, samples_per_sec=n / max(seconds, 1e-9))

    if world > 1:
        torch.distributed.all_reduce(losses)
    if rank == 0:
        weights = to_anneal(model.state_dict())
        save_file(weights, str(job_dir / "weights.safetensors"))
        save_file({"losses": losses.numpy()}, str(job_dir / "losses.safetensors"))
        (job_dir / "result.json").write_text(json.dumps(
            {"torch": torch.__version__, "device": device.type, "world": world}))
        say(event="done")
    elif local_rank == 0:
        # Another node: its launcher hears that it trained, and that rank 0 holds the weights.
        say(event="done", rank=rank, world=world)
    if world > 1:
        torch.distributed.destroy_process_group()
        leave()


def leave():
    """End a distributed rank without finalizing the interpreter. Gloo's worker threads outlive
    destroy_process_group (DDP still holds the group) and release the last collective's tensors
    after its wait() returns; that release takes the GIL, and once the interpreter is finalizing
    the thread is ended inside a destructor: "terminate called without an active exception",
    SIGABRT, about one run in twelve on a loaded machine. Everything this rank owes is written
    and closed by now, so flush and leave."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
