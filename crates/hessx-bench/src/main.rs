//! `hessx-bench` (`just bench`): what a Hessian-vector product costs on each
//! backend, against a gradient and against PyTorch; how many products each
//! estimator needs; and the one-pass report against PyHessian. Written to
//! `bench/results.md` and `bench/results.parquet`.
//!
//! Speed is measured here, never asserted in tests. The workloads:
//! - *products*: ResNet20 on a CIFAR-shaped batch (default 200) on every
//!   backend in `--backends`, on the same weights and batch (those of the
//!   PyTorch reference when `bench/pytorch_reference.py` has run), with the
//!   products checked against the first backend and against PyTorch;
//! - *pyhessian*: the one-pass report on that workload against PyHessian's
//!   three calls, and the density alone against PyHessian's `density()`, on
//!   the last backend of `--backends`, each scored from several seeds
//!   against a long reference on the same operator (`versus.rs`; only when
//!   the reference script has run PyHessian);
//! - *algorithms*: ResNet20 on a batch of the embedded digits (8x8) where
//!   hundreds of products are affordable: Lanczos vs power iteration, SLQ,
//!   the one-pass mode, against a tight Lanczos reference;
//! - *exact*: an MLP on digits small enough to form the dense Hessian, so
//!   eigenvalue and trace errors are measured against the exact answer.

mod families;
mod measure;
mod products;
mod pytorch;
mod report;
mod versus;
mod workload;

use std::path::PathBuf;

use clap::Parser;
use hessx_pipeline::backend::BackendKind;
use hessx_pipeline::with_backend;

use crate::measure::Recorder;
use crate::pytorch::PytorchReference;
use crate::workload::ProductWorkload;

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
    /// Backends to time, comma separated (default: every one built in). The
    /// first is the reference for agreement; the estimators and the PyHessian
    /// comparison run on the last.
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<BackendKind>,
    /// Output of `bench/pytorch_reference.py` (pytorch.json, resnet20.pt,
    /// x.npy, y.npy). When it is missing, seeded weights and batch are used
    /// and no PyTorch comparison is made.
    #[arg(long, default_value = "bench/pytorch")]
    pub pytorch: PathBuf,
    /// Batch size of the product timing when there is no PyTorch reference.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Timed repetitions (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Number of seeds per trace estimator when measuring its error.
    #[arg(long, default_value_t = 20)]
    pub trace_seeds: u64,
    /// Skip the one-pass vs PyHessian comparison (several hundred products of ResNet20 at batch 200).
    #[arg(long)]
    pub skip_one_pass: bool,
    /// Lanczos budgets of the hessx runs compared with PyHessian, comma separated. 100 is PyHessian's
    /// density setting (its runs from the same seeds stand for PyHessian's density accuracy); 20 is the
    /// shortest budget that matched it on the trained ResNet20 (top-5 error 4e-6; the Gauss-Radau
    /// density's W1 within two standard errors of the 100-step runs', bench/versus/results.md).
    #[arg(long, value_delimiter = ',', default_values_t = [20usize, 100])]
    pub versus_iters: Vec<usize>,
    /// Start vectors each budget's accuracy is measured from (seed 1 is the timed run; the others are
    /// extra, untimed runs of the same budget). Ten, because most of one probe's density W1 is that
    /// probe's sampling error: the paired comparison with the 100-step runs needs several seeds.
    #[arg(long, default_value_t = 10)]
    pub versus_seeds: u64,
    /// Complement probes of the one-pass trace in that comparison (at least 2). 4 by measurement: on the
    /// trained ResNet20, 4 probes give a 95 % interval of +-30 on average over ten seeds (Student's t, 3
    /// degrees of freedom) against +-157 for PyHessian's trace(); 10 gave +-16 for 6 more products
    /// (bench/versus/results.md, whole-process.md).
    #[arg(long, default_value_t = 4, value_parser = hessx_flags::at_least(2))]
    pub versus_trace_probes: usize,
    /// Lanczos steps of each reference run (the top-5 and density the comparison scores against); at
    /// least twice every budget of `--versus-iters`, or W1 favours the budget nearest the reference's length.
    #[arg(long, default_value_t = 300)]
    pub reference_iter: usize,
    /// Independent SLQ runs averaged into the reference spectral distribution.
    #[arg(long, default_value_t = 3)]
    pub reference_runs: usize,
    /// Probes of the reference trace (plain Hutchinson).
    #[arg(long, default_value_t = 200)]
    pub reference_trace_probes: usize,
    /// Only the per-backend product timings and agreement checks (a minute or two).
    #[arg(long)]
    pub products_only: bool,
    /// Skip the estimator benchmarks on the embedded digits (Lanczos vs power, traces, dense truth).
    #[arg(long)]
    pub skip_estimators: bool,
    /// Only run hessx's one-pass report once with this many Lanczos steps (and --versus-trace-probes) on
    /// the last backend, print its time and exit: the hessx side of a whole-process comparison with
    /// `bench/pyhessian_calls.py` under `farm-bench --vs`, which pairs the two in turn on a drifting machine.
    #[arg(long, value_name = "ITER")]
    pub one_pass_once: Option<usize>,
    /// Only run hessx's density alone once with this many Lanczos steps on the last backend, print its time
    /// and exit: the hessx side of a whole-process comparison with `bench/pyhessian_calls.py --density-only`.
    #[arg(long, value_name = "ITER", conflicts_with = "one_pass_once")]
    pub density_once: Option<usize>,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::profile::main_wrapper("info", || {
        let mut cli = Cli::parse();
        if cli.backends.is_empty() {
            cli.backends = BackendKind::available().into_iter().filter(|k| *k != BackendKind::Cuda).collect();
        }
        let reference = PytorchReference::load(&cli.pytorch)?;
        let workload = match &reference {
            Some(_) => ProductWorkload::from_pytorch(&cli.pytorch)?,
            None => ProductWorkload::seeded(cli.batch)?,
        };
        tracing::info!("product workload: {}, {}", workload.name, workload.origin);
        if let Some(r) = &reference {
            let now = pytorch::now_unix();
            let when = format!("{}/pytorch.json: {}", cli.pytorch.display(), r.when(now));
            // An unrecorded time warns too: it may be another hour's.
            if r.age_seconds(now).is_none() || r.is_stale(now) {
                tracing::warn!("{when}");
            } else {
                tracing::info!("{when}");
            }
        }
        if let Some(iter) = cli.one_pass_once {
            let kind = *cli.backends.last().expect("at least one backend");
            return with_backend!(kind, B, device => versus::one_pass_once::<B>(&workload, iter, cli.versus_trace_probes, &device));
        }
        if let Some(iter) = cli.density_once {
            let kind = *cli.backends.last().expect("at least one backend");
            return with_backend!(kind, B, device => versus::density_once::<B>(&workload, iter, &device));
        }
        let mut rec = Recorder::new();
        let mut baseline = None;
        for &kind in &cli.backends {
            rec.set_backend(kind.name());
            with_backend!(kind, B, device => products::backend_products::<B>(
                &mut rec, &workload, cli.repeats, &mut baseline, reference.as_ref(), &device))?;
        }
        let chosen = *cli.backends.last().expect("at least one backend");
        rec.set_backend(chosen.name());
        with_backend!(chosen, B, device => families::family_products::<B>(&mut rec, cli.repeats, &device))?;
        let pyhessian = reference.as_ref().and_then(|r| r.pyhessian.as_ref());
        if !cli.skip_one_pass && !cli.products_only && pyhessian.is_none() {
            // Its seeds and long reference cost about 2,000 products: not spent without PyHessian's side.
            tracing::info!(
                "no PyHessian results in {}: the one-pass vs PyHessian comparison is skipped (run bench/pytorch_reference.py without --skip-pyhessian)",
                cli.pytorch.display()
            );
        }
        if let (false, false, Some(py)) = (cli.skip_one_pass, cli.products_only, pyhessian) {
            let cfg = versus::VersusConfig {
                iters: cli.versus_iters.clone(),
                trace_probes: cli.versus_trace_probes,
                seeds: cli.versus_seeds,
                reference_iter: cli.reference_iter,
                reference_runs: cli.reference_runs,
                reference_trace_probes: cli.reference_trace_probes,
            };
            with_backend!(chosen, B, device => versus::versus_pyhessian::<B>(&mut rec, &workload, py, &cfg, &device))?;
            rec.add("memory", &workload.name, "hessx-bench process", "peak RSS MiB", measure::peak_rss_mib());
        }
        if !cli.products_only && !cli.skip_estimators {
            with_backend!(chosen, B, device => measure::estimators::<B>(&mut rec, &cli, &device))?;
        }
        let results = measure::Results { rows: rec.rows, workload_origin: workload.origin.clone(), chosen: chosen.name().into() };
        report::write(&cli, &results, reference.as_ref())
    })
}
