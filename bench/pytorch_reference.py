#!/usr/bin/env python3
"""PyTorch and PyHessian reference figures for `just bench`.

Builds a ResNet20 with PyHessian's layout and parameter names (CIFAR option B:
1x1 convolution + BN shortcuts, `downsample.0` / `downsample.1`), trains it a
few epochs on generated CIFAR-shaped data (class templates plus noise, made
here from the seed; a trained network's Hessian has the outliers and bulk that
a random initialisation lacks), takes a batch of that data, and measures on the
CPU, with the same thread count as the hessx benchmark (or, with --device
cuda, on the GPU, synchronising before every clock read):

- forward, gradient, Hessian-vector product from scratch (forward, backward
  with create_graph, double backward: what every burn product costs), and the
  product on a retained graph (what PyHessian pays per product);
- PyHessian's three calls, as its README runs them, end to end:
  `hessian(...)`, `eigenvalues(top_n=5)`, `trace()`, `density()`, counting
  products;
  PyHessian's own outputs are kept for the accuracy comparison: its top-5
  eigenvalues, its trace samples (for a standard error) and its density's
  quadrature nodes and weights (for the 1-Wasserstein distance);
- peak resident memory of this process (PyHessian's included);
- order-free check values for hessx to compare against: the loss, |g|,
  g'Hg/|g|^2 and |Hg|/|g| for the gradient g.

It writes, atomically, into --out:
  resnet20.pt  the state_dict (torch.save zip format; hessx loads it with
               its PyTorch importer, so both sides use the same weights)
  x.npy, y.npy the batch (float32 NCHW inputs, already normalised; int64 labels)
  pytorch.json the figures

Run with the torch==2.9.0 venv of `just setup-libtorch`:
  ~/.cache/hessx-torch/bin/python bench/pytorch_reference.py --out bench/pytorch
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """Basic residual block: conv-bn-relu-conv-bn (+ shortcut), relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNet20(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for stage, width in enumerate([16, 32, 64], start=1):
            blocks = []
            for b in range(3):
                blocks.append(Block(cin, width, 2 if (stage > 1 and b == 0) else 1))
                cin = width
            setattr(self, "layer%d" % stage, nn.ModuleList(blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for layer in (self.layer1, self.layer2, self.layer3):
            for block in layer:
                x = block(x)
        return self.fc(x.mean(dim=(2, 3)))


def generated_cifar(n, seed):
    """n CIFAR-shaped images in 10 classes: a smooth random template per class, a random brightness, and
    per-pixel noise strong enough that the classes overlap (so training neither fails nor saturates)."""
    g = torch.Generator().manual_seed(seed + 1)
    coarse = torch.randn(10, 3, 4, 4, generator=g)
    templates = F.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    y = torch.randint(0, 10, (n,), generator=g)
    brightness = 0.5 + torch.rand(n, 1, 1, 1, generator=g)
    x = brightness * templates[y] + 1.5 * torch.randn(n, 3, 32, 32, generator=g)
    x = (x - x.mean()) / x.std()
    return x, y


def train(model, x, y, epochs, batch, seed):
    """SGD with momentum, as PyHessian's training.py (lr 0.1 scaled down for the short schedule)."""
    g = torch.Generator().manual_seed(seed + 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    crit = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            crit(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sync():
    """Wait for queued GPU work, so that a clock read after it counts it (a no-op on the CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_seconds(repeats, f):
    f()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def atomic_write(path, write):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="tmp_", suffix="_" + os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/pytorch", help="output directory")
    ap.add_argument("--batch", type=int, default=200, help="batch size (default 200)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repetitions after a warm-up; the median is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-pyhessian", action="store_true", help="only the per-product timings")
    ap.add_argument("--train-examples", type=int, default=4000, help="generated training images (default 4000)")
    ap.add_argument("--epochs", type=int, default=4, help="training epochs before the Hessian is taken (default 4; 0: random init)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train and time (default cpu)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: this torch sees no CUDA device")
    device = torch.device(args.device)
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = ResNet20().to(device)
    data_x, data_y = generated_cifar(args.train_examples, args.seed)
    data_x, data_y = data_x.to(device), data_y.to(device)
    start = time.perf_counter()
    train_accuracy = train(model, data_x, data_y, args.epochs, 128, args.seed)
    train_seconds = time.perf_counter() - start
    # The Hessian batch: the first examples of a seeded permutation of the training data.
    pick = torch.randperm(len(data_y), generator=torch.Generator().manual_seed(args.seed + 3))[: args.batch].to(device)
    x, y = data_x[pick].contiguous(), data_y[pick].contiguous()
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    crit = nn.CrossEntropyLoss()

    atomic_write(os.path.join(args.out, "resnet20.pt"), lambda p: torch.save(model.state_dict(), p))
    atomic_write(os.path.join(args.out, "x.npy"), lambda p: np.save(open(p, "wb"), x.cpu().numpy().astype(np.float32)))
    atomic_write(os.path.join(args.out, "y.npy"), lambda p: np.save(open(p, "wb"), y.cpu().numpy().astype(np.int64)))

    def forward():
        with torch.no_grad():
            model(x)

    def gradient():
        return torch.autograd.grad(crit(model(x), y), params)

    def hvp_from_scratch(v):
        g = torch.autograd.grad(crit(model(x), y), params, create_graph=True)
        return torch.autograd.grad(g, params, grad_outputs=v)

    v = [torch.randint_like(p, high=2) * 2 - 1 for p in params]
    g_kept = torch.autograd.grad(crit(model(x), y), params, create_graph=True)

    def hvp_retained():
        return torch.autograd.grad(g_kept, params, grad_outputs=v, retain_graph=True)

    fig = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "parameters": sum(p.numel() for p in params),
        "training": {
            "examples": args.train_examples,
            "epochs": args.epochs,
            "train_accuracy": train_accuracy,
            "seconds": train_seconds,
            "data": "generated: smooth class templates x random brightness + N(0, 1.5^2) noise, standardised",
        },
        "forward_seconds": median_seconds(args.repeats, forward),
        "gradient_seconds": median_seconds(args.repeats, gradient),
        "hvp_from_scratch_seconds": median_seconds(args.repeats, lambda: hvp_from_scratch(v)),
        "hvp_retained_seconds": median_seconds(args.repeats, hvp_retained),
    }

    # Order-free check values: v = g itself.
    loss = crit(model(x), y)
    g = torch.autograd.grad(loss, params, create_graph=True)
    gd = [t.detach() for t in g]
    hg = torch.autograd.grad(g, params, grad_outputs=gd)
    gnorm2 = sum(float((t * t).sum()) for t in gd)
    fig["check"] = {
        "loss": loss.item(),
        "grad_norm": gnorm2 ** 0.5,
        "gHg_over_gg": sum(float((a * b).sum()) for a, b in zip(gd, hg)) / gnorm2,
        "Hg_norm_over_g_norm": sum(float((t * t).sum()) for t in hg) ** 0.5 / gnorm2 ** 0.5,
    }

    if not args.skip_pyhessian:
        fig["pyhessian"] = run_pyhessian(model, crit, x, y, args.device == "cuda")
    fig["peak_rss_mib"] = peak_rss_mib()
    # When: hessx-bench says how old these times are next to its own (a drifting machine).
    fig["measured_unix"] = time.time()
    fig["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(fig["measured_unix"]))

    atomic_write(os.path.join(args.out, "pytorch.json"), lambda p: open(p, "w").write(json.dumps(fig, indent=2) + "\n"))
    print(json.dumps(fig, indent=2))


def pyhessian_module():
    """PyHessian's hessian module, runnable on torch 2.x."""
    import sys

    import pyhessian  # noqa: F401  (its __init__ shadows the module name with the class)

    # PyPI's pyhessian 0.1 calls torch.eig, which torch 2.x keeps only to
    # raise. T is symmetric tridiagonal, so eigh gives what eig gave (the
    # real parts in column 0 of the values).
    def eig(t, eigenvectors=True):
        w, q = torch.linalg.eigh(t)
        return torch.stack([w, torch.zeros_like(w)], dim=1), q

    torch.eig = eig
    return sys.modules["pyhessian.hessian"]


def run_pyhessian(model, crit, x, y, cuda):
    """PyHessian's three calls, end to end, with its defaults and top_n=5."""
    ph = pyhessian_module()
    count = {"hvps": 0}
    product = ph.hessian_vector_product

    def counted(gradsH, params, v):
        count["hvps"] += 1
        return product(gradsH, params, v)

    ph.hessian_vector_product = counted
    out = {}
    start = time.perf_counter()
    comp = ph.hessian(model, crit, data=(x, y), cuda=cuda)
    sync()
    out["setup_seconds"] = time.perf_counter() - start
    t = time.perf_counter()
    eig, _ = comp.eigenvalues(top_n=5)
    sync()
    out["eigenvalues"] = {"seconds": time.perf_counter() - t, "hvps": count["hvps"], "values": [float(e) for e in eig]}
    before, t = count["hvps"], time.perf_counter()
    tr = comp.trace()
    sync()
    samples = [float(s) for s in tr]
    out["trace"] = {
        "seconds": time.perf_counter() - t,
        "hvps": count["hvps"] - before,
        "estimate": float(np.mean(samples)),
        # PyHessian reports no error bar; its samples give one.
        "std_error": float(np.std(samples, ddof=1) / np.sqrt(len(samples))) if len(samples) > 1 else float("nan"),
        "samples": samples,
    }
    before, t = count["hvps"], time.perf_counter()
    nodes, weights = comp.density()
    sync()
    out["density"] = {
        "seconds": time.perf_counter() - t,
        "hvps": count["hvps"] - before,
        "nodes": [[float(v) for v in run] for run in nodes],
        "weights": [[float(v) for v in run] for run in weights],
    }
    out["total_seconds"] = time.perf_counter() - start
    out["total_hvps"] = count["hvps"]
    return out


if __name__ == "__main__":
    main()
