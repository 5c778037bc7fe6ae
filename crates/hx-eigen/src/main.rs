//! `hx-eigen`: the top Hessian eigenpairs at every checkpoint of a training run.

use std::time::Instant;

use anyhow::Result;
use burn::prelude::*;
use clap::Parser;
use hessx_hessian::{EigenResult, LanczosConfig, PowerConfig, SymOp, lanczos_top_k, power_iteration};
use hessx_pipeline::curvature::{EigenRecord, HessianArgs, RunContext, checkpoint_hessian, existing_rows, write_eigen_result};
use hessx_pipeline::with_backend;
use hessx_store::tables::EigenvalueRow;
use serde::{Deserialize, Serialize};

/// Compute the top-k Hessian eigenvalues and eigenvectors at each checkpoint.
///
/// The Hessian is that of the mean cross-entropy over a fixed batch of
/// --hessian-batch-size training examples (or the whole split with
/// --full-dataset), with batch norm in eval mode as in PyHessian. Products
/// are exact (nested automatic differentiation). Checkpoints already in
/// eigenvalues.parquet for the same method are skipped.
#[derive(Parser, Debug)]
#[command(version, args_override_self = true, after_help = "Flags can also come from a profile: --profile pipelines/offline.toml (section [eigen]).")]
struct Cli {
    #[command(flatten)]
    hessian: HessianArgs,
    /// Number of top eigenpairs.
    #[arg(long = "top-k", alias = "r", default_value_t = 5)]
    top_k: usize,
    /// Lanczos with full reorthogonalisation, or PyHessian's power iteration with deflation.
    #[arg(long, value_enum, default_value_t = Method::Lanczos)]
    method: Method,
    /// Convergence tolerance: residual <= tol * |eigenvalue| (Lanczos), relative change (power).
    #[arg(long, default_value_t = 1e-3)]
    tol: f64,
    /// Lanczos: maximum Krylov steps; power: maximum products per eigenpair.
    #[arg(long, default_value_t = 100)]
    max_iter: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
enum Method {
    Lanczos,
    Power,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Lanczos => "lanczos",
            Method::Power => "power",
        }
    }
}

#[derive(Serialize)]
struct SavedConfig<'a> {
    hessian: &'a HessianArgs,
    top_k: usize,
    method: Method,
    tol: f64,
    max_iter: usize,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::main_wrapper(run)
}

fn run() -> Result<()> {
    let cli = Cli::parse_from(hessx_pipeline::profile::args_with_profile("eigen")?);
    anyhow::ensure!(cli.top_k > 0, "--top-k must be at least 1");
    let ctx = RunContext::open(&cli.hessian)?;
    hessx_pipeline::config::save_stage_config(
        &ctx.run,
        "eigen",
        &SavedConfig { hessian: &cli.hessian, top_k: cli.top_k, method: cli.method, tol: cli.tol, max_iter: cli.max_iter },
    )?;
    with_backend!(cli.hessian.backend, B, device => eigen::<B>(&cli, &ctx, &device))
}

fn eigen<B: Backend>(cli: &Cli, ctx: &RunContext, device: &B::Device) -> Result<()> {
    let method = cli.method.name();
    let done: Vec<EigenvalueRow> = existing_rows(&ctx.run.eigenvalues())?;
    let todo: Vec<_> = ctx
        .checkpoints
        .iter()
        .filter(|c| !(done.iter().any(|r| r.step == c.step && r.method == method) && ctx.run.eigenvectors(c.step).exists()))
        .collect();
    if todo.is_empty() {
        tracing::info!("all {} selected checkpoints already have {method} eigenpairs", ctx.checkpoints.len());
        return Ok(());
    }
    let indices = ctx.hessian_indices(&cli.hessian);
    tracing::info!(
        "{} of {} checkpoints to do; Hessian over {} examples; top {} by {method}",
        todo.len(),
        ctx.checkpoints.len(),
        indices.len(),
        cli.top_k
    );
    let bar = indicatif::ProgressBar::new(todo.len() as u64);
    let (mut total_hvps, started) = (0u64, Instant::now());
    let batches = ctx.hessian_batches::<B>(&cli.hessian, &indices, device);
    for (i, checkpoint) in todo.iter().enumerate() {
        let t0 = Instant::now();
        let mut op = checkpoint_hessian::<B>(ctx, &cli.hessian, checkpoint, batches.clone(), device)?;
        let result = solve(cli, &mut op)?;
        let seconds = t0.elapsed().as_secs_f64();
        let hvps = result.hvps;
        total_hvps += hvps;
        let record = EigenRecord { step: checkpoint.step, method, hvps, seconds, num_params: op.dim(), replace_vectors: true };
        write_eigen_result(ctx, &result, &record)?;
        let shown: Vec<String> = result.values.iter().map(|v| format!("{v:.4}")).collect();
        bar.suspend(|| tracing::info!(
            "checkpoint {}/{} (step {}): eigenvalues [{}], max residual/|lambda| {:.1e}, {hvps} products, {seconds:.1} s ({:.2} s/product)",
            i + 1,
            todo.len(),
            checkpoint.step,
            shown.join(", "),
            result.residuals.iter().zip(&result.values).map(|(r, v)| r / v.abs().max(1e-30)).fold(0.0, f64::max),
            op.seconds_per_hvp(),
        ));
        if !result.all_converged() {
            tracing::warn!("step {}: not every eigenpair met tol {} within {} iterations", checkpoint.step, cli.tol, cli.max_iter);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    tracing::info!("done: {total_hvps} Hessian-vector products in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn solve<O: SymOp>(cli: &Cli, op: &mut O) -> Result<EigenResult<O::V>> {
    Ok(match cli.method {
        Method::Lanczos => lanczos_top_k(
            op,
            &LanczosConfig { k: cli.top_k, max_iter: cli.max_iter, tol: cli.tol, seed: cli.hessian.seed, verify: true },
        )?,
        Method::Power => power_iteration(
            op,
            &PowerConfig { top_n: cli.top_k, max_iter: cli.max_iter, tol: cli.tol, seed: cli.hessian.seed, verify: true },
        )?,
    })
}
