//! What determines a sweep's numbers (fingerprinted, saved as
//! `settings.toml`) and how this process takes part in it (not fingerprinted).

use std::path::PathBuf;

use hessx_pipeline::backend::BackendKind;
use hessx_pipeline::settings::{HessianBnMode, fingerprint};
use hessx_store::{DensityRule, DensityWeights, Stage};
use serde::{Deserialize, Serialize};

use crate::cells::Source;
use crate::{Error, Result};

/// Everything that determines a sweep's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSettings {
    /// The training run's dataset.
    pub dataset: String,
    /// The model's name.
    pub model: String,
    /// Step of the checkpoint measured.
    pub step: i64,
    /// SHA-256 of that checkpoint's file (a retrained run is another sweep).
    pub checkpoint_sha256: String,
    /// Corruptions swept (CIFAR-10-C names), in order.
    pub corruptions: Vec<String>,
    /// Severities swept, ascending.
    pub severities: Vec<u8>,
    /// Where corrupted images come from.
    pub source: Source,
    /// Seed of hessx's corruptions.
    pub corruption_seed: u64,
    /// Test images each cell is measured on (a seeded subset, the same in every cell); `None`: all.
    pub examples: Option<usize>,
    /// Of those, the examples the Hessian is taken over.
    pub hessian_examples: usize,
    /// Examples per forward pass of the Hessian's loss.
    pub mini_batch_size: usize,
    /// Batch-norm mode of the Hessian's loss.
    pub bn_mode: HessianBnMode,
    /// Seed of the subsets and the random probes.
    pub seed: u64,
    /// Top eigenvalues per cell.
    pub top_k: usize,
    /// Lanczos steps of the one pass that gives eigenvalues, density and trace.
    pub iter: usize,
    /// Convergence test of the eigenpairs, `residual <= tol * |lambda|`.
    pub tol: f64,
    /// Hutchinson probes on the complement of the Krylov space (the trace's standard error).
    pub trace_probes: usize,
    /// Grid points of each density.
    pub num_bins: usize,
    /// Kernel variance per unit of spectrum width (PyHessian's `sigma_squared`).
    pub sigma_squared: f64,
    /// The weights each cell's density and negative mass are drawn with. Sweeps from before the field
    /// used the probes' (plain) weights; plain is left out of the fingerprinted JSON, so their
    /// fingerprints stay as they were.
    #[serde(default, skip_serializing_if = "DensityWeights::is_plain")]
    pub density_weights: DensityWeights,
    /// The quadrature rule each cell's density and negative mass are drawn from. Sweeps from before the
    /// field used the Gauss rule; it is left out of the fingerprinted JSON, so their fingerprints stay.
    #[serde(default, skip_serializing_if = "DensityRule::is_gauss")]
    pub density_rule: DensityRule,
    /// Compute backend.
    pub backend: BackendKind,
    /// Fine-tune on each cell's corrupted training images before measuring it (`None`: the trained weights).
    pub finetune: Option<Finetune>,
}

/// A short fine-tune on each cell's corruption (`--finetune-steps`): on
/// hessx's corruption of the run's clean training split (the archive has
/// test images only), with the run's optimiser, momentum and weight decay,
/// without augmentation; then the cell is measured as without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finetune {
    /// Optimiser steps.
    pub steps: usize,
    /// Learning rate (constant).
    pub lr: f64,
    /// Examples per step.
    pub batch_size: usize,
}

impl SweepSettings {
    /// The fingerprint (the `settings_id` of every row).
    pub fn id(&self) -> String {
        fingerprint(Stage::Robustness, self)
    }

    /// Refuse settings that cannot work, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Input(m));
        if let Some(s) = self.severities.iter().find(|s| !(1..=5).contains(*s)) {
            return bad(format!("--severities {s}: severities are 1 to 5"));
        }
        if self.severities.is_empty() {
            return bad("--severities: at least one severity (1 to 5)".into());
        }
        if self.examples == Some(0) || self.hessian_examples == 0 || self.mini_batch_size == 0 {
            return bad("--examples, --hessian-examples and --mini-hessian-batch-size must be at least 1".into());
        }
        if let Some(n) = self.examples
            && self.hessian_examples > n
        {
            return bad(format!("--hessian-examples {} is more than --examples {n}: the Hessian is taken over those images", self.hessian_examples));
        }
        if self.iter < 2 || self.top_k == 0 || self.top_k > self.iter {
            return bad(format!("--top-k {} and --iter {}: need 1 <= top-k <= iter and iter >= 2", self.top_k, self.iter));
        }
        if self.trace_probes < 2 {
            return bad("--trace-probes must be at least 2 (a standard error needs two probes; 10 are recommended)".into());
        }
        if self.num_bins < 2 || !(self.sigma_squared > 0.0) || !(self.tol > 0.0) {
            return bad("--num-bins must be at least 2, --sigma-squared and --tol positive".into());
        }
        if let Some(f) = &self.finetune {
            if f.steps == 0 || f.batch_size == 0 || !(f.lr > 0.0) {
                return bad("--finetune-steps, --finetune-batch-size and --finetune-lr must be positive".into());
            }
        }
        Ok(())
    }
}

pub use hessx_pipeline::shard::Shard;

/// One process's part in a sweep: which run and checkpoint, which cells, and the settings.
#[derive(Debug, Clone)]
pub struct Request {
    /// The training run.
    pub run: PathBuf,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Checkpoint step (default: the last finite one).
    pub step: Option<i64>,
    /// Folder name under `RUN/robustness/` (default: the settings fingerprint).
    pub name: Option<String>,
    /// Corruptions were named on the command line (a corruption that does not apply is then an error).
    pub explicit_corruptions: bool,
    /// The settings, with `step`, `checkpoint_sha256`, `dataset` and `model` filled in from the run.
    pub settings: SweepSettings,
    /// This process's cells.
    pub shard: Shard,
    /// Stop after this many new cells (resume later with the same command).
    pub max_cells: Option<usize>,
    /// Draw the figures and the page when every cell is done.
    pub draw: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(density_weights: DensityWeights) -> SweepSettings {
        SweepSettings {
            dataset: "cifar10".into(),
            model: "resnet20".into(),
            step: 300,
            checkpoint_sha256: "ab".repeat(32),
            corruptions: vec!["gaussian_noise".into()],
            severities: vec![5],
            source: Source::Auto,
            corruption_seed: 0,
            examples: None,
            hessian_examples: 200,
            mini_batch_size: 200,
            bn_mode: HessianBnMode::Eval,
            seed: 1,
            top_k: 5,
            iter: 50,
            tol: 1e-3,
            trace_probes: 10,
            num_bins: 400,
            sigma_squared: 1e-5,
            density_weights,
            density_rule: DensityRule::Gauss,
            backend: BackendKind::Flex,
            finetune: None,
        }
    }

    #[test]
    fn plain_weights_keep_the_settings_file_and_fingerprint_of_sweeps_before_the_flag() {
        let plain = settings(DensityWeights::Plain);
        let saved = toml::to_string(&plain).unwrap();
        assert!(!saved.contains("density_weights"), "{saved}");
        // A settings.toml written before the field reads back as plain weights.
        let old: SweepSettings = toml::from_str(&saved).unwrap();
        assert_eq!(old, plain);
        let deflated = settings(DensityWeights::Deflated);
        assert!(toml::to_string(&deflated).unwrap().contains("density_weights = \"deflated\""));
        assert_ne!(deflated.id(), plain.id(), "a sweep with other weights is another sweep");
        // The same for the Gauss rule, the rule before --density-rule.
        assert!(!toml::to_string(&deflated).unwrap().contains("density_rule"));
        let radau = SweepSettings { density_rule: DensityRule::RadauZero, ..deflated.clone() };
        assert_ne!(radau.id(), deflated.id(), "a sweep with another rule is another sweep");
        assert_eq!(toml::from_str::<SweepSettings>(&toml::to_string(&radau).unwrap()).unwrap(), radau);
    }
}
