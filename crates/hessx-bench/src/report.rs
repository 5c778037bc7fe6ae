//! Writing the benchmark results: a Markdown page for people and a Parquet
//! table for tools.

use std::fmt::Write as _;

use anyhow::Result;
use hessx_store::column::{batch_from_columns, write_parquet};
use hessx_store::tables::Row;

use crate::Cli;
use crate::measure::{BenchRow, Results};
use crate::pytorch::{self, PytorchReference};

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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(md, "Command: `hessx-bench {}`; sections not listed below were not run.\n", args.join(" "));
    if let Some(r) = reference {
        let now = pytorch::now_unix();
        let when = if r.is_stale(now) { format!("**{}**", r.when(now)) } else { r.when(now) };
        let _ = writeln!(md, "PyTorch and PyHessian figures: `{}/pytorch.json`. {when}\n", cli.pytorch.display());
    }
    let _ = writeln!(md, "## Targets\n");
    let resnet = "resnet20 3x32x32";
    for backend in &backends {
        if let Some(r) = row(results, backend, resnet, "hvp / pytorch hvp on a retained graph", "ratio") {
            if *backend == "libtorch" {
                let _ = writeln!(md, "- Product on `libtorch` ({}) at most 1.1x PyTorch's product on a retained graph (what PyHessian pays per product): **{:.2}x, {}**.", r.workload, r.value, verdict(r.value <= 1.1));
            }
        }
        if let Some(r) = value(results, backend, resnet, "hvp / gradient", "ratio") {
            let _ = writeln!(md, "- Hessian-vector product at most 2.5x a gradient on `{backend}`: **{r:.2}x, {}**.", verdict(r <= 2.5));
        }
    }
    let versus: Vec<&BenchRow> = results
        .rows
        .iter()
        .filter(|r| r.section == "pyhessian" && r.metric == "time ratio" && r.backend == chosen)
        .collect();
    for r in &versus {
        let equal = value(results, chosen, resnet, &r.method, "accuracy at least PyHessian's (1 = yes)") == Some(1.0);
        let _ = writeln!(
            md,
            "- {}: **{:.0}% of PyHessian's time** for top-5 eigenvalues, trace and density; accuracy at least PyHessian's on all three (worst top-5 error over the seeds, mean half-width of the trace's 95% interval, mean density W1 against the reference; how below): **{}**; at most 20% of the time at that accuracy: **{}**.",
            r.method,
            r.value * 100.0,
            if equal { "yes" } else { "no" },
            verdict(equal && r.value <= 0.2)
        );
    }
    for r in results.rows.iter().filter(|r| r.section == "density-alone" && r.metric == "time ratio" && r.backend == chosen) {
        let equal = value(results, chosen, resnet, &r.method, "W1 at most PyHessian's (1 = yes)") == Some(1.0);
        let _ = writeln!(
            md,
            "- {}: **{:.0}% of `hessian(...)` + `density()`'s time**, W1 at most PyHessian's: **{}**; at most 20% at that accuracy: **{}**.",
            r.method,
            r.value * 100.0,
            if equal { "yes" } else { "no" },
            verdict(equal && r.value <= 0.2)
        );
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
        if let Some(t) = &r.training {
            let _ = writeln!(md, "The weights are trained by the script itself: {} epochs on {} generated images ({}), train accuracy {:.1}%, {:.0} s. A trained network's Hessian has the outliers and bulk that a random initialisation lacks.\n", t.epochs, t.examples, t.data, 100.0 * t.train_accuracy, t.seconds);
        }
        if let Some(mib) = r.peak_rss_mib {
            let _ = writeln!(md, "Peak resident memory of the reference process (PyTorch, PyHessian's three calls included): {mib:.0} MiB; of the hessx benchmark process after its PyHessian comparison: see the memory table.\n");
        }
        let _ = writeln!(md, "On `libtorch` hessx takes products on a retained graph as PyHessian does (libtorch's autograd records burn's forward; one backward per product; `vendor/README.md`). On `flex` products are taken on a retained graph too, through burn's own autodiff patched with a backward that keeps the graph (`vendor/burn-autodiff`); the `nested autodiff` rows are the same product with forward, backward and double backward each time, as before that patch.\n");
        let retained_seconds = |backend: &str| {
            value(results, backend, resnet, "hessian-vector product", "seconds")
                .zip(value(results, backend, resnet, "hessian-vector product, nested autodiff", "seconds"))
        };
        if let Some((ours, nested)) = retained_seconds("libtorch") {
            let _ = writeln!(
                md,
                "**What the retained graph gave.** On `libtorch` a product takes {ours:.3} s on the retained graph against {nested:.3} s by nested autodiff ({:.2}x faster); PyTorch's own retained-graph product takes {:.3} s ({:.2}x ours).\n",
                nested / ours,
                r.hvp_retained_seconds,
                ours / r.hvp_retained_seconds
            );
        }
        if let Some((ours, nested)) = retained_seconds("flex") {
            let _ = writeln!(md, "On `flex` a product takes {ours:.3} s on burn's retained graph against {nested:.3} s by nested autodiff ({:.2}x faster).\n", nested / ours);
        }
    }
    for (section, title) in [
        ("products", "Cost of one product, per backend"),
        ("families", "Cost of one product on the other model families (Wide&Deep, sequence Transformer; the Hessian batches of their profiles)"),
        ("agreement", "Do the backends agree? (same weights, batch and v)"),
        ("pyhessian", "One-pass report vs PyHessian's three calls (ResNet20, end to end, scored against a reference)"),
        ("density-alone", "The density alone vs PyHessian's hessian(...) + density()"),
        ("memory", "Peak memory"),
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
    let _ = writeln!(md, "Reading the agreement table: f32 products from different kernels differ by rounding; relative errors of 1e-6 to 1e-4 are agreement, anything near 1e-2 would be a wrong product. Reading the PyHessian table: every figure of accuracy is measured against the reference row (a long Lanczos run for the top-5, with its residual; a plain Hutchinson run with its standard error for the trace; the mixture of several long SLQ runs from independent probes for the spectral distribution), computed on the same operator by runs that share no probe with the ones scored. Top-5 error is the largest relative error (PyHessian's power iteration against the largest-magnitude eigenvalues it converges to). Trace: hessx's one-pass trace is tr(T) on its Krylov space plus a Hutchinson estimate on the complement from the listed number of probes, with its standard error; PyHessian's standard error is computed from the samples its trace() returns (it reports none). Density: the 1-Wasserstein distance between quadrature distributions, in eigenvalue units. Each hessx and PyHessian density is one probe's quadrature, and most of its W1 is that probe's sampling error, not the number of steps; so each hessx budget is scored from several start vectors (`--versus-seeds`; seed 1 is the timed run, the others untimed), by its worst top-5 error, the mean half-width of its trace's 95% interval (Student's t for the probes less one degrees of freedom; PyHessian's from its trace() samples) and its mean W1. hessx's density is scored as `hx-spectrum` draws it by default: each run's Gauss–Radau rule with a node fixed at 0 (from the same products: it uses the run's last Lanczos coefficient, which the Gauss rule ignores), with deflated weights (each eigenvalue a run resolved gets its exact mass 1/n instead of the probe's random weight); the same runs' Gauss rule with deflated weights (hessx's density before the Radau rule) and with plain weights (PyHessian's estimator) are listed beside it. PyHessian's density accuracy is that of hessx's runs at PyHessian's setting (one probe, 100 steps, plain weights) from the same seeds, PyHessian's own single draw listed beside them; a budget's W1 counts as at least PyHessian's when its mean paired difference to those runs is at most two standard errors above zero. The reference is plain SLQ (Gauss rules, plain weights), so it shares no code with the Radau rule or the deflation it scores. Without a 100-step budget, the mean W1 is held against PyHessian's one draw.\n");
    let _ = writeln!(md, "Reading the trace table: Hutch++ beats Hutchinson only when a few eigenvalues carry most of ||H||_F^2 (a trained network's outliers); on a Hessian with a flat spectrum, such as an MLP at random initialisation, spending a third of the products on a sketch makes it worse. `crates/hessx-pipeline/tests/digits_ground_truth.rs` checks the favourable case on a trained MLP.");
    md
}

fn format_value(v: f64) -> String {
    if v == 0.0 || (1e-2..1e5).contains(&v.abs()) { format!("{v:.3}") } else { format!("{v:.2e}") }
}
