//! `hessx-bench` (`just bench`): what a Hessian-vector product costs against a
//! gradient, and how many products each estimator needs, written to
//! `bench/results.md` and `bench/results.parquet`.
//!
//! Speed is measured here, never asserted in tests. Three workloads:
//! - *products*: ResNet20 on a CIFAR-shaped batch (default 200, random
//!   pixels, seeded weights): seconds per gradient and per product;
//! - *algorithms*: ResNet20 on a batch of the embedded digits (8x8) where
//!   hundreds of products are affordable: Lanczos vs power iteration, SLQ,
//!   the one-pass mode, against a tight Lanczos reference;
//! - *exact*: an MLP on digits small enough to form the dense Hessian, so
//!   eigenvalue and trace errors are measured against the exact answer.

mod measure;
mod report;

use std::path::PathBuf;

use clap::Parser;
use hessx_pipeline::backend::DeviceKind;
use hessx_pipeline::with_backend;

/// Benchmark gradients, Hessian-vector products and the curvature estimators.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Cli {
    /// Output directory for results.md and results.parquet.
    #[arg(long, default_value = "bench")]
    pub out: PathBuf,
    /// Directory holding the datasets (the embedded digits are used).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Batch size of the CIFAR-shaped product timing.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Timed repetitions (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Number of seeds per trace estimator when measuring its error.
    #[arg(long, default_value_t = 20)]
    pub trace_seeds: u64,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::main_wrapper(|| {
        let cli = Cli::parse();
        let results = with_backend!(cli.device, B, device => measure::run_all::<B>(&cli, &device))?;
        report::write(&cli, &results)
    })
}
