# hessx: run `just --list` for the recipes.
set shell := ["bash", "-euo", "pipefail", "-c"]

default_profile := "pipelines/offline.toml"
target := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")
bin := target / "release"
# The Python venv whose torch==2.9.0 wheel provides libtorch for `--backend libtorch`
# (burn-tch 0.21 links tch 0.22, which expects exactly libtorch 2.9).
torch_venv := env_var_or_default("HESSX_TORCH_VENV", home_directory() / ".cache" / "hessx-torch")
# Shell snippet: export LIBTORCH (build time) and LD_LIBRARY_PATH (run time) from the venv.
use_libtorch := 'libtorch=$("' + torch_venv + '/bin/python" -c "import os, torch; print(os.path.dirname(torch.__file__))") && export LIBTORCH="$libtorch" LD_LIBRARY_PATH="$libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"'

# List the recipes.
default:
    @just --list

# Build the stage binaries (release; add `--features cuda` for GPUs).
build *flags:
    cargo build --release --workspace --bins {{flags}}

# Build with the CUDA backend (needs an NVIDIA driver at run time).
build-cuda:
    cargo build --release --workspace --bins --features cuda

# Install torch==2.9.0 (its libtorch, for --backend libtorch) and PyHessian (for the bench reference) into a venv. ~7 GB.
setup-libtorch:
    python3 -m venv "{{torch_venv}}"
    "{{torch_venv}}/bin/pip" install torch==2.9.0 numpy pyhessian
    "{{torch_venv}}/bin/python" -c "import torch; assert torch.__version__.startswith('2.9.'), torch.__version__"

# Build the stage binaries with the LibTorch backend too (`--backend libtorch`; needs `just setup-libtorch` and a C++ compiler).
build-libtorch:
    {{use_libtorch}} && cargo build --release --workspace --bins --features tch

# Check LibTorch's gradients and Hessian-vector products against Flex's (needs `just setup-libtorch`).
test-libtorch:
    {{use_libtorch}} && cargo test --release -p hessx-pipeline --features tch --test libtorch_backend

# Install what the `mpi` feature needs: OpenMPI and libclang (rsmpi generates its bindings with bindgen). Debian/Ubuntu, as root.
setup-mpi:
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenmpi-dev openmpi-bin libclang-dev

# Build the stage binaries with MPI: `mpirun -n N hx-eigen|hx-spectrum ...` shares each Hessian-vector product over N ranks.
build-mpi:
    cargo build --release --workspace --bins --features mpi

# Check 2-rank hx-eigen and hx-spectrum against 1 rank under mpirun (needs `just setup-mpi`).
test-mpi:
    cargo build --workspace --bins --features mpi
    cargo test --workspace --features mpi --test tests -- --ignored mpi::

# Check CUDA's gradients, Hessian-vector products and top eigenvalues against Flex's (needs an NVIDIA GPU).
test-cuda:
    cargo test --release -p hessx-pipeline --features cuda --test cuda_backend -- --nocapture

# Run a whole experiment profile (fetch, train, fine-tune, eigenpairs, trace, density, loss landscapes, analysis) on backend flex, libtorch or cuda.
# HESSX_SKIP_BUILD=1 runs the binaries already in $CARGO_TARGET_DIR/release (built elsewhere, e.g. for a GPU node without Rust).
all profile=default_profile backend="flex":
    #!/usr/bin/env bash
    set -euo pipefail
    build() { if [ "${HESSX_SKIP_BUILD:-0}" = 1 ]; then echo "just all: HESSX_SKIP_BUILD=1: using the binaries in {{bin}}"; else "$@"; fi; }
    case "{{backend}}" in
        flex) build just build ;;
        libtorch) {{use_libtorch}}; build just build-libtorch ;;
        cuda) build just build-cuda ;;
        *) echo "just all: backend '{{backend}}' is not flex, libtorch or cuda" >&2; exit 2 ;;
    esac
    has() { grep -q "^\[$1\]" "{{profile}}"; }
    start=$(date +%s)
    has fetch    && "{{bin}}/hx-fetch"    --profile "{{profile}}" --section fetch
    has fetch-corrupted && "{{bin}}/hx-fetch" --profile "{{profile}}" --section fetch-corrupted
    has pretrain && "{{bin}}/hx-train"    --profile "{{profile}}" --section pretrain --backend {{backend}}
    has finetune && "{{bin}}/hx-train"    --profile "{{profile}}" --section finetune --backend {{backend}}
    has eigen    && "{{bin}}/hx-eigen"    --profile "{{profile}}" --section eigen    --backend {{backend}}
    has spectrum && "{{bin}}/hx-spectrum" --profile "{{profile}}" --section spectrum --backend {{backend}}
    has landscape            && "{{bin}}/hx-landscape" --profile "{{profile}}" --section landscape --backend {{backend}}
    has landscape-eigen      && "{{bin}}/hx-landscape" --profile "{{profile}}" --section landscape-eigen --backend {{backend}}
    has landscape-trajectory && "{{bin}}/hx-landscape" --profile "{{profile}}" --section landscape-trajectory --backend {{backend}}
    has robustness && "{{bin}}/hx-robustness" --profile "{{profile}}" --section robustness --backend {{backend}}
    has robustness-finetuned && "{{bin}}/hx-robustness" --profile "{{profile}}" --section robustness-finetuned --backend {{backend}}
    has analyze  && "{{bin}}/hx-analyze"  --profile "{{profile}}" --section analyze
    echo "just all {{profile}} ({{backend}}): $(( $(date +%s) - start )) s"

# The robustness study offline: train on clean digits, then accuracy and curvature on all corruptions x severities (report: runs/robust-digits/robustness/*/robustness.html).
robustness backend="flex":
    just all pipelines/robustness-digits.toml {{backend}}

# Re-run only the analysis (plots, tables, report) of a run from its saved tables.
analyze run:
    cargo build --release -p hx-analyze
    "{{bin}}/hx-analyze" --run "{{run}}"

# Ask a run's tables a question in SQL, e.g. just query runs/digits-finetune "SELECT * FROM eigenvalues".
query run sql:
    cargo build --release -p hx-query
    "{{bin}}/hx-query" "{{run}}" "{{sql}}"

# Run every test (no network, no GPU needed).
test: check-features
    cargo build --workspace --bins
    cargo test --workspace --no-fail-fast

# Every cargo feature the build recipes name resolves for the whole workspace (cargo tree: no build, so
# LibTorch, CUDA and MPI need not be installed). A member without the feature breaks `--workspace --features`.
check-features:
    @for f in tch cuda mpi; do cargo tree --workspace --features "$f" --depth 0 >/dev/null || { echo "just check-features: --workspace --features $f does not resolve (just build-libtorch, build-cuda, build-mpi use it)" >&2; exit 1; }; done

# Benchmarks (every backend vs PyTorch and PyHessian; estimator costs) into bench/results.md; Flex only without setup-libtorch.
bench *flags:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -x "{{torch_venv}}/bin/python" ]; then
        {{use_libtorch}}
        just build-libtorch
        "{{torch_venv}}/bin/python" bench/pytorch_reference.py --out bench/pytorch
    else
        echo "just bench: no torch venv at {{torch_venv}}: timing Flex only, without the PyTorch reference (see just setup-libtorch)"
        just build
    fi
    "{{bin}}/hessx-bench" --out bench {{flags}}
