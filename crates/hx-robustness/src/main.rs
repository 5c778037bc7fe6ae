//! `hx-robustness`: accuracy and curvature over every corruption and severity.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use hessx_data::CIFAR10C_CORRUPTIONS;
use hessx_flags::{count, names, positive};
use hessx_pipeline::backend::BackendKind;
use hessx_pipeline::settings::HessianBnMode;
use hessx_pipeline::with_backend;
use hessx_store::{DensityRule, DensityWeights, RunDir};
use hx_robustness::cells::Source;
use hx_robustness::settings::{Finetune, Request, Shard, SweepSettings};

/// Accuracy, top Hessian eigenvalues, trace and spectral density of one trained model on every
/// corruption x severity (plus clean), and how they correlate.
///
/// Each cell corrupts the run's clean test images with one of CIFAR-10-C's 19 corruptions at one
/// severity (hessx computes all of them, after Hendrycks & Dietterich's recipe; frost's texture is
/// procedural, not the recipe's photographs; saturate needs RGB images and is left out on grey
/// ones; for CIFAR-10 the published archive is used where `hx-fetch cifar10c` fetched it), then
/// measures the checkpoint's accuracy and loss on them and, from one stochastic Lanczos pass on a
/// seeded subset, the top eigenvalues, the density and the trace with its standard error.
/// Results go to RUN/robustness/<settings id>/, one table per cell: a killed sweep resumes where it
/// stopped, --shard i/n splits the cells over processes, and when every cell is done the figures
/// and robustness.html are drawn (again with --merge).
#[derive(Parser, Debug)]
#[command(
    version,
    args_override_self = true,
    after_help = "Examples:\n  hx-robustness --run runs/digits-clean\n  \
                  hx-robustness --run runs/r --corruptions gaussian_noise,fog --severities 1,3,5\n  \
                  hx-robustness --run runs/r --shard 0/4   (... 3/4; the last to finish draws the page)\n  \
                  hx-robustness --run runs/r --merge        (redraw from the tables)\n\
                  Flags can also come from a profile: --profile pipelines/robustness-digits.toml (section [robustness])."
)]
struct Cli {
    /// Training run (hx-train's output); the sweep goes to RUN/robustness/.
    #[arg(long)]
    run: PathBuf,
    /// Directory holding the datasets written by hx-fetch.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Checkpoint step to measure (default: the last that did not diverge).
    #[arg(long)]
    step: Option<i64>,
    /// Folder name under RUN/robustness/ (default: the settings fingerprint).
    #[arg(long)]
    name: Option<String>,
    /// Corruptions (comma separated, CIFAR-10-C names); default all 19.
    #[arg(long, value_delimiter = ',', value_parser = names::<String>(&CIFAR10C_CORRUPTIONS))]
    corruptions: Vec<String>,
    /// Severities (comma separated, 1 to 5).
    #[arg(long, value_delimiter = ',', default_values_t = [1u8, 2, 3, 4, 5], value_parser = clap::value_parser!(u8).range(1..=5))]
    severities: Vec<u8>,
    /// Where corrupted images come from: auto (the CIFAR-10-C archive where fetched, else computed), computed or archive.
    #[arg(long, value_enum, default_value_t = Source::Auto)]
    source: Source,
    /// Seed of hessx's corruptions.
    #[arg(long, default_value_t = 0)]
    corruption_seed: u64,
    /// Test images per cell (a seeded subset, the same in every cell); 0 for all.
    #[arg(long, default_value_t = 0)]
    examples: usize,
    /// Of those, the images the Hessian is taken over (PyHessian's 200).
    #[arg(long, default_value_t = 200, value_parser = count)]
    hessian_examples: usize,
    /// Examples per forward pass of the Hessian's loss.
    #[arg(long, default_value_t = 200, value_parser = count)]
    mini_hessian_batch_size: usize,
    /// Batch-norm mode of the Hessian's loss: eval (running statistics, as PyHessian) or train.
    #[arg(long, default_value = "eval", value_parser = names::<HessianBnMode>(&["eval", "train"]))]
    bn_mode: HessianBnMode,
    /// Seed of the image subsets and the random probes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Top eigenvalues per cell.
    #[arg(long, default_value_t = 5, value_parser = count)]
    top_k: usize,
    /// Lanczos steps of each cell's one pass (eigenvalues, density and the trace's Krylov part).
    #[arg(long, default_value_t = 50, value_parser = count)]
    iter: usize,
    /// Eigenpair convergence test: residual <= tol * |lambda|.
    #[arg(long, default_value_t = 1e-3, value_parser = positive)]
    tol: f64,
    /// Hutchinson probes on the complement of the Krylov space (10 or more for an honest standard error).
    #[arg(long, default_value_t = 10, value_parser = count)]
    trace_probes: usize,
    /// Grid points of each density.
    #[arg(long, default_value_t = 400, value_parser = count)]
    num_bins: usize,
    /// Kernel variance per unit of spectrum width (PyHessian's sigma_squared).
    #[arg(long, default_value_t = 1e-5, value_parser = positive)]
    sigma_squared: f64,
    /// Density weights of each cell's density and negative mass: deflated (eigenvalues a run resolved
    /// get their exact mass 1/n; closer from the same products, unless the outlying eigenvalues are
    /// repeated) or plain (the probes' Gauss weights, PyHessian's density()).
    #[arg(long, default_value = "deflated", value_parser = hessx_flags::names::<DensityWeights>(DensityWeights::NAMES))]
    density_weights: DensityWeights,
    /// Quadrature rule of each cell's density and negative mass: radau-zero (the Gauss-Radau rule with
    /// a node fixed at 0, from the same products; closer where most eigenvalues sit near 0, as in a
    /// network's Hessian; see hx-spectrum --density-rule) or gauss (PyHessian's, and sweeps' before
    /// the flag). A loss whose eigenvalues pile up away from 0 (an L2 term shifts them all) should use
    /// gauss.
    #[arg(long, default_value = "radau-zero", value_parser = hessx_flags::names::<DensityRule>(DensityRule::NAMES))]
    density_rule: DensityRule,
    /// Fine-tune the checkpoint this many optimiser steps on each cell's corruption of the clean
    /// training split before measuring the cell (0: measure the trained weights as they are).
    #[arg(long, default_value_t = 0)]
    finetune_steps: usize,
    /// Learning rate of that fine-tune (constant; the run's optimiser, momentum and weight decay).
    #[arg(long, default_value_t = 0.01, value_parser = positive)]
    finetune_lr: f64,
    /// Examples per fine-tuning step.
    #[arg(long, default_value_t = 128, value_parser = count)]
    finetune_batch_size: usize,
    /// Compute only the cells at positions i mod n (0 <= i < n).
    #[arg(long)]
    shard: Option<String>,
    /// Stop after this many new cells (resume later with the same command).
    #[arg(long)]
    max_cells: Option<usize>,
    /// Only draw: figures, correlations and the page of the finished sweep --name (or the run's only sweep).
    #[arg(long)]
    merge: bool,
    /// Don't draw the figures and the page when the sweep is complete.
    #[arg(long)]
    no_plot: bool,
    /// Compute backend.
    #[arg(long, alias = "device", default_value = "flex", value_parser = hessx_flags::backend())]
    backend: BackendKind,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::distributed::stage_main("hx-robustness", run)
}

fn run() -> Result<()> {
    let cli = Cli::parse_from(hessx_profile::args_with_profile("robustness")?);
    if cli.merge {
        let run = RunDir::new(&cli.run);
        let dir = match &cli.name {
            Some(name) => run.robustness(name),
            None => {
                let sweeps = run.robustness_sweeps()?;
                match sweeps.as_slice() {
                    [one] => one.clone(),
                    [] => anyhow::bail!("--merge: {} has no sweep; run hx-robustness --run {} first", run.robustness_dir().display(), cli.run.display()),
                    many => anyhow::bail!(
                        "--merge: {} holds {} sweeps ({}); name one with --name",
                        run.robustness_dir().display(),
                        many.len(),
                        many.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
                    ),
                }
            }
        };
        anyhow::ensure!(dir.settings().is_file(), "--name {}: {} is not a sweep (no settings.toml)", dir.name(), dir.root().display());
        if !hessx_pipeline::distributed::is_writer() {
            return Ok(());
        }
        let page = hx_robustness::page::draw(&dir)?;
        println!("{}", page.display());
        return Ok(());
    }
    let request = resolve(&cli)?;
    let outcome = with_backend!(cli.backend, B, device => {
        hx_robustness::sweep::run_sweep::<B>(&request, &device).map_err(anyhow::Error::from)
    })?;
    println!("{outcome}");
    if outcome.missing > 0 && request.shard.count > 1 {
        println!("{} cell(s) still missing: the other shards compute them; the last to finish draws the page (or run again with --merge)", outcome.missing);
    }
    Ok(())
}

/// Flags into a plain request; the run fills in the checkpoint, dataset and model.
fn resolve(cli: &Cli) -> Result<Request> {
    let explicit = !cli.corruptions.is_empty();
    let corruptions = if explicit { cli.corruptions.clone() } else { CIFAR10C_CORRUPTIONS.iter().map(|c| c.to_string()).collect() };
    let mut severities = cli.severities.clone();
    severities.sort();
    severities.dedup();
    let settings = SweepSettings {
        dataset: String::new(),
        model: String::new(),
        step: 0,
        checkpoint_sha256: String::new(),
        corruptions,
        severities,
        source: cli.source,
        corruption_seed: cli.corruption_seed,
        examples: (cli.examples > 0).then_some(cli.examples),
        hessian_examples: cli.hessian_examples,
        mini_batch_size: cli.mini_hessian_batch_size,
        bn_mode: cli.bn_mode,
        seed: cli.seed,
        top_k: cli.top_k,
        iter: cli.iter,
        tol: cli.tol,
        trace_probes: cli.trace_probes,
        num_bins: cli.num_bins,
        sigma_squared: cli.sigma_squared,
        density_weights: cli.density_weights,
        density_rule: cli.density_rule,
        backend: cli.backend,
        finetune: (cli.finetune_steps > 0).then_some(Finetune { steps: cli.finetune_steps, lr: cli.finetune_lr, batch_size: cli.finetune_batch_size }),
    };
    Ok(Request {
        run: cli.run.clone(),
        data_dir: cli.data_dir.clone(),
        step: cli.step,
        name: cli.name.clone(),
        explicit_corruptions: explicit,
        settings,
        shard: cli.shard.as_deref().map(str::parse::<Shard>).transpose()?.unwrap_or(Shard::WHOLE),
        max_cells: cli.max_cells,
        draw: !cli.no_plot,
    })
}
