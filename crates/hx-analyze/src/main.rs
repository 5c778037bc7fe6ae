//! `hx-analyze RUN`: eigenvector analysis, figures and report of one run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hessx_store::RunDir;

/// Analyse the Hessian eigenvectors saved in a run directory: PCA of all
/// eigenvectors of all checkpoints, |cosine| between them, overlap of the
/// top-r subspaces between checkpoints, eigenvalues tracked by direction,
/// and curves of eigenvalues, trace, spectral density, loss and accuracy.
/// Where hx-eigen --which smallest|both computed the bottom end, also the
/// most negative eigenvalue and |lambda_min| / lambda_max per checkpoint
/// (analysis/negative_curvature.parquet); the eigenvector analysis always
/// uses the top vectors.
///
/// Reads RUN/eigenvectors/<settings>/step-*.parquet, eigenvalues.parquet,
/// trace.parquet, density.parquet, checkpoints.parquet, train_log.parquet
/// and config/*.toml (each optional; what is missing is skipped and named in
/// the report). Writes RUN/plots/*.png and *.svg, the tables behind them as
/// RUN/analysis/*.parquet (open them with hx-query or Polars) and
/// RUN/report.html, a single self-contained page.
#[derive(Debug, Parser)]
#[command(name = "hx-analyze", version, about, long_about, args_override_self = true,
    after_help = "Flags can also come from a profile: --profile pipelines/offline.toml (section [analyze]).")]
struct Args {
    /// Run directory written by hx-train / hx-eigen / hx-spectrum.
    #[arg(required_unless_present = "run_flag")]
    run: Option<PathBuf>,
    /// The run directory, as a flag (what profiles use).
    #[arg(long = "run", value_name = "RUN", conflicts_with = "run")]
    run_flag: Option<PathBuf>,
    /// Centred PCA (mean eigenvector removed, as sklearn's). It depends on the
    /// arbitrary signs of the eigenvectors; the default, uncentred PCA (the
    /// second moment of the eigenvectors), does not.
    #[arg(long, conflicts_with = "uncentered")]
    centered: bool,
    /// Uncentred, sign-invariant PCA: the default, kept so older command
    /// lines and profiles still run.
    #[arg(long, hide = true)]
    uncentered: bool,
    /// Compare the subspaces spanned by the top R eigenvectors of each
    /// checkpoint [default: all eigenvectors that every checkpoint has].
    #[arg(long, short = 'r', value_name = "R", value_parser = clap::value_parser!(u32).range(1..))]
    rank: Option<u32>,
    /// Threads for the Gram matrix of the eigenvectors [default: all cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Show the curvature results computed with these settings (the
    /// `settings_id` column; repeatable, one for the eigenpairs and one for
    /// trace and density) when a run holds several [default: the eigenpairs
    /// of the most trusted method covering most checkpoints, and the
    /// densities covering most checkpoints]. The eigenvectors analysed are
    /// always those of the eigenvalues shown.
    #[arg(long, value_name = "ID")]
    settings: Vec<String>,
    /// Print only warnings and errors.
    #[arg(long, short)]
    quiet: bool,
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse_from(hessx_profile::args_with_profile("analyze")?);
    let run_dir = args.run.clone().or(args.run_flag.clone()).expect("clap requires RUN or --run");
    if args.quiet {
        hessx_profile::quiet();
    }
    let mut opts = hx_analyze::Options {
        centered: args.centered,
        overlap_rank: args.rank.map(|r| r as usize),
        settings: args.settings.clone(),
        ..Default::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t as usize;
    }
    let run = RunDir::new(&run_dir);
    let start = std::time::Instant::now();
    let summary = hx_analyze::analyze(&run, &opts)
        .with_context(|| format!("analysing run directory {}", run_dir.display()))?;
    for (k, v) in &summary.key_numbers {
        tracing::info!("{k}: {v}");
    }
    for n in &summary.notes {
        tracing::warn!("not shown: {n}");
    }
    tracing::info!(
        figures = summary.figures.len(),
        tables = summary.tables.len(),
        seconds = start.elapsed().as_secs_f64(),
        "report written to {}",
        summary.report.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    hessx_profile::main_wrapper("info", run)
}
