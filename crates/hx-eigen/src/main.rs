//! `hx-eigen`: the top (or bottom, both, largest-magnitude: `--which`) Hessian eigenpairs at every
//! checkpoint of a training run.

use anyhow::Result;
use clap::Parser;
use hessx_flags::{HessianFlags, count, names, positive};
use hessx_pipeline::eigen::run_eigen;
use hessx_pipeline::settings::{EigenSettings, check_which};
use hessx_pipeline::with_backend;
use hessx_store::{EigenMethod, Which};

/// Compute the top-k (or bottom-k, --which) Hessian eigenvalues and eigenvectors at each checkpoint.
///
/// The Hessian is that of the mean cross-entropy over a fixed batch of
/// --hessian-batch-size training examples (or the whole split with
/// --full-dataset), with batch norm in eval mode as in PyHessian. Products
/// are exact (nested automatic differentiation). Every row carries the
/// fingerprint of its settings (settings_id; full settings in
/// settings.parquet): a checkpoint is skipped only when it has results with
/// the same settings, and new settings add rows beside the old ones.
#[derive(Parser, Debug)]
#[command(version, args_override_self = true, after_help = "Flags can also come from a profile: --profile pipelines/offline.toml (section [eigen]).")]
struct Cli {
    #[command(flatten)]
    hessian: HessianFlags,
    /// Number of top eigenpairs.
    #[arg(long = "top-k", alias = "r", default_value_t = 5, value_parser = count)]
    top_k: usize,
    /// Lanczos with full reorthogonalisation, or PyHessian's power iteration with deflation.
    #[arg(long, default_value = "lanczos", value_parser = names::<EigenMethod>(&["lanczos", "power"]))]
    method: EigenMethod,
    /// Convergence tolerance: residual <= tol * |eigenvalue| (Lanczos), relative change (power).
    #[arg(long, default_value_t = 1e-3, value_parser = positive)]
    tol: f64,
    /// Lanczos: maximum Krylov steps; power: maximum products per eigenpair.
    #[arg(long, default_value_t = 100, value_parser = count)]
    max_iter: usize,
    /// Which end of the spectrum: the k algebraically largest eigenvalues, the k smallest (most negative
    /// first), both ends from one Lanczos run (no second solve), or the k of largest |eigenvalue|
    /// (PyHessian's notion). --method power supports only largest and magnitude.
    #[arg(long, default_value = "largest", value_parser = names::<Which>(Which::NAMES))]
    which: Which,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::distributed::stage_main("hx-eigen", run)
}

fn run() -> Result<()> {
    let cli = Cli::parse_from(hessx_profile::args_with_profile("eigen")?);
    check_which(cli.method, cli.which)?;
    let ctx = cli.hessian.open()?;
    let settings = EigenSettings {
        hessian: cli.hessian.resolve(&ctx),
        method: cli.method,
        top_k: cli.top_k,
        tol: cli.tol,
        max_iter: cli.max_iter,
        which: cli.which,
    };
    let blocks = cli.hessian.resolve_blocks(&ctx)?;
    let all = std::iter::once(settings.clone()).chain(blocks.into_iter().map(|hessian| EigenSettings { hessian, ..settings.clone() }));
    for settings in all {
        with_backend!(settings.hessian.backend, B, device => run_eigen::<B>(&ctx, &settings, cli.hessian.redo(), &device))?;
    }
    Ok(())
}
