//! `hx-train`: train a model from scratch or fine-tune a pretrained one,
//! leaving the checkpoints that `hx-eigen` and `hx-spectrum` analyse.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use hessx_flags::{ModelFlags, at_least, count, fraction, names, non_negative, positive};
use hessx_pipeline::backend::BackendKind;
use hessx_pipeline::batches::{Augment, Normalization};
use hessx_pipeline::train::{OptimizerKind, SharpnessTracking, TrainConfig, train};
use hessx_pipeline::{data_setup, with_backend};
use hessx_store::{DataDir, RunDir, RunIdentity};

/// Train or fine-tune a model, saving checkpoints for the Hessian stages.
///
/// Defaults are those of PyHessian's training.py (batch 128, 180 epochs, lr 0.1
/// decayed x0.1 at epochs 80 and 120, weight decay 5e-4, momentum 0.9, random
/// crop + flip). Fine-tuning as in the CIFAR-10-C experiment: pass pretrained
/// weights with --init (alias --resume), a corruption with --noise-type and
/// --corruption-level, and --save-interval N to checkpoint every N batches.
/// A killed run resumes from its last complete checkpoint when re-run with the
/// same flags.
#[derive(Parser, Debug)]
#[command(version, args_override_self = true, after_help = "Flags can also come from a profile: \
    --profile pipelines/offline.toml [--section finetune] (flags on the command line win).")]
struct Cli {
    /// Run directory to write checkpoints and logs into (created if missing).
    #[arg(long)]
    run: PathBuf,
    /// Directory holding the datasets written by hx-fetch.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Dataset to train on (as fetched by hx-fetch: digits, cifar10, synthetic, ...).
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Train on this corruption of the dataset (e.g. gaussian_noise).
    #[arg(long, alias = "noise-type", value_name = "NAME")]
    corruption: Option<String>,
    /// Corruption severity, 1 to 5.
    #[arg(long, alias = "corruption-level", default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
    severity: u8,
    #[command(flatten)]
    model: ModelFlags,
    /// Initial weights: a hessx checkpoint (.mpk) or a PyTorch state_dict (.pt, .pth, .pkl).
    #[arg(long, alias = "resume", value_name = "FILE")]
    init: Option<PathBuf>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 180, value_parser = count)]
    epochs: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 128, value_parser = count)]
    batch_size: usize,
    /// Initial learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = positive)]
    lr: f64,
    /// Learning-rate decay factor.
    #[arg(long, default_value_t = 0.1, value_parser = positive)]
    lr_decay: f64,
    /// Epochs at which the learning rate decays (repeat the flag or separate by commas).
    #[arg(long = "lr-decay-epoch", value_delimiter = ',', default_values_t = [80, 120])]
    lr_decay_epochs: Vec<usize>,
    /// Weight decay (L2 penalty).
    #[arg(long, default_value_t = 5e-4, value_parser = non_negative)]
    weight_decay: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9, value_parser = fraction)]
    momentum: f64,
    /// Optimiser.
    #[arg(long, default_value = "sgd", value_parser = names::<OptimizerKind>(&OptimizerKind::NAMES))]
    optimizer: OptimizerKind,
    /// Turn off random crop and horizontal flip.
    #[arg(long)]
    no_augment: bool,
    /// Zero padding of the random crop (default: an eighth of the shorter image side, PyHessian's 4 on
    /// 32x32 images, 1 on the 8x8 digits, where 4 would shift most of a digit out of view).
    #[arg(long)]
    crop_padding: Option<usize>,
    /// Save a checkpoint every N batches (default: once per epoch); step 0 and the last step are always saved.
    #[arg(long, value_name = "N", value_parser = count)]
    save_interval: Option<usize>,
    /// Seed of the initial weights, batch order and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of a corrupted test-only dataset (CIFAR-10-C) held out for evaluation.
    #[arg(long, default_value_t = 0.1, value_parser = fraction)]
    heldout_fraction: f64,
    /// Batch size for held-out evaluation.
    #[arg(long, default_value_t = 500, value_parser = count)]
    eval_batch_size: usize,
    /// Every N optimiser steps, estimate the sharpness: the largest Hessian eigenvalue of that step's
    /// mini-batch loss at the weights the step starts from, recorded in train_log.parquet (`sharpness`,
    /// `sharpness_residual`, `sharpness_hvps`, `sharpness_seconds`; NaN / 0 on other steps) and drawn
    /// by hx-analyze against the edge-of-stability threshold 2/lr ((2 + 2 momentum)/lr with momentum).
    /// Estimated on steps 1, N+1, 2N+1, ... by Lanczos warm-started from the previous estimate's
    /// eigenvector, on detached copies of the weights and batch: training takes the same RNG draws and
    /// ends with the same weights bit for bit as without the flag. Batch norm uses the running
    /// statistics (eval mode, as the curvature stages' default `--hessian-bn-mode eval`) and the
    /// estimate never updates them. A resumed run keeps tracking (the settings are saved with the run)
    /// but its first estimate after the resume starts cold, from a random vector. Off by default.
    #[arg(long, value_name = "N", value_parser = count)]
    track_sharpness: Option<usize>,
    /// Hessian-vector products per sharpness estimate (K - 1 Lanczos steps, fewer once converged to
    /// 1e-3, plus one for the explicit residual); needs --track-sharpness.
    #[arg(long, value_name = "K", default_value_t = SharpnessTracking::DEFAULT_HVPS, value_parser = at_least(2), requires = "track_sharpness")]
    sharpness_hvps: usize,
    /// Compute backend: flex (pure Rust, default), libtorch (feature `tch`) or cuda (feature `cuda`).
    #[arg(long, alias = "device", default_value = "flex", value_parser = hessx_flags::backend())]
    backend: BackendKind,
}

fn main() -> std::process::ExitCode {
    hessx_profile::main_wrapper("info", run)
}

fn run() -> Result<()> {
    hessx_pipeline::distributed::refuse_mpi("hx-train", "train in one process")?;
    let cli = Cli::parse_from(hessx_profile::args_with_profile("train")?);
    let data_dir = DataDir::new(&cli.data_dir);
    let corruption = cli.corruption.as_deref().map(|c| (c, cli.severity));
    let data = data_setup::load_train_data(&data_dir, &cli.dataset, corruption, cli.heldout_fraction, cli.seed)?;
    let spec = cli.model.resolve().spec(&data.train)?;
    let run = RunDir::new(&cli.run);
    let identity = RunIdentity::new(
        &run.name(),
        &spec.name(),
        &cli.dataset,
        cli.corruption.as_deref().unwrap_or("none"),
        if cli.corruption.is_some() { cli.severity } else { 0 },
    );
    // Fine-tuning keeps the normalisation the pretrained weights expect.
    let inherited = match cli.init.as_deref() {
        Some(init) => hessx_pipeline::models::normalization_of_init(init)?,
        None => None,
    };
    let normalization = inherited.unwrap_or_else(|| Normalization::for_dataset(&cli.dataset, &data.train));
    let steps_per_epoch = data.train.len().div_ceil(cli.batch_size.max(1));
    let cfg = TrainConfig {
        identity,
        model: spec,
        init: cli.init.clone(),
        normalization,
        epochs: cli.epochs,
        batch_size: cli.batch_size,
        lr: cli.lr,
        lr_decay: cli.lr_decay,
        lr_decay_epochs: cli.lr_decay_epochs.clone(),
        weight_decay: cli.weight_decay,
        momentum: cli.momentum,
        optimizer: cli.optimizer,
        // Crops and flips are image augmentations; other examples train as they are.
        augment: match data.train.images() {
            Some(images) if !cli.no_augment => {
                Some(Augment { padding: cli.crop_padding.unwrap_or_else(|| default_crop_padding(images.shape)), flip: true })
            }
            _ => None,
        },
        save_interval: cli.save_interval.unwrap_or(steps_per_epoch),
        seed: cli.seed,
        eval_batch_size: cli.eval_batch_size,
        heldout_fraction: cli.heldout_fraction,
        sharpness: cli.track_sharpness.map(|every| SharpnessTracking { every, hvps: cli.sharpness_hvps }),
    };
    tracing::info!(
        "training {} on {} ({} train / {} held-out {}), {} epochs of {} steps",
        cfg.model.name(),
        cli.dataset,
        data.train.len(),
        data.heldout.len(),
        data.train.kind(),
        cfg.epochs,
        steps_per_epoch
    );
    let summary = with_backend!(cli.backend, B, device => {
        train::<burn::backend::Autodiff<B>>(&cfg, &data, &run, &device)
    })
    .with_context(|| format!("training run {}", run.root().display()))?;
    match summary.resumed_from {
        Some(step) => tracing::info!("resumed from step {step}"),
        None => tracing::info!("started from step 0"),
    }
    tracing::info!(
        "done: {} steps, {} checkpoints, {:.3} s per step, held-out accuracy {:.2}%",
        summary.total_steps,
        summary.checkpoints,
        summary.seconds_per_step,
        100.0 * summary.final_heldout_accuracy
    );
    Ok(())
}

/// The random crop's padding when `--crop-padding` is not given: an eighth of
/// the shorter side of a `[channels, height, width]` image, at least 1.
fn default_crop_padding(shape: [usize; 3]) -> usize {
    (shape[1].min(shape[2]) / 8).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_crop_padding_scales_with_the_image() {
        assert_eq!(default_crop_padding([3, 32, 32]), 4, "PyHessian's padding on CIFAR");
        assert_eq!(default_crop_padding([1, 8, 8]), 1);
        assert_eq!(default_crop_padding([3, 4, 6]), 1);
        assert_eq!(default_crop_padding([3, 64, 48]), 6);
    }
}
