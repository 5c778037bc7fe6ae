//! Writing the benchmark results: a Markdown page for people and a Parquet
//! table for tools.

use std::fmt::Write as _;

use anyhow::Result;
use hessx_store::column::{batch_from_columns, write_parquet};
use hessx_store::tables::Row;

use crate::Cli;
use crate::measure::{BenchRow, Results};
use crate::pytorch::PytorchReference;

/// Write `results.md` and `results.parquet` into `cli.out`.
pub fn write(cli: &Cli, results: &Results, reference: Option<&PytorchReference>) -> Result<()> {
    let batch = batch_from_columns(BenchRow::columns(&results.rows))?;
    write_parquet(&cli.out.join("results.parquet"), &[batch])?;
    hessx_store::write_bytes_atomic(&cli.out.join("results.md"), markdown(cli, results, reference).as_bytes())?;
    println!("wrote {} and results.parquet", cli.out.join("results.md").display());
    Ok(())
}

fn row<'a>(results: &'a Results, backend: &str, workload_prefix: &str, method: &str, metric: &str) -> Option<&'a BenchRow> {
    results
        .rows
        .iter()
        .find(|r| r.backend == backend && r.workload.starts_with(workload_prefix) && r.method == method && r.metric == metric)
}

fn value(results: &Results, backend: &str, workload_prefix: &str, method: &str, metric: &str) -> Option<f64> {
    row(results, backend, workload_prefix, method, metric).map(|r| r.value)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

fn markdown(cli: &Cli, results: &Results, reference: Option<&PytorchReference>) -> String {
    let mut md = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let chosen = results.chosen.as_str();
    let backends: Vec<&str> = cli.backends.iter().map(|b| b.name()).collect();
    let _ = writeln!(md, "# hessx benchmark results\n");
    let _ = writeln!(
        md,
        "Written by `just bench` (`hessx-bench`). Backends timed: {}; estimators on `{chosen}`; {cores} hardware threads; median of {} runs after a warm-up. Product workload: {}.\n",
        backends.iter().map(|b| format!("`{b}`")).collect::<Vec<_>>().join(", "),
        cli.repeats,
        results.workload_origin
    );
    let _ = writeln!(md, "## Targets\n");
    let resnet = "resnet20 3x32x32";
    if let Some(r) = row(results, chosen, resnet, "hvp / pytorch hvp on a retained graph", "ratio") {
        let _ = writeln!(md, "- Product on `{chosen}` ({}) within 2x of PyTorch's double backward on a retained graph (what PyHessian pays per product): **{:.2}x, {}**.", r.workload, r.value, verdict(r.value <= 2.0));
    }
    if let Some(r) = value(results, chosen, resnet, "hessx one-pass / PyHessian", "time ratio") {
        let _ = writeln!(md, "- One-pass report (top-5 eigenvalues, trace, density) faster end to end than PyHessian's three calls on the same weights and batch: **{:.0}% of PyHessian's time, {}**.", r * 100.0, verdict(r < 1.0));
    }
    if let Some(r) = value(results, chosen, resnet, "hvp / gradient", "ratio") {
        let _ = writeln!(md, "- Hessian-vector product at most 3x a gradient on `{chosen}`: **{r:.2}x, {}**.", verdict(r <= 3.0));
    }
    for w in ["resnet20 1x8x8", "mlp"] {
        if let (Some(l), Some(p), Some(e)) = (
            value(results, chosen, w, "lanczos top-5", "hvps"),
            value(results, chosen, w, "power top-5 (largest |lambda|)", "hvps"),
            value(results, chosen, w, "lanczos top-5", "max relative error"),
        ) {
            let _ = writeln!(md, "- Top-5 eigenvalues at 1e-3 relative accuracy with at most a third of the power method's products ({w}): Lanczos {l:.0} vs power {p:.0} products, Lanczos error {e:.1e}: **{}**.", verdict(l * 3.0 <= p && e <= 1e-3));
        }
    }
    let _ = writeln!(md);
    if let Some(r) = reference {
        let _ = writeln!(md, "## PyTorch reference (same machine, same weights and batch)\n");
        let _ = writeln!(md, "Measured by `bench/pytorch_reference.py`: PyTorch {} on {} threads, ResNet20 (PyHessian's layout, {} parameters), batch {}, BN in eval mode.\n", r.torch, r.threads, r.parameters, r.batch);
        let _ = writeln!(md, "| forward | gradient | HVP from scratch (forward + backward + double backward) | HVP on a retained graph (PyHessian) |\n|---|---|---|---|");
        let _ = writeln!(md, "| {:.3} s | {:.3} s | {:.3} s | {:.3} s |\n", r.forward_seconds, r.gradient_seconds, r.hvp_from_scratch_seconds, r.hvp_retained_seconds);
        let _ = writeln!(md, "burn has no retain-graph option (`backward()` consumes the graph), so every hessx product pays for the forward and the first backward again: the from-scratch column is the like-for-like one, the retained-graph column is what the target is set against.\n");
        if let Some(ours) = value(results, chosen, resnet, "hessian-vector product", "seconds") {
            let _ = writeln!(
                md,
                "**What limits it.** On `{chosen}` a product takes {ours:.2} s, {:.2}x PyTorch's own from-scratch product ({:.2} s): the kernels are at PyTorch's level. The remaining factor to the retained-graph product ({:.2} s) is the forward and first backward that burn redoes for every product, and PyTorch pays the same when it does not keep its graph ({:.2}x). Closing it takes a retain-graph backward in burn-autodiff (upstream: tracel-ai/burn pull request 5043, open, which makes the backward steps borrow instead of consume), not faster kernels.\n",
                ours / r.hvp_from_scratch_seconds,
                r.hvp_from_scratch_seconds,
                r.hvp_retained_seconds,
                r.hvp_from_scratch_seconds / r.hvp_retained_seconds
            );
        }
    }
    for (section, title) in [
        ("products", "Cost of one product, per backend"),
        ("agreement", "Do the backends agree? (same weights, batch and v)"),
        ("pyhessian", "One-pass report vs PyHessian's three calls (ResNet20, end to end)"),
        ("eigen", "Top eigenvalues: Lanczos vs power iteration (tol 1e-3)"),
        ("exact", "Dense ground truth"),
        ("trace", "Trace: Hutchinson vs Hutch++ at equal products"),
        ("density", "Spectral density (stochastic Lanczos quadrature)"),
        ("one-pass", "One pass vs PyHessian's three calls, counted on the same operator"),
    ] {
        let rows: Vec<&BenchRow> = results.rows.iter().filter(|r| r.section == section).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {title}\n\n| backend | workload | method | metric | value |\n|---|---|---|---|---|");
        for r in rows {
            let _ = writeln!(md, "| {} | {} | {} | {} | {} |", r.backend, r.workload, r.method, r.metric, format_value(r.value));
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "Backends not built into hessx: Candle, NdArray with OpenBLAS, and the cubecl CPU backend were timed on this workload once (`shared/notes/cpu-backends.md`): Candle is no faster than Flex, NdArray is several times slower (its transposed convolution is a scalar loop), and cubecl-cpu does not build without downloading an LLVM bundle from GitHub.\n");
    let _ = writeln!(md, "Reading the agreement table: f32 products from different kernels differ by rounding; relative errors of 1e-6 to 1e-4 are agreement, anything near 1e-2 would be a wrong product. Reading the PyHessian table: both run their estimators on random vectors, so the trace estimates differ by their sampling error (PyHessian's Hutchinson stops at a relative change below 1e-3, hessx's SLQ trace uses one probe); power iteration converges to the eigenvalues of largest magnitude, Lanczos to the algebraically largest.\n");
    let _ = writeln!(md, "Reading the trace table: Hutch++ beats Hutchinson only when a few eigenvalues carry most of ||H||_F^2 (a trained network's outliers); on a Hessian with a flat spectrum, such as an MLP at random initialisation, spending a third of the products on a sketch makes it worse. `crates/hessx-pipeline/tests/digits_ground_truth.rs` checks the favourable case on a trained MLP.");
    md
}

fn format_value(v: f64) -> String {
    if v == 0.0 || (1e-2..1e5).contains(&v.abs()) { format!("{v:.3}") } else { format!("{v:.2e}") }
}
