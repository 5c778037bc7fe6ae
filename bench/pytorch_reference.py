#!/usr/bin/env python3
"""PyTorch and PyHessian reference figures for `just bench`.

Builds a ResNet20 with PyHessian's layout and parameter names (CIFAR option B:
1x1 convolution + BN shortcuts, `downsample.0` / `downsample.1`), a batch of
CIFAR-shaped inputs, and measures on the CPU, with the same thread count as the
hessx benchmark:

- forward, gradient, Hessian-vector product from scratch (forward, backward
  with create_graph, double backward: what every burn product costs), and the
  product on a retained graph (what PyHessian pays per product);
- PyHessian's three calls, as its README runs them, end to end:
  `hessian(...)`, `eigenvalues(top_n=5)`, `trace()`, `density()`, counting
  products;
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


def median_seconds(repeats, f):
    f()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
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
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = ResNet20()
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    # Non-trivial running statistics, so eval-mode BN is not the identity.
    with torch.no_grad():
        model.train()
        for _ in range(5):
            model(x + 0.5 * torch.randn_like(x))
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    crit = nn.CrossEntropyLoss()

    atomic_write(os.path.join(args.out, "resnet20.pt"), lambda p: torch.save(model.state_dict(), p))
    atomic_write(os.path.join(args.out, "x.npy"), lambda p: np.save(open(p, "wb"), x.numpy().astype(np.float32)))
    atomic_write(os.path.join(args.out, "y.npy"), lambda p: np.save(open(p, "wb"), y.numpy().astype(np.int64)))

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
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "parameters": sum(p.numel() for p in params),
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
        fig["pyhessian"] = run_pyhessian(model, crit, x, y)

    atomic_write(os.path.join(args.out, "pytorch.json"), lambda p: open(p, "w").write(json.dumps(fig, indent=2) + "\n"))
    print(json.dumps(fig, indent=2))


def run_pyhessian(model, crit, x, y):
    """PyHessian's three calls, end to end, with its defaults and top_n=5."""
    import sys

    import pyhessian  # noqa: F401  (its __init__ shadows the module name with the class)

    ph = sys.modules["pyhessian.hessian"]

    # PyPI's pyhessian 0.1 calls torch.eig, which torch 2.x keeps only to
    # raise. T is symmetric tridiagonal, so eigh gives what eig gave (the
    # real parts in column 0 of the values).
    def eig(t, eigenvectors=True):
        w, q = torch.linalg.eigh(t)
        return torch.stack([w, torch.zeros_like(w)], dim=1), q

    torch.eig = eig

    count = {"hvps": 0}
    product = ph.hessian_vector_product

    def counted(gradsH, params, v):
        count["hvps"] += 1
        return product(gradsH, params, v)

    ph.hessian_vector_product = counted
    out = {}
    start = time.perf_counter()
    comp = ph.hessian(model, crit, data=(x, y), cuda=False)
    out["setup_seconds"] = time.perf_counter() - start
    t = time.perf_counter()
    eig, _ = comp.eigenvalues(top_n=5)
    out["eigenvalues"] = {"seconds": time.perf_counter() - t, "hvps": count["hvps"], "values": [float(e) for e in eig]}
    before, t = count["hvps"], time.perf_counter()
    tr = comp.trace()
    out["trace"] = {"seconds": time.perf_counter() - t, "hvps": count["hvps"] - before, "estimate": float(np.mean(tr))}
    before, t = count["hvps"], time.perf_counter()
    comp.density()
    out["density"] = {"seconds": time.perf_counter() - t, "hvps": count["hvps"] - before}
    out["total_seconds"] = time.perf_counter() - start
    out["total_hvps"] = count["hvps"]
    return out


if __name__ == "__main__":
    main()
