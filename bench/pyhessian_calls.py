"""PyHessian's three calls (eigenvalues(top_n=5), trace(), density()) once, on the weights and batch that
bench/pytorch_reference.py wrote, timed from the loaded weights to the three results and printed.

The PyHessian side of a whole-process comparison with `hessx-bench --one-pass-once ITER` (with
--density-only, of `hessx-bench --density-once ITER`) under `farm-bench --vs`, which runs the two in
turn so that a drifting machine slows both alike:

    farm-bench -n 4 --timeout 1800 -- hessx-bench --backends libtorch --one-pass-once 30 \
        --vs "python bench/pyhessian_calls.py"
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import ResNet20, pyhessian_module, run_pyhessian  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pytorch", default="bench/pytorch", help="output of bench/pytorch_reference.py (resnet20.pt, x.npy, y.npy)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument(
        "--density-only",
        action="store_true",
        help="only hessian(...) and density() at its defaults: the side of `hessx-bench --density-once ITER`",
    )
    args = ap.parse_args()
    for name in ("resnet20.pt", "x.npy", "y.npy"):
        if not os.path.isfile(os.path.join(args.pytorch, name)):
            ap.error(f"--pytorch {args.pytorch}: no {name}; run bench/pytorch_reference.py first")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = ResNet20()
    model.load_state_dict(torch.load(os.path.join(args.pytorch, "resnet20.pt")))
    model.eval()
    x = torch.from_numpy(np.load(os.path.join(args.pytorch, "x.npy")))
    y = torch.from_numpy(np.load(os.path.join(args.pytorch, "y.npy")))
    if args.density_only:
        comp = pyhessian_module().hessian(model, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        nodes, _ = comp.density()
        print(f"PyHessian density: {time.perf_counter() - start:.3f} s, {len(nodes[0])} nodes")
        return
    out = run_pyhessian(model, nn.CrossEntropyLoss(), x, y, False)
    print(
        f"PyHessian eigenvalues + trace + density: {time.perf_counter() - start:.3f} s, {out['total_hvps']} products; "
        f"top eigenvalue {out['eigenvalues']['values'][0]:.4f}, trace {out['trace']['estimate']:.2f}"
    )


if __name__ == "__main__":
    main()
