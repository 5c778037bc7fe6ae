//! What `hx-eigen` and `hx-spectrum` share: opening a training run, picking
//! its checkpoints, building the Hessian operator of each checkpoint's loss
//! on a fixed batch (or the whole split), and merging new rows into the run's
//! tables so that checkpoints already done are skipped on a re-run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use hessx_data::ImageSet;
use hessx_hessian::{B1, B2, Batch, DEFAULT_DETERMINISM_TOL, EigenResult, ParamLayout};
use hessx_models::{BnMode, Net};
use hessx_store::tables::{CheckpointRow, EigenvalueRow, EigenvectorRow, Row, read_rows, write_rows};
use hessx_store::{DataDir, RunDir, RunIdentity};
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::batches::{Normalization, epoch_order, image_batch};
use crate::data_setup::load_train_data;
use crate::train::TrainConfig;
pub use crate::hessian_op::{HessianBatch, LossFn, ModelHessian, ProductEngine};

/// Batch-norm mode of the loss whose Hessian is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HessianBnMode {
    /// Running statistics, as PyHessian (`model.eval()`).
    #[default]
    Eval,
    /// Batch statistics (running statistics left untouched).
    Train,
}

/// Flags shared by the curvature stages: which run, which checkpoints, which
/// loss and which parameters.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct HessianArgs {
    /// Training run directory (written by hx-train).
    #[arg(long)]
    pub run: PathBuf,
    /// Directory holding the datasets written by hx-fetch.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Examples in the batch the Hessian is taken on (PyHessian's default 200).
    #[arg(long, default_value_t = 200)]
    pub hessian_batch_size: usize,
    /// Take the Hessian of the mean loss over the whole training split instead of one batch.
    #[arg(long)]
    pub full_dataset: bool,
    /// Mini-batch size when --full-dataset sums over the split.
    #[arg(long, default_value_t = 200)]
    pub mini_hessian_batch_size: usize,
    /// Batch-norm mode of the loss.
    #[arg(long, value_enum, default_value_t = HessianBnMode::Eval)]
    pub bn_mode: HessianBnMode,
    /// Restrict the Hessian to parameters whose path starts with one of these
    /// prefixes (comma separated, e.g. `layer3` or `fc`); default all.
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// Leave out biases and batch-norm parameters (loss-landscape's `--xignore biasbn`).
    #[arg(long)]
    pub ignore_biasbn: bool,
    /// Only these checkpoint steps (comma separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub steps: Vec<i64>,
    /// Only every N-th checkpoint (the first and last are always included).
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    /// Seed of the Hessian batch and of the random vectors.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Compute backend: flex (pure Rust, default), libtorch (feature `tch`) or cuda (feature `cuda`).
    #[arg(long, alias = "device", value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
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
    pub data: ImageSet,
    /// The selected checkpoints, by step.
    pub checkpoints: Vec<CheckpointRow>,
}

impl RunContext {
    /// Open `args.run`, load its training split and select checkpoints.
    pub fn open(args: &HessianArgs) -> Result<Self> {
        let run = RunDir::new(&args.run);
        if !run.checkpoints().exists() {
            bail!(
                "{} has no checkpoints.parquet: is it a training run? Create one with hx-train --run {}",
                run.root().display(),
                run.root().display()
            );
        }
        let train: TrainConfig = crate::config::load_stage_config(&run.stage_config("train"))?;
        let corruption = (train.identity.corruption != "none")
            .then_some((train.identity.corruption.as_str(), train.identity.severity));
        let data_dir = DataDir::new(&args.data_dir);
        let data = load_train_data(&data_dir, &train.identity.dataset, corruption, train.heldout_fraction, train.seed)?.train;
        let all: Vec<CheckpointRow> = read_rows(&run.checkpoints())?;
        let checkpoints = select_checkpoints(all, &args.steps, args.every)
            .with_context(|| format!("selecting checkpoints of {}", run.root().display()))?;
        let mut identity = train.identity.clone();
        identity.run = run.name();
        Ok(RunContext { run, train, identity, data, checkpoints })
    }

    /// Indices of the examples the Hessian is taken over: a fixed, seeded
    /// subset shared by every checkpoint, so their Hessians are comparable.
    pub fn hessian_indices(&self, args: &HessianArgs) -> Vec<usize> {
        let mut order = epoch_order(self.data.len(), args.seed ^ 0x4e55_1a11, 0);
        if !args.full_dataset {
            order.truncate(args.hessian_batch_size.min(self.data.len()));
        }
        order
    }

    /// The Hessian batches over `indices`, on the device, built once per
    /// stage run and shared (tensors are reference counted) by every checkpoint.
    pub fn hessian_batches<B: Backend>(&self, args: &HessianArgs, indices: &[usize], device: &B::Device) -> Vec<Batch<HessianBatch<B>>> {
        let chunk = args.mini_hessian_batch_size.min(indices.len());
        hessian_batches::<B>(&self.data, indices, chunk, &self.train.normalization, args.bn_mode, device)
    }
}

/// Checkpoints with step in `steps` (all when empty), thinned to every
/// `every`-th (first and last kept).
pub fn select_checkpoints(all: Vec<CheckpointRow>, steps: &[i64], every: usize) -> Result<Vec<CheckpointRow>> {
    if every == 0 {
        bail!("--every must be at least 1");
    }
    let available: BTreeSet<i64> = all.iter().map(|c| c.step).collect();
    if let Some(missing) = steps.iter().find(|s| !available.contains(s)) {
        bail!("--steps {missing}: no such checkpoint (available: {available:?})");
    }
    let chosen: Vec<CheckpointRow> = all.into_iter().filter(|c| steps.is_empty() || steps.contains(&c.step)).collect();
    let last = chosen.len().saturating_sub(1);
    Ok(chosen.into_iter().enumerate().filter(|(i, _)| i % every == 0 || *i == last).map(|(_, c)| c).collect())
}

/// The Hessian batches (on the device) for `indices` of `data`.
pub fn hessian_batches<B: Backend>(
    data: &ImageSet,
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
            let (images, labels) = image_batch::<B2<B>>(data, idx, norm, None, device);
            Batch::new(HessianBatch::new(images, labels, mode), idx.len())
        })
        .collect()
}

/// The Hessian operator of the checkpoint at `checkpoint`, over `batches`,
/// restricted to the parameters `args` selects. Checks that products are
/// deterministic (2 products, not counted by the solvers) before returning it.
pub fn checkpoint_hessian<B: Backend>(
    ctx: &RunContext,
    args: &HessianArgs,
    checkpoint: &CheckpointRow,
    batches: Vec<Batch<HessianBatch<B>>>,
    device: &B::Device,
) -> Result<ModelHessian<B>> {
    let path = ctx.run.root().join(&checkpoint.file);
    let (_, model) = hessx_models::load_checkpoint::<B1<B>>(&path, Some(&ctx.train.model), device)?;
    let layout = param_layout(&model, args)?;
    let mut op = ModelHessian::new(model, layout, batches, ProductEngine::Auto)?;
    op.check_deterministic(DEFAULT_DETERMINISM_TOL)
        .with_context(|| format!("checkpoint {}", path.display()))?;
    Ok(op)
}

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

fn param_layout<B: Backend>(model: &Net<B1<B>>, args: &HessianArgs) -> Result<ParamLayout> {
    let all = ParamLayout::trainable(model)?;
    if args.params.is_empty() && !args.ignore_biasbn {
        return Ok(all);
    }
    let keep = |path: &str| {
        let prefix_ok = args.params.is_empty() || args.params.iter().any(|p| path.starts_with(p.as_str()));
        prefix_ok && !(args.ignore_biasbn && is_bias_or_bn(path))
    };
    let layout = ParamLayout::filtered(model, keep)?;
    if layout.dim() == 0 {
        let paths: Vec<&str> = all.entries().iter().map(|e| e.path.as_str()).collect();
        bail!("--params {:?} selects no parameter; the model's parameters are: {}", args.params, paths.join(", "));
    }
    Ok(layout)
}

/// Biases and batch-norm parameters (loss-landscape's "biasbn").
fn is_bias_or_bn(path: &str) -> bool {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    matches!(leaf, "bias" | "gamma" | "beta") || path.contains("bn")
}

/// Merge `new` rows into the table at `path`: existing rows for which
/// `replaced` is true are dropped, the rest kept, and the table rewritten
/// atomically.
pub fn merge_rows<R: Row + Clone>(path: &Path, id: &RunIdentity, new: &[R], replaced: impl Fn(&R) -> bool) -> Result<()> {
    let mut rows: Vec<R> = if path.exists() { read_rows(path)? } else { Vec::new() };
    rows.retain(|r| !replaced(r));
    rows.extend_from_slice(new);
    write_rows(path, id, &rows)?;
    Ok(())
}

/// How one eigen-solve at a checkpoint is recorded.
pub struct EigenRecord<'a> {
    /// Checkpoint step.
    pub step: i64,
    /// `lanczos`, `power` or `one-pass`.
    pub method: &'a str,
    /// Products the solve used.
    pub hvps: u64,
    /// Wall-clock seconds of the solve.
    pub seconds: f64,
    /// Parameters the Hessian is taken over.
    pub num_params: usize,
    /// Replace the step's eigenvector table if it exists (false: only fill a missing one).
    pub replace_vectors: bool,
}

/// Write an eigen-solve's vectors (`eigenvectors/step-N.parquet`, first, so
/// the value rows never reference a missing file) and merge its values into
/// `eigenvalues.parquet`, replacing earlier rows of the same step and method.
pub fn write_eigen_result<B: Backend>(ctx: &RunContext, result: &EigenResult<Tensor<B, 1>>, rec: &EigenRecord) -> Result<()> {
    let vectors_path = ctx.run.eigenvectors(rec.step);
    if rec.replace_vectors || !vectors_path.exists() {
        let vectors: Vec<EigenvectorRow> = result
            .values
            .iter()
            .zip(&result.vectors)
            .enumerate()
            .map(|(rank, (&eigenvalue, v))| EigenvectorRow {
                step: rec.step,
                rank: rank as u32,
                eigenvalue,
                vector: v.to_data().iter::<f32>().collect(),
            })
            .collect();
        write_rows(&vectors_path, &ctx.identity, &vectors)?;
    }
    let rows: Vec<EigenvalueRow> = (0..result.values.len())
        .map(|rank| EigenvalueRow {
            step: rec.step,
            rank: rank as u32,
            eigenvalue: result.values[rank],
            residual: result.residuals[rank],
            converged: result.converged[rank],
            hvps: rec.hvps as i64,
            method: rec.method.into(),
            seconds: rec.seconds,
            num_params: rec.num_params as i64,
        })
        .collect();
    merge_rows(&ctx.run.eigenvalues(), &ctx.identity, &rows, |r: &EigenvalueRow| r.step == rec.step && r.method == rec.method)
}

/// Rows already in the table at `path` (none when it does not exist).
pub fn existing_rows<R: Row>(path: &Path) -> Result<Vec<R>> {
    if path.exists() { Ok(read_rows(path)?) } else { Ok(Vec::new()) }
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
    fn bias_and_bn_paths() {
        assert!(is_bias_or_bn("layer1.0.bn1.gamma"));
        assert!(is_bias_or_bn("fc.bias"));
        assert!(!is_bias_or_bn("layer1.0.conv1.weight"));
    }
}
