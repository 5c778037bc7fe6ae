#!/usr/bin/env bash
# The GPU check of hessx (issue 17), as one script for a machine with an NVIDIA GPU, PyTorch and
# PyHessian, and binaries built elsewhere with `--features cuda` (such machines often have no Rust):
#
#   bench/gpu-check.sh OUT TEST_BINARY
#
# - TEST_BINARY: the `cuda_backend` test of hessx-pipeline (`cargo test --release -p hessx-pipeline
#   --features cuda --test cuda_backend --no-run` prints its path): gradients, products and top
#   eigenvalues on CUDA against Flex;
# - for batches of 200 and 1000 CIFAR-shaped images: bench/pytorch_reference.py on the GPU (PyTorch's
#   gradient and products, PyHessian's three calls), then hessx-bench on flex (the agreement
#   reference) and cuda, on the same weights and batch, scored against the same references;
# - `just all pipelines/offline.toml cuda` end to end, with the binaries in $CARGO_TARGET_DIR/release.
#
# Each step has its own time limit, so that one hang leaves the others' results; step times go to
# OUT/steps.txt, each step's log to OUT/logs/.
set -uo pipefail
out=${1:?usage: bench/gpu-check.sh OUT TEST_BINARY}
test_binary=${2:?usage: bench/gpu-check.sh OUT TEST_BINARY}
bin=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$out/logs"

step() {
    local name=$1 limit=$2
    shift 2
    local start rc
    start=$(date +%s%N)
    echo "== $name: $*"
    timeout "$limit" "$@" >"$out/logs/$name.log" 2>&1
    rc=$?
    printf '%-12s rc=%-3d %7.1f s\n' "$name" "$rc" "$(( ($(date +%s%N) - start) / 1000000 ))e-3" | tee -a "$out/steps.txt"
    tail -n 25 "$out/logs/$name.log"
    return 0
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
step tests 180 "$test_binary" --nocapture --test-threads=1
step torch200 150 python3 bench/pytorch_reference.py --device cuda --batch 200 --out "$out/torch200"
step bench200 240 "$bin/hessx-bench" --backends flex,cuda --pytorch "$out/torch200" --out "$out/bench200" --skip-estimators
step pipeline 300 env HESSX_SKIP_BUILD=1 just all pipelines/offline.toml cuda
step torch1000 150 python3 bench/pytorch_reference.py --device cuda --batch 1000 --out "$out/torch1000"
step bench1000 240 "$bin/hessx-bench" --backends cuda --pytorch "$out/torch1000" --out "$out/bench1000" --skip-estimators --versus-iters 100
