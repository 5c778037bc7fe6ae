//! `hx-spectrum`: Hessian trace and eigenvalue spectral density at every
//! checkpoint of a training run.

use std::time::Instant;

use anyhow::Result;
use burn::prelude::*;
use clap::Parser;
use hessx_hessian::{
    HutchinsonConfig, HutchppConfig, OnePassConfig, SlqConfig, SlqRuns, SymOp, TraceResult, density, hutchinson, hutchpp,
    one_pass, pyhessian_grid, slq, slq_trace,
};
use hessx_pipeline::curvature::{EigenRecord, HessianArgs, RunContext, checkpoint_hessian, existing_rows, merge_rows, write_eigen_result};
use hessx_pipeline::with_backend;
use hessx_store::tables::{DensityRow, EigenvalueRow, QuadratureRow, TraceRow};
use serde::{Deserialize, Serialize};

/// Estimate the Hessian trace and eigenvalue spectral density (ESD) at each checkpoint.
///
/// The density comes from stochastic Lanczos quadrature (Ghorbani et al.
/// 2019, PyHessian's density()): --n-v runs of --iter Lanczos steps, each
/// giving Gauss quadrature nodes and weights (saved in lanczos_nodes.parquet,
/// so densities can be redrawn without new products), smoothed with a
/// Gaussian kernel on PyHessian's grid. The trace comes for free from the same
/// runs (slq), or from Hutchinson's or Hutch++'s estimator with their own
/// products. --one-pass also reports the top eigenpairs from the same runs.
#[derive(Parser, Debug)]
#[command(version, args_override_self = true, after_help = "Flags can also come from a profile: --profile pipelines/offline.toml (section [spectrum]).")]
struct Cli {
    #[command(flatten)]
    hessian: HessianArgs,
    /// Lanczos steps per quadrature run (PyHessian's iter).
    #[arg(long, default_value_t = 100)]
    iter: usize,
    /// Number of random probes / quadrature runs (PyHessian's n_v).
    #[arg(long = "n-v", default_value_t = 1)]
    n_v: usize,
    /// Grid points of the density (PyHessian: 10000).
    #[arg(long, default_value_t = 10_000)]
    num_bins: usize,
    /// Kernel variance per unit of spectrum width (PyHessian's sigma_squared).
    #[arg(long, default_value_t = 1e-5)]
    sigma_squared: f64,
    /// Trace estimators to run (repeatable): slq (free), hutchinson, hutchpp, or none.
    #[arg(long, value_enum, default_values_t = [TraceMethod::Slq])]
    trace: Vec<TraceMethod>,
    /// Product budget of hutchinson (maximum probes) and of hutchpp.
    #[arg(long, default_value_t = 100)]
    trace_hvps: usize,
    /// Hutchinson stops when its standard error <= tol * |estimate|.
    #[arg(long, default_value_t = 1e-3)]
    trace_tol: f64,
    /// Also write the top eigenpairs of the first quadrature run (method "one-pass").
    #[arg(long)]
    one_pass: bool,
    /// Eigenpairs reported by --one-pass.
    #[arg(long = "top-k", alias = "r", default_value_t = 5)]
    top_k: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
enum TraceMethod {
    Slq,
    Hutchinson,
    Hutchpp,
    None,
}

impl TraceMethod {
    fn name(self) -> &'static str {
        match self {
            TraceMethod::Slq => "slq",
            TraceMethod::Hutchinson => "hutchinson",
            TraceMethod::Hutchpp => "hutchpp",
            TraceMethod::None => "none",
        }
    }
}

#[derive(Serialize)]
struct SavedConfig<'a> {
    hessian: &'a HessianArgs,
    iter: usize,
    n_v: usize,
    num_bins: usize,
    sigma_squared: f64,
    trace: &'a [TraceMethod],
    trace_hvps: usize,
    trace_tol: f64,
    one_pass: bool,
    top_k: usize,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::main_wrapper(run)
}

fn run() -> Result<()> {
    let mut cli = Cli::parse_from(hessx_pipeline::profile::args_with_profile("spectrum")?);
    cli.trace.retain(|t| *t != TraceMethod::None);
    cli.trace.dedup();
    anyhow::ensure!(cli.iter >= 2 && cli.n_v >= 1, "--iter must be at least 2 and --n-v at least 1");
    let ctx = RunContext::open(&cli.hessian)?;
    hessx_pipeline::config::save_stage_config(
        &ctx.run,
        "spectrum",
        &SavedConfig {
            hessian: &cli.hessian,
            iter: cli.iter,
            n_v: cli.n_v,
            num_bins: cli.num_bins,
            sigma_squared: cli.sigma_squared,
            trace: &cli.trace,
            trace_hvps: cli.trace_hvps,
            trace_tol: cli.trace_tol,
            one_pass: cli.one_pass,
            top_k: cli.top_k,
        },
    )?;
    with_backend!(cli.hessian.backend, B, device => spectrum::<B>(&cli, &ctx, &device))
}

fn spectrum<B: Backend>(cli: &Cli, ctx: &RunContext, device: &B::Device) -> Result<()> {
    let densities: Vec<DensityRow> = existing_rows(&ctx.run.density())?;
    let traces: Vec<TraceRow> = existing_rows(&ctx.run.trace())?;
    let eigen: Vec<EigenvalueRow> = existing_rows(&ctx.run.eigenvalues())?;
    let done = |step: i64| {
        densities.iter().any(|d| d.step == step)
            && cli.trace.iter().all(|t| traces.iter().any(|r| r.step == step && r.method == t.name()))
            && (!cli.one_pass || eigen.iter().any(|r| r.step == step && r.method == "one-pass"))
    };
    let todo: Vec<_> = ctx.checkpoints.iter().filter(|c| !done(c.step)).collect();
    if todo.is_empty() {
        tracing::info!("all {} selected checkpoints already have a density and the requested traces", ctx.checkpoints.len());
        return Ok(());
    }
    let indices = ctx.hessian_indices(&cli.hessian);
    tracing::info!(
        "{} of {} checkpoints to do; Hessian over {} examples; SLQ iter {} x n_v {}; trace: {:?}",
        todo.len(),
        ctx.checkpoints.len(),
        indices.len(),
        cli.iter,
        cli.n_v,
        cli.trace
    );
    let bar = indicatif::ProgressBar::new(todo.len() as u64);
    let started = Instant::now();
    let mut total_hvps = 0;
    let batches = ctx.hessian_batches::<B>(&cli.hessian, &indices, device);
    for (i, checkpoint) in todo.iter().enumerate() {
        let step = checkpoint.step;
        let mut op = checkpoint_hessian::<B>(ctx, &cli.hessian, checkpoint, batches.clone(), device)?;
        // Every estimator draws its own probe stream of the seed at each checkpoint (ProbeStream::derived),
        // so traces from different methods or checkpoints agree as independent measurements.
        let stream = u64::try_from(step)?;
        let slq_cfg = SlqConfig { iter: cli.iter, n_v: cli.n_v, seed: cli.hessian.seed, step: stream, ..Default::default() };
        let t0 = Instant::now();
        let runs: SlqRuns = if cli.one_pass {
            let cfg = OnePassConfig { slq: slq_cfg, k: cli.top_k, tol: 1e-3, verify: true, ..Default::default() };
            let result = one_pass(&mut op, &cfg)?;
            // The eigenvector table of a step is shared with hx-eigen; one-pass
            // vectors only fill it when no dedicated solve wrote it.
            let record = EigenRecord {
                step,
                method: "one-pass",
                hvps: result.runs.hvps + result.eigen.hvps,
                seconds: t0.elapsed().as_secs_f64(),
                num_params: op.dim(),
                replace_vectors: false,
            };
            write_eigen_result(ctx, &result.eigen, &record)?;
            result.runs
        } else {
            slq(&mut op, &slq_cfg)?
        };
        let (grid, kernel_variance) = pyhessian_grid(&runs.runs, cli.num_bins, cli.sigma_squared, 0.01);
        let values = density(&runs.runs, &grid, kernel_variance)?;
        let sigma = kernel_variance.sqrt();
        let density_rows: Vec<DensityRow> =
            grid.iter().zip(&values).map(|(&lambda, &density)| DensityRow { step, lambda, density, sigma }).collect();
        let nodes: Vec<QuadratureRow> = runs
            .runs
            .iter()
            .enumerate()
            .flat_map(|(probe, r)| {
                r.nodes.iter().zip(&r.weights).map(move |(&node, &weight)| QuadratureRow { step, probe: probe as u32, node, weight })
            })
            .collect();
        let mut trace_rows = Vec::new();
        for method in &cli.trace {
            let result: TraceResult = match method {
                TraceMethod::Slq => TraceResult { hvps: runs.hvps, seconds: runs.seconds, ..slq_trace(&runs) },
                TraceMethod::Hutchinson => hutchinson(
                    &mut op,
                    &HutchinsonConfig { max_probes: cli.trace_hvps, tol: cli.trace_tol, seed: cli.hessian.seed, step: stream },
                )?,
                TraceMethod::Hutchpp => {
                    hutchpp(&mut op, &HutchppConfig { num_hvps: cli.trace_hvps, seed: cli.hessian.seed, step: stream })?
                }
                TraceMethod::None => continue,
            };
            trace_rows.push(TraceRow {
                step,
                method: method.name().into(),
                estimate: result.estimate,
                std_error: result.std_error,
                probes: result.probes as i64,
                hvps: result.hvps as i64,
                seconds: result.seconds,
            });
        }
        merge_rows(&ctx.run.quadrature(), &ctx.identity, &nodes, |r: &QuadratureRow| r.step == step)?;
        merge_rows(&ctx.run.density(), &ctx.identity, &density_rows, |r: &DensityRow| r.step == step)?;
        if !trace_rows.is_empty() {
            let methods: Vec<String> = trace_rows.iter().map(|r| r.method.clone()).collect();
            merge_rows(&ctx.run.trace(), &ctx.identity, &trace_rows, |r: &TraceRow| r.step == step && methods.contains(&r.method))?;
        }
        total_hvps += op.hvps();
        let traces: Vec<String> =
            trace_rows.iter().map(|r| format!("{} {:.4} ± {:.4}", r.method, r.estimate, r.std_error)).collect();
        let top = runs.runs.first().and_then(|r| r.nodes.first()).copied().unwrap_or(f64::NAN);
        bar.suspend(|| tracing::info!(
            "checkpoint {}/{} (step {step}): largest Ritz value {top:.4}, trace {}, {} products, {:.1} s ({:.2} s/product)",
            i + 1,
            todo.len(),
            if traces.is_empty() { "not computed".into() } else { traces.join(", ") },
            op.hvps(),
            t0.elapsed().as_secs_f64(),
            op.seconds_per_hvp()
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    tracing::info!("done: {total_hvps} Hessian-vector products in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
