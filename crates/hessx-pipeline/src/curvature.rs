//! What `hx-eigen` and `hx-spectrum` share: opening a training run, picking
//! its checkpoints, and building the Hessian operator of each checkpoint's
//! loss on a fixed batch (or the whole split). The stages themselves are
//! [`run_eigen`](crate::eigen::run_eigen) and
//! [`run_spectrum`](crate::spectrum::run_spectrum).

use std::collections::BTreeSet;

use burn::prelude::*;
use hessx_data::Examples;
use hessx_hessian::{B1, B2, Batch, DEFAULT_DETERMINISM_TOL, FirstProductChecked, ParamLayout};
use hessx_models::{BnMode, Net};
use hessx_store::tables::{CheckpointRow, read_rows};
use hessx_store::{DataDir, RunDir, RunIdentity};

use crate::batches::{BatchSource, Normalization, epoch_order};
use crate::data_setup::load_train_data;
use crate::distributed::Shared;
pub use crate::hessian_op::{HessianBatch, LossFn, ModelHessian, ProductEngine};
pub use crate::settings::HessianBnMode;
use crate::settings::HessianSettings;
use crate::train_config::TrainConfig;
use crate::{Error, Result};

/// Which checkpoints of a run a stage visits (not part of the settings: the
/// step is a column of every row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSelection {
    /// Only these steps; all when empty.
    pub steps: Vec<i64>,
    /// Only every N-th of them (the first and last always included).
    pub every: usize,
}

impl Default for CheckpointSelection {
    fn default() -> Self {
        CheckpointSelection { steps: Vec::new(), every: 1 }
    }
}

/// A training run opened for curvature work.
pub struct RunContext {
    /// Its directory.
    pub run: RunDir,
    /// How it was trained.
    pub train: TrainConfig,
    /// Identity columns for the tables.
    pub identity: RunIdentity,
    /// The examples the Hessian is taken over.
    pub data: Examples,
    /// The selected checkpoints, by step.
    pub checkpoints: Vec<CheckpointRow>,
}

impl RunContext {
    /// Open the training run `run`, load its training split from `data_dir`
    /// and select checkpoints.
    pub fn open(run: &RunDir, data_dir: &DataDir, selection: &CheckpointSelection) -> Result<Self> {
        let run = run.clone();
        let train = training_config(&run)?;
        let corruption = (train.identity.corruption != "none")
            .then_some((train.identity.corruption.as_str(), train.identity.severity));
        let data = load_train_data(data_dir, &train.identity.dataset, corruption, train.heldout_fraction, train.seed)?.train;
        let all: Vec<CheckpointRow> = read_rows(&run.checkpoints())?;
        let checkpoints = select_checkpoints(all, &selection.steps, selection.every)?;
        let mut identity = train.identity.clone();
        identity.run = run.name();
        Ok(RunContext { run, train, identity, data, checkpoints })
    }

    /// Indices of the examples the Hessian is taken over: a fixed, seeded
    /// subset shared by every checkpoint, so their Hessians are comparable.
    pub fn hessian_indices(&self, settings: &HessianSettings) -> Vec<usize> {
        let mut order = epoch_order(self.data.len(), settings.seed ^ 0x4e55_1a11, 0);
        if let Some(size) = settings.batch_size {
            order.truncate(size.min(self.data.len()));
        }
        order
    }

    /// This process's Hessian batches over `indices` (all of them, or its
    /// share under MPI: [`crate::distributed`]), on the device, built once per
    /// stage run and shared (tensors are reference counted) by every checkpoint.
    pub fn hessian_batches<B: Backend>(
        &self,
        settings: &HessianSettings,
        indices: &[usize],
        device: &B::Device,
    ) -> Vec<Batch<HessianBatch<B>>> {
        let mine = crate::distributed::my_share(indices);
        let chunk = settings.mini_batch_size.min(mine.len());
        hessian_batches::<B>(&self.data, &mine, chunk, &self.train.normalization, settings.bn_mode, device)
    }
}

/// How the training run `run` was trained (`config/train.toml`), after
/// checking that it is one: the stages that read a run's checkpoints start here.
pub fn training_config(run: &RunDir) -> Result<TrainConfig> {
    if !run.checkpoints().exists() {
        return Err(Error::invalid(format!(
            "{} is missing: is {} a training run? Create one with hx-train --run {}",
            run.checkpoints().display(),
            run.root().display(),
            run.root().display()
        )));
    }
    crate::config::load_stage_config(&run.stage_config("train"))
}

/// Checkpoints with step in `steps` (all when empty), thinned to every
/// `every`-th (first and last kept). Diverged checkpoints (see
/// [`without_diverged`]) are left out with a warning.
pub fn select_checkpoints(all: Vec<CheckpointRow>, steps: &[i64], every: usize) -> Result<Vec<CheckpointRow>> {
    if every == 0 {
        return Err(Error::invalid("--every must be at least 1"));
    }
    let available: BTreeSet<i64> = all.iter().map(|c| c.step).collect();
    if let Some(missing) = steps.iter().find(|s| !available.contains(s)) {
        return Err(Error::invalid(format!("--steps {missing}: no such checkpoint (available: {available:?})")));
    }
    let chosen: Vec<CheckpointRow> = all.into_iter().filter(|c| steps.is_empty() || steps.contains(&c.step)).collect();
    let chosen = without_diverged(chosen)?;
    let last = chosen.len().saturating_sub(1);
    Ok(chosen.into_iter().enumerate().filter(|(i, _)| i % every == 0 || *i == last).map(|(_, c)| c).collect())
}

/// The checkpoints whose held-out loss is finite. hx-train saves the
/// checkpoints before a loss turns NaN and stops; a checkpoint whose held-out
/// loss is already NaN or infinite (how `checkpoints.parquet` marks one that
/// diverged) has no meaningful Hessian, so it is skipped with a warning naming
/// its step and file. Every checkpoint having diverged is an error.
pub fn without_diverged(rows: Vec<CheckpointRow>) -> Result<Vec<CheckpointRow>> {
    let (healthy, diverged): (Vec<_>, Vec<_>) = rows.into_iter().partition(|c| c.heldout_loss.is_finite());
    for c in &diverged {
        tracing::warn!(
            step = c.step,
            file = %c.file,
            "skipping checkpoint {}: it diverged (held-out loss {}), so its Hessian means nothing",
            c.step,
            c.heldout_loss
        );
    }
    if healthy.is_empty() && !diverged.is_empty() {
        let steps: Vec<i64> = diverged.iter().map(|c| c.step).collect();
        return Err(Error::invalid(format!(
            "every selected checkpoint diverged (held-out loss not finite at steps {steps:?}): \
             nothing to compute; train again with a smaller --lr, or pick earlier checkpoints with --steps"
        )));
    }
    Ok(healthy)
}

/// The Hessian batches (on the device) for `indices` of `data`.
pub fn hessian_batches<B: Backend>(
    data: &impl BatchSource,
    indices: &[usize],
    chunk: usize,
    norm: &Normalization,
    mode: HessianBnMode,
    device: &B::Device,
) -> Vec<Batch<HessianBatch<B>>> {
    let mode = match mode {
        HessianBnMode::Eval => BnMode::Eval,
        HessianBnMode::Train => BnMode::TrainFrozen,
    };
    indices
        .chunks(chunk.max(1))
        .map(|idx| {
            let (inputs, labels) = data.batch::<B2<B>>(idx, norm, None, device);
            Batch::new(HessianBatch::of_inputs(inputs, labels, mode), idx.len())
        })
        .collect()
}

/// The Hessian operator of the checkpoint at `checkpoint`, over this
/// process's `batches` of the `examples` the Hessian is taken over (all of
/// them unless MPI shares them out), restricted to the parameters `settings`
/// selects. Its first product is taken twice to check that products are
/// deterministic (one extra product, not counted by the solvers; a failure
/// comes out of the first solver that uses it). The one place where the
/// curvature stages build their operator.
pub fn checkpoint_hessian<B: Backend>(
    ctx: &RunContext,
    settings: &HessianSettings,
    checkpoint: &CheckpointRow,
    batches: Vec<Batch<HessianBatch<B>>>,
    examples: usize,
    device: &B::Device,
) -> Result<CheckpointHessian<B>> {
    let path = ctx.run.root().join(&checkpoint.file);
    let (_, model) = hessx_models::load_checkpoint::<B1<B>>(&path, Some(&ctx.train.model), device)?;
    let layout = param_layout(&model, settings)?;
    let local: usize = batches.iter().map(|b| b.size).sum();
    let weight = crate::distributed::share_weight(local, examples)?;
    let op = ModelHessian::new(model, layout, batches, ProductEngine::Auto)?;
    Ok(FirstProductChecked::new(Shared::new(op, weight), DEFAULT_DETERMINISM_TOL))
}

/// What [`checkpoint_hessian`] builds: the checkpoint's Hessian, shared over the MPI ranks, with its first
/// (combined) product checked for determinism.
pub type CheckpointHessian<B> = FirstProductChecked<Shared<ModelHessian<B>>>;

/// The Hessian operator of `model`'s mean cross-entropy over `batches`,
/// over all trainable parameters, with the backend's fastest exact products.
pub fn model_hessian<B: Backend>(model: Net<B1<B>>, batches: Vec<Batch<HessianBatch<B>>>) -> Result<ModelHessian<B>> {
    model_hessian_with(model, batches, ProductEngine::Auto)
}

/// [`model_hessian`] with the product implementation chosen by the caller (benchmarks compare them).
pub fn model_hessian_with<B: Backend>(
    model: Net<B1<B>>,
    batches: Vec<Batch<HessianBatch<B>>>,
    engine: ProductEngine,
) -> Result<ModelHessian<B>> {
    let layout = ParamLayout::trainable(&model)?;
    Ok(ModelHessian::new(model, layout, batches, engine)?)
}

fn param_layout<B: Backend>(model: &Net<B1<B>>, settings: &HessianSettings) -> Result<ParamLayout> {
    let all = ParamLayout::trainable(model)?;
    if settings.params.is_empty() && !settings.ignore_biasbn {
        return Ok(all);
    }
    let keep = |path: &str| selects_param(&settings.params, settings.ignore_biasbn, path);
    // Checked here, before the layout refuses an empty selection, so that the error names the flag and
    // lists the paths there are.
    if !all.entries().iter().any(|e| keep(&e.path)) {
        let paths: Vec<&str> = all.entries().iter().map(|e| e.path.as_str()).collect();
        return Err(Error::invalid(format!(
            "--params {:?} selects no parameter; the model's parameters are: {}",
            settings.params,
            paths.join(", ")
        )));
    }
    Ok(ParamLayout::filtered(model, keep)?)
}

/// Whether the parameter `path` falls under `pattern`: a prefix of the path
/// (`layer3`, `fc`, `embedding`), in which a `*` segment stands for any one
/// segment (`blocks.*.attention`: the attention of every encoder block).
pub fn param_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let path: Vec<&str> = path.split('.').collect();
    if pattern.len() > path.len() {
        return false;
    }
    let last = pattern.len() - 1;
    pattern.iter().zip(&path).enumerate().all(|(i, (p, seg))| *p == "*" || if i == last { seg.starts_with(p) } else { p == seg })
}

/// The parameter blocks `--blocks auto` takes for `model`: the parts whose
/// curvature users compare within each family. `None` for families without
/// a standard split (name the blocks with `--blocks`).
pub fn default_blocks(model: &hessx_models::ModelSpec) -> Option<Vec<String>> {
    use hessx_models::Arch;
    let blocks: &[&str] = match &model.arch {
        Arch::WideDeep { .. } => &["embedding", "wide", "deep"],
        Arch::SequenceTransformer { .. } => &["token_embedding,position", "blocks.*.attention", "blocks.*.mlp", "head"],
        Arch::Transformer { .. } => &["patch_embed,position", "blocks.*.attention", "blocks.*.mlp", "head"],
        Arch::ResNet { .. } => &["conv1,bn1", "layer1", "layer2", "layer3", "fc"],
        Arch::TorchResNet { .. } => &["conv1,bn1", "layer1", "layer2", "layer3", "layer4", "fc"],
        Arch::Mlp { .. } | Arch::SmallCnn => return None,
    };
    Some(blocks.iter().map(|b| b.to_string()).collect())
}

/// One Hessian setting per block of `blocks` (each a comma-separated list of
/// parameter patterns, or `auto` for [`default_blocks`]), otherwise equal to
/// `base`: the per-block curvature a stage computes after the whole model's.
pub fn block_settings(ctx: &RunContext, base: &HessianSettings, blocks: &[String]) -> Result<Vec<HessianSettings>> {
    let mut names: Vec<String> = Vec::new();
    for b in blocks {
        if b == "auto" {
            names.extend(default_blocks(&ctx.train.model).ok_or_else(|| {
                Error::invalid(format!(
                    "--blocks auto: {} has no standard blocks; name them, e.g. --blocks layers.0 --blocks layers.1",
                    ctx.train.model.name()
                ))
            })?);
        } else {
            names.push(b.clone());
        }
    }
    Ok(names
        .into_iter()
        .map(|b| HessianSettings { params: b.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect(), ..base.clone() }.normalized())
        .collect())
}

/// Whether a Hessian restricted by `params` patterns (all when empty, see
/// [`param_matches`]) and `ignore_biasbn` takes the parameter `path`: the
/// rule of `--params` / `--ignore-biasbn`, also for reading back which
/// parameters recorded eigenvectors cover.
pub fn selects_param(params: &[String], ignore_biasbn: bool, path: &str) -> bool {
    (params.is_empty() || params.iter().any(|p| param_matches(p, path))) && !(ignore_biasbn && is_bias_or_bn(path))
}

/// Biases and batch-norm parameters (loss-landscape's "biasbn").
pub fn is_bias_or_bn(path: &str) -> bool {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    matches!(leaf, "bias" | "gamma" | "beta") || path.contains("bn")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: i64) -> CheckpointRow {
        CheckpointRow {
            step,
            epoch: 0,
            batch: step,
            lr: 0.1,
            train_loss: 1.0,
            train_accuracy: 0.5,
            heldout_loss: 1.0,
            heldout_accuracy: 0.5,
            file: format!("checkpoints/step-{step:08}.mpk"),
            sha256: String::new(),
            heldout_auc: f64::NAN,
        }
    }

    #[test]
    fn selection_by_steps_and_every() {
        let all: Vec<_> = (0..7).map(|s| row(s * 10)).collect();
        let steps = |v: Vec<CheckpointRow>| v.into_iter().map(|c| c.step).collect::<Vec<_>>();
        assert_eq!(steps(select_checkpoints(all.clone(), &[], 1).unwrap()), [0, 10, 20, 30, 40, 50, 60]);
        assert_eq!(steps(select_checkpoints(all.clone(), &[], 4).unwrap()), [0, 40, 60]);
        assert_eq!(steps(select_checkpoints(all.clone(), &[10, 30], 1).unwrap()), [10, 30]);
        let err = select_checkpoints(all, &[15], 1).unwrap_err().to_string();
        assert!(err.contains("--steps 15"), "{err}");
    }

    #[test]
    fn diverged_checkpoints_are_skipped_and_all_diverged_is_an_error() {
        let mut all: Vec<_> = (0..4).map(|s| row(s * 10)).collect();
        all[2].heldout_loss = f64::NAN;
        all[3].heldout_loss = f64::INFINITY;
        let steps = |v: Vec<CheckpointRow>| v.into_iter().map(|c| c.step).collect::<Vec<_>>();
        assert_eq!(steps(select_checkpoints(all.clone(), &[], 1).unwrap()), [0, 10]);
        assert_eq!(steps(select_checkpoints(all.clone(), &[10, 20], 1).unwrap()), [10]);
        let err = select_checkpoints(all, &[20, 30], 1).unwrap_err().to_string();
        assert!(err.contains("diverged") && err.contains("[20, 30]") && err.contains("--steps"), "{err}");
    }

    #[test]
    fn parameter_patterns_are_prefixes_with_one_segment_wildcards() {
        assert!(param_matches("layer3", "layer3.0.conv1.weight"));
        assert!(param_matches("fc", "fc.bias"));
        assert!(param_matches("wide", "wide_cross"), "a prefix of the last segment, as --params always was");
        assert!(param_matches("blocks.*.attention", "blocks.1.attention.query.weight"));
        assert!(param_matches("blocks.*.mlp", "blocks.0.mlp_in.bias"));
        assert!(!param_matches("blocks.*.mlp", "blocks.0.attention.output.weight"));
        assert!(!param_matches("blocks.*.attention", "blocks"));
        assert!(!param_matches("layer3.1", "layer3.0.conv1.weight"));
        assert!(!param_matches("head", "blocks.0.head"));
    }

    #[test]
    fn bias_and_bn_paths() {
        assert!(is_bias_or_bn("layer1.0.bn1.gamma"));
        assert!(is_bias_or_bn("fc.bias"));
        assert!(!is_bias_or_bn("layer1.0.conv1.weight"));
    }
}
