//! `hx-query RUN "SELECT ..."`: SQL over a run directory's tables.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;

/// Query the Parquet tables of a hessx run directory with SQL (Polars).
///
/// Every RUN/*.parquet is a table named after its file (eigenvalues, trace,
/// density, lanczos_nodes, checkpoints, train_log, settings); the eigenvector
/// tables of every settings together form the table `eigenvectors`; RUN/analysis/*.parquet (written by
/// hx-analyze) are tables named after their files; the loss surfaces of
/// hx-landscape (RUN/landscape/NAME/) form landscape_surface,
/// landscape_directions, landscape_trajectory and landscape_curvature, one
/// surface per `fingerprint`. Use --tables to list them
/// with their columns. The result is printed (set POLARS_FMT_MAX_ROWS=-1 to
/// print every row) or written with --csv / --parquet.
///
/// Every curvature row carries `settings_id`, the fingerprint of the settings
/// that computed it; join `settings` on it to see them.
///
/// Example: hx-query runs/r1 "SELECT step, rank, eigenvalue FROM eigenvalues WHERE rank < 3 ORDER BY step"
#[derive(Debug, Parser)]
#[command(name = "hx-query", version, about, long_about)]
struct Args {
    /// Run directory.
    run: PathBuf,
    /// SQL query (Polars SQL dialect).
    query: Option<String>,
    /// List the tables with their columns and types, then exit.
    #[arg(long)]
    tables: bool,
    /// Write the result to this CSV file instead of printing it (`-`: stdout;
    /// a symbolic link is followed, a FIFO or device written through).
    #[arg(long, value_name = "FILE", conflicts_with = "parquet")]
    csv: Option<PathBuf>,
    /// Write the result to this Parquet file instead of printing it (targets as for --csv).
    #[arg(long, value_name = "FILE")]
    parquet: Option<PathBuf>,
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    // A closed pipe (`| head`) surfaces as an io::Error here; main_wrapper ends quietly on it.
    let mut stdout = std::io::stdout().lock();
    let mut catalog = hx_query::Catalog::open(&args.run)
        .with_context(|| format!("opening run directory {}", args.run.display()))?;
    if args.tables {
        for t in catalog.tables() {
            let files = if t.files.len() == 1 {
                t.files[0].display().to_string()
            } else {
                format!("{} files", t.files.len())
            };
            writeln!(stdout, "{} ({files})", t.name)?;
            for (c, ty) in &t.columns {
                writeln!(stdout, "    {c}: {ty}")?;
            }
        }
        return Ok(());
    }
    let Some(query) = &args.query else {
        bail!(
            "no query given: pass a SQL query after the run directory, or --tables to list what can be queried"
        );
    };
    let mut df = catalog.query(query)?;
    if let Some(path) = &args.csv {
        hx_query::write_csv(&mut df, path)?;
        tracing::info!(rows = df.height(), "written to {}", path.display());
    } else if let Some(path) = &args.parquet {
        hx_query::write_parquet(&mut df, path)?;
    } else {
        writeln!(stdout, "{df}")?;
    }
    stdout.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    hessx_profile::main_wrapper("warn", run)
}
