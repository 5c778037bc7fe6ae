# hessx: run `just --list` for the recipes.
set shell := ["bash", "-euo", "pipefail", "-c"]

default_profile := "pipelines/offline.toml"
target := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")
bin := target / "release"

# List the recipes.
default:
    @just --list

# Build the stage binaries (release; add `--features cuda` for GPUs).
build *flags:
    cargo build --release --workspace --bins {{flags}}

# Build with the CUDA backend (needs an NVIDIA driver at run time).
build-cuda:
    cargo build --release --workspace --bins --features cuda

# Run a whole experiment profile: fetch, train, fine-tune, eigenpairs, trace and density, analysis, report.
all profile=default_profile: build
    #!/usr/bin/env bash
    set -euo pipefail
    has() { grep -q "^\[$1\]" "{{profile}}"; }
    start=$(date +%s)
    has fetch    && "{{bin}}/hx-fetch"    --profile "{{profile}}" --section fetch
    has pretrain && "{{bin}}/hx-train"    --profile "{{profile}}" --section pretrain
    has finetune && "{{bin}}/hx-train"    --profile "{{profile}}" --section finetune
    has eigen    && "{{bin}}/hx-eigen"    --profile "{{profile}}" --section eigen
    has spectrum && "{{bin}}/hx-spectrum" --profile "{{profile}}" --section spectrum
    has analyze  && "{{bin}}/hx-analyze"  --profile "{{profile}}" --section analyze
    echo "just all {{profile}}: $(( $(date +%s) - start )) s"

# Re-run only the analysis (plots, tables, report) of a run from its saved tables.
analyze run:
    cargo build --release -p hx-analyze
    "{{bin}}/hx-analyze" --run "{{run}}"

# Ask a run's tables a question in SQL, e.g. just query runs/digits-finetune "SELECT * FROM eigenvalues".
query run sql:
    cargo build --release -p hx-query
    "{{bin}}/hx-query" "{{run}}" "{{sql}}"

# Run every test (no network, no GPU needed).
test:
    cargo build --workspace --bins
    cargo test --workspace --no-fail-fast

# Benchmarks: seconds per gradient and per Hessian-vector product, eigen/trace/density costs; writes bench/results.md.
bench *flags:
    cargo build --release -p hessx-bench
    "{{bin}}/hessx-bench" --out bench {{flags}}
