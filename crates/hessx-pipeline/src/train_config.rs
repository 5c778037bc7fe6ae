//! Everything that determines a training run, saved as `config/train.toml`
//! and read back by the curvature stages and by fine-tunes that start from it.

use std::path::PathBuf;

use hessx_models::ModelSpec;
use hessx_store::RunIdentity;
use serde::{Deserialize, Serialize};

use crate::batches::{Augment, Normalization};
pub use crate::sharpness::SharpnessTracking;

/// Which optimiser updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum and weight decay (PyHessian's `training.py`).
    Sgd,
    /// Adam with weight decay.
    Adam,
}

/// Everything that determines a training run; saved as `config/train.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Identity columns written into every table of the run.
    pub identity: RunIdentity,
    /// The model trained.
    pub model: ModelSpec,
    /// Initial weights: a hessx checkpoint or a PyTorch state_dict (none: from scratch).
    pub init: Option<PathBuf>,
    /// Input normalisation.
    pub normalization: Normalization,
    /// Passes over the training split.
    pub epochs: usize,
    /// Examples per optimiser step.
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Factor applied to the learning rate at each milestone.
    pub lr_decay: f64,
    /// Epochs at which the learning rate is multiplied by `lr_decay`.
    pub lr_decay_epochs: Vec<usize>,
    /// L2 penalty.
    pub weight_decay: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Training augmentation (none for fine-tuning on a fixed corrupted set).
    pub augment: Option<Augment>,
    /// Save a checkpoint every this many optimiser steps (and at step 0 and the end).
    pub save_interval: usize,
    /// Seed of weights, batch order and augmentation.
    pub seed: u64,
    /// Examples per batch when evaluating the held-out split.
    pub eval_batch_size: usize,
    /// Fraction of a test-only corrupted set held out (see `data_setup`).
    pub heldout_fraction: f64,
    /// Sharpness tracking (`--track-sharpness`); none in configs written before it existed.
    #[serde(default)]
    pub sharpness: Option<SharpnessTracking>,
}

impl TrainConfig {
    pub(crate) fn steps_per_epoch(&self, n: usize) -> usize {
        n.div_ceil(self.batch_size)
    }

    /// Learning rate in force during `epoch` (multi-step decay).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let decays = self.lr_decay_epochs.iter().filter(|&&e| epoch >= e).count();
        self.lr * self.lr_decay.powi(decays as i32)
    }
}


impl OptimizerKind {
    /// The flag values.
    pub const NAMES: [&'static str; 2] = ["sgd", "adam"];
}

impl std::str::FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            other => Err(format!("`{other}` is not an optimiser; expected sgd or adam")),
        }
    }
}
