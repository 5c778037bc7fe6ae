//! Training and fine-tuning with checkpoints that the Hessian stages analyse.
//!
//! Every checkpoint is a model record, an optimiser record and a small state
//! file, followed by one row in `checkpoints.parquet`; the table is rewritten
//! (atomically) only after the files it names are complete. A killed run
//! therefore resumes from the last row whose files check out, and because
//! batch orders and augmentation depend only on (seed, epoch, step), it ends
//! with the same weights as an uninterrupted run.

use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use hessx_data::Examples;
use hessx_models::{BnMode, Net, cross_entropy, predicted_labels};
use hessx_store::tables::{CheckpointRow, TrainLogRow, read_rows, write_rows};
use hessx_store::{RunDir, RunIdentity, write_bytes_atomic};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::batches::{BatchSource, epoch_order, step_rng};
use crate::checksum::sha256_file;
use crate::sharpness::{SharpnessEstimate, estimate_sharpness, lift};
use hessx_hessian::B2;
pub use crate::train_config::{OptimizerKind, SharpnessTracking, TrainConfig};
use crate::{Error, Result};

/// The data a run trains on and evaluates with.
pub struct TrainData {
    /// Split the optimiser sees.
    pub train: Examples,
    /// Split for held-out loss and accuracy at each checkpoint.
    pub heldout: Examples,
}

/// What a finished (or resumed-and-finished) run did.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Optimiser steps in the whole run.
    pub total_steps: usize,
    /// Step the run resumed from (None when it started fresh).
    pub resumed_from: Option<i64>,
    /// Checkpoints in the run's table.
    pub checkpoints: usize,
    /// Mean seconds per optimiser step in this invocation (NaN if none ran).
    pub seconds_per_step: f64,
    /// Held-out accuracy at the last checkpoint.
    pub final_heldout_accuracy: f64,
}

type Optim<M, B> = Box<dyn OptimizerBox<M, B>>;

/// Object-safe face of burn's optimisers, so SGD and Adam share one loop.
trait OptimizerBox<M: AutodiffModule<B>, B: AutodiffBackend> {
    fn step(&mut self, lr: f64, model: M, grads: GradientsParams) -> M;
    fn record_bytes(&self) -> Result<Vec<u8>, String>;
    fn load_bytes(&mut self, bytes: Vec<u8>, device: &B::Device) -> Result<(), String>;
}

impl<M, B, O> OptimizerBox<M, B> for O
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    O: Optimizer<M, B> + 'static,
{
    fn step(&mut self, lr: f64, model: M, grads: GradientsParams) -> M {
        Optimizer::step(self, lr, model, grads)
    }
    fn record_bytes(&self) -> Result<Vec<u8>, String> {
        NamedMpkBytesRecorder::<FullPrecisionSettings>::default().record(self.to_record(), ()).map_err(|e| e.to_string())
    }
    fn load_bytes(&mut self, bytes: Vec<u8>, device: &B::Device) -> Result<(), String> {
        let record =
            NamedMpkBytesRecorder::<FullPrecisionSettings>::default().load(bytes, device).map_err(|e| e.to_string())?;
        *self = self.clone().load_record(record);
        Ok(())
    }
}

fn optimizer<B: AutodiffBackend>(cfg: &TrainConfig) -> Optim<Net<B>, B> {
    let decay = (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
    match cfg.optimizer {
        OptimizerKind::Sgd => {
            let momentum = (cfg.momentum > 0.0)
                .then(|| MomentumConfig { momentum: cfg.momentum, dampening: 0.0, nesterov: false });
            Box::new(SgdConfig::new().with_weight_decay(decay).with_momentum(momentum).init::<B, Net<B>>())
        }
        OptimizerKind::Adam => Box::new(AdamConfig::new().with_weight_decay(decay).init::<B, Net<B>>()),
    }
}

/// Trainer state saved beside each checkpoint.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointState {
    step: i64,
}

/// Train (or fine-tune) per `cfg`, writing checkpoints into `run`; resumes
/// from the last complete checkpoint when the run directory has one.
pub fn train<B: AutodiffBackend>(
    cfg: &TrainConfig,
    data: &TrainData,
    run: &RunDir,
    device: &B::Device,
) -> Result<TrainSummary> {
    if data.train.is_empty() {
        return Err(Error::invalid(format!("the training split {} is empty", data.train.split())));
    }
    if cfg.batch_size == 0 {
        return Err(Error::invalid("--batch-size must be positive"));
    }
    if cfg.save_interval == 0 {
        return Err(Error::invalid("--save-interval must be positive"));
    }
    check_saved_config(cfg, run)?;
    crate::config::save_stage_config(run, "train", cfg)?;

    let n = data.train.len();
    let spe = cfg.steps_per_epoch(n);
    let total_steps = spe * cfg.epochs;

    let mut checkpoints = complete_checkpoints(run)?;
    let mut log: Vec<TrainLogRow> = if run.train_log().exists() && !checkpoints.is_empty() {
        read_rows(&run.train_log())?
    } else {
        Vec::new()
    };
    let mut optim = optimizer::<B>(cfg);
    let (mut model, start_step, resumed_from) = match checkpoints.last() {
        Some(last) => {
            let step = last.step;
            let (_, model) = hessx_models::load_checkpoint::<B>(&run.checkpoint_model(step), Some(&cfg.model), device)?;
            let path = run.checkpoint_optimizer(step);
            let bytes = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
            optim.load_bytes(bytes, device).map_err(|message| Error::Record { path, message })?;
            log.retain(|r| r.step <= step);
            (model, step as usize, Some(step))
        }
        None => (initial_model::<B>(cfg, device)?, 0, None),
    };
    if resumed_from.is_none() {
        let row = save_checkpoint(cfg, run, &model, optim.as_ref(), 0, &[], data, device)?;
        checkpoints.push(row);
        write_tables(run, &cfg.identity, &checkpoints, &log)?;
    }

    if let Some(t) = cfg.sharpness
        && (t.every == 0 || t.hvps < 2)
    {
        return Err(Error::invalid(format!(
            "--track-sharpness {} --sharpness-hvps {}: need N >= 1 and K >= 2 (K - 1 Lanczos steps and the residual product)",
            t.every, t.hvps
        )));
    }
    // The previous estimate's eigenvector: the next one's start (cold after a resume).
    let mut warm: Option<Vec<f64>> = None;
    let bar = progress_bar(total_steps as u64, start_step as u64);
    let started = Instant::now();
    let mut since_checkpoint: Vec<TrainLogRow> = Vec::new();
    for step in start_step..total_steps {
        let (epoch, batch) = (step / spe, step % spe);
        let order = epoch_order(n, cfg.seed, epoch);
        let indices = &order[batch * cfg.batch_size..((batch + 1) * cfg.batch_size).min(n)];
        let lr = cfg.lr_at(epoch);
        let estimate = match cfg.sharpness {
            Some(t) if t.due(step) => sharpness_at::<B>(cfg, t, &model, data, indices, step, &mut warm, device, &bar),
            _ => None,
        };
        let t0 = Instant::now();
        let mut rng = step_rng(cfg.seed, step as u64);
        let augment = cfg.augment.map(|a| (a, &mut rng));
        let (x, y) = data.train.batch::<B>(indices, &cfg.normalization, augment, device);
        let logits = model.forward(x, BnMode::Train);
        let accuracy = batch_accuracy(logits.clone(), y.clone());
        let loss = cross_entropy(logits, y);
        let loss_value: f64 = loss.clone().into_scalar().elem();
        if !loss_value.is_finite() {
            return Err(Error::Training(format!(
                "the training loss became {loss_value} at step {} (epoch {epoch}, batch {batch}); \
                 the learning rate {lr} is probably too high for this model and data — lower --lr",
                step + 1
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        let row = TrainLogRow {
            step: step as i64 + 1,
            epoch: epoch as i64,
            batch: batch as i64,
            lr,
            loss: loss_value,
            accuracy,
            seconds: t0.elapsed().as_secs_f64(),
            sharpness: estimate.as_ref().map_or(f64::NAN, |e| e.value),
            sharpness_residual: estimate.as_ref().map_or(f64::NAN, |e| e.residual),
            sharpness_hvps: estimate.as_ref().map_or(0, |e| e.hvps as i64),
            sharpness_seconds: estimate.as_ref().map_or(0.0, |e| e.seconds),
        };
        since_checkpoint.push(row.clone());
        log.push(row);
        let done = step + 1;
        bar.set_position(done as u64);
        let rate = (done - start_step) as f64 * cfg.batch_size as f64 / started.elapsed().as_secs_f64();
        bar.set_message(format!("epoch {epoch} loss {loss_value:.4} acc {:.1}% {rate:.0} examples/s", 100.0 * accuracy));
        if done % cfg.save_interval == 0 || done == total_steps {
            let row = save_checkpoint(cfg, run, &model, optim.as_ref(), done, &since_checkpoint, data, device)?;
            if !row.heldout_loss.is_finite() {
                bar.suspend(|| tracing::warn!(
                    "checkpoint step {done} diverged: held-out loss {}; the curvature stages will skip it \
                     (the checkpoint table keeps it, marked by that loss)",
                    row.heldout_loss
                ));
            }
            bar.suspend(|| tracing::info!(
                "checkpoint step {done}: train loss {:.4}, held-out loss {:.4}, held-out accuracy {:.2}%",
                row.train_loss,
                row.heldout_loss,
                100.0 * row.heldout_accuracy
            ));
            checkpoints.push(row);
            write_tables(run, &cfg.identity, &checkpoints, &log)?;
            since_checkpoint.clear();
        }
    }
    bar.finish_and_clear();
    let ran = total_steps.saturating_sub(start_step);
    Ok(TrainSummary {
        total_steps,
        resumed_from,
        checkpoints: checkpoints.len(),
        seconds_per_step: if ran == 0 { f64::NAN } else { started.elapsed().as_secs_f64() / ran as f64 },
        final_heldout_accuracy: checkpoints.last().map_or(f64::NAN, |c| c.heldout_accuracy),
    })
}

/// `steps` optimiser steps of `cfg`'s optimiser, learning rate and batch
/// size on `set` (its seeded epoch orders, `cfg`'s augmentation), from
/// `model`, with no checkpoint or log: the short fine-tune of
/// `hx-robustness --finetune-steps`. A non-finite loss is an error naming the step.
pub fn fine_tune<B: AutodiffBackend>(cfg: &TrainConfig, mut model: Net<B>, set: &impl BatchSource, steps: usize, device: &B::Device) -> Result<Net<B>> {
    if set.is_empty() || cfg.batch_size == 0 {
        return Err(Error::invalid(format!("fine-tuning needs examples and a batch size of at least 1 ({} examples, batch {})", set.len(), cfg.batch_size)));
    }
    let n = set.len();
    let spe = cfg.steps_per_epoch(n);
    let mut optim = optimizer::<B>(cfg);
    for step in 0..steps {
        let (epoch, batch) = (step / spe, step % spe);
        let order = epoch_order(n, cfg.seed, epoch);
        let indices = &order[batch * cfg.batch_size..((batch + 1) * cfg.batch_size).min(n)];
        let mut rng = step_rng(cfg.seed, step as u64);
        let (x, y) = set.batch::<B>(indices, &cfg.normalization, cfg.augment.map(|a| (a, &mut rng)), device);
        let loss = cross_entropy(model.forward(x, BnMode::Train), y);
        let value: f64 = loss.clone().into_scalar().elem();
        if !value.is_finite() {
            return Err(Error::Training(format!("fine-tuning: the loss became {value} at step {}; lower the learning rate", step + 1)));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr_at(epoch), model, grads);
    }
    Ok(model)
}

/// The sharpness estimate for step `step` (0-based) on detached copies of the weights and of the batch
/// (rebuilt from the same indices and augmentation seed), warm-started from and updating `warm`. A failed
/// estimate (a non-finite product, say) is logged and recorded as NaN: it never stops training.
#[allow(clippy::too_many_arguments)]
fn sharpness_at<B: AutodiffBackend>(
    cfg: &TrainConfig,
    tracking: SharpnessTracking,
    model: &Net<B>,
    data: &TrainData,
    indices: &[usize],
    step: usize,
    warm: &mut Option<Vec<f64>>,
    device: &B::Device,
    bar: &ProgressBar,
) -> Option<SharpnessEstimate> {
    let lifted = lift::<B>(model);
    let mut rng = step_rng(cfg.seed, step as u64);
    let augment = cfg.augment.map(|a| (a, &mut rng));
    let (x, y) = data.train.batch::<B2<B::InnerBackend>>(indices, &cfg.normalization, augment, device);
    let seed = cfg.seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    match estimate_sharpness::<B::InnerBackend>(&lifted, x, y, tracking.hvps, warm.as_deref(), seed) {
        Ok(e) => {
            *warm = Some(e.vector.clone());
            Some(e)
        }
        Err(err) => {
            bar.suspend(|| tracing::warn!("sharpness estimate at step {} failed ({err}); recorded as NaN", step + 1));
            *warm = None;
            None
        }
    }
}

fn initial_model<B: AutodiffBackend>(cfg: &TrainConfig, device: &B::Device) -> Result<Net<B>> {
    B::seed(device, cfg.seed);
    let model = cfg.model.init::<B>(device);
    Ok(match &cfg.init {
        None => model,
        Some(init) => {
            let path = crate::models::resolve_init(init)?;
            if crate::config::is_pytorch_file(&path) {
                hessx_models::load_pytorch(model, &path)?
            } else {
                hessx_models::load_checkpoint::<B>(&path, Some(&cfg.model), device)?.1
            }
        }
    })
}

/// A run directory may only be resumed with the settings it was started with.
fn check_saved_config(cfg: &TrainConfig, run: &RunDir) -> Result<()> {
    let path = run.stage_config("train");
    if !path.exists() || !run.checkpoints().exists() {
        return Ok(());
    }
    let saved: TrainConfig = crate::config::load_stage_config(&path)?;
    let mut ours = cfg.clone();
    // More epochs extend a run; everything else must match.
    ours.epochs = saved.epochs;
    if ours != saved {
        return Err(Error::invalid(format!(
            "{} was started with different settings (see {}); resume it with the same flags, \
             or pass another --run to start a new run",
            run.root().display(),
            path.display()
        )));
    }
    Ok(())
}

/// Checkpoint rows whose model, optimiser and state files exist and whose
/// model checksum matches; rows after the first broken one are dropped.
fn complete_checkpoints(run: &RunDir) -> Result<Vec<CheckpointRow>> {
    if !run.checkpoints().exists() {
        return Ok(Vec::new());
    }
    let rows: Vec<CheckpointRow> = read_rows(&run.checkpoints())?;
    let mut good = Vec::new();
    for row in rows {
        let model = run.root().join(&row.file);
        let ok = model.exists()
            && run.checkpoint_optimizer(row.step).exists()
            && run.checkpoint_state(row.step).exists()
            && sha256_file(&model).is_ok_and(|h| h == row.sha256);
        if !ok {
            tracing::warn!("checkpoint at step {} is incomplete or corrupt; resuming from the one before", row.step);
            break;
        }
        good.push(row);
    }
    Ok(good)
}

#[allow(clippy::too_many_arguments)]
fn save_checkpoint<B: AutodiffBackend>(
    cfg: &TrainConfig,
    run: &RunDir,
    model: &Net<B>,
    optim: &dyn OptimizerBox<Net<B>, B>,
    step: usize,
    interval: &[TrainLogRow],
    data: &TrainData,
    device: &B::Device,
) -> Result<CheckpointRow> {
    let step = step as i64;
    let model_path = run.checkpoint_model(step);
    hessx_models::save_checkpoint(model, &cfg.model, &model_path)?;
    let optim_path = run.checkpoint_optimizer(step);
    let bytes = optim.record_bytes().map_err(|message| Error::Record { path: optim_path.clone(), message })?;
    write_bytes_atomic(&optim_path, &bytes)?;
    let state = serde_json::to_string(&CheckpointState { step }).expect("a step serialises to JSON");
    write_bytes_atomic(&run.checkpoint_state(step), state.as_bytes())?;
    let heldout = evaluate::<B::InnerBackend>(&model.valid(), &data.heldout, cfg, device);
    let mean = |f: fn(&TrainLogRow) -> f64| {
        if interval.is_empty() { f64::NAN } else { interval.iter().map(f).sum::<f64>() / interval.len() as f64 }
    };
    let spe = cfg.steps_per_epoch(data.train.len()) as i64;
    Ok(CheckpointRow {
        step,
        epoch: step / spe,
        batch: step % spe,
        lr: cfg.lr_at((step / spe) as usize),
        train_loss: mean(|r| r.loss),
        train_accuracy: mean(|r| r.accuracy),
        heldout_loss: heldout.loss,
        heldout_accuracy: heldout.accuracy,
        file: relative(run.root(), &model_path),
        sha256: sha256_file(&model_path)?,
        heldout_auc: heldout.auc,
    })
}

/// How a model does on a split.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation {
    /// Mean loss (cross-entropy; binary cross-entropy, i.e. log loss, for a single-logit model).
    pub loss: f64,
    /// Fraction of examples whose predicted class is the label.
    pub accuracy: f64,
    /// Area under the ROC curve for a single-logit binary model (NaN otherwise, or when one class is absent).
    pub auc: f64,
}

/// Loss, accuracy and (for a binary model) AUC of `model` on `set`, with batch norm in eval mode.
pub fn evaluate<B: Backend>(model: &Net<B>, set: &impl BatchSource, cfg: &TrainConfig, device: &B::Device) -> Evaluation {
    let (mut loss, mut correct) = (0.0, 0.0);
    let mut scored: Vec<(f64, bool)> = Vec::new();
    let mut binary = false;
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(cfg.eval_batch_size.max(1)) {
        let (x, y) = set.batch::<B>(chunk, &cfg.normalization, None, device);
        let logits = model.forward(x, BnMode::Eval);
        correct += batch_accuracy(logits.clone(), y.clone()) * chunk.len() as f64;
        if logits.dims()[1] == 1 {
            binary = true;
            let z: Vec<f64> = logits.clone().into_data().convert::<f64>().to_vec().expect("logits are floats");
            let labels: Vec<i64> = y.clone().into_data().convert::<i64>().to_vec().expect("labels are integers");
            scored.extend(z.into_iter().zip(labels.into_iter().map(|l| l == 1)));
        }
        loss += cross_entropy(logits, y).into_scalar().elem::<f64>() * chunk.len() as f64;
    }
    let n = set.len().max(1) as f64;
    Evaluation { loss: loss / n, accuracy: correct / n, auc: if binary { crate::metrics::roc_auc(&scored) } else { f64::NAN } }
}

fn batch_accuracy<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> f64 {
    let n = labels.dims()[0];
    let correct: i64 = predicted_labels(logits).equal(labels).int().sum().into_scalar().elem();
    correct as f64 / n as f64
}

fn write_tables(run: &RunDir, id: &RunIdentity, checkpoints: &[CheckpointRow], log: &[TrainLogRow]) -> Result<()> {
    if !log.is_empty() {
        write_rows(&run.train_log(), id, log)?;
    }
    write_rows(&run.checkpoints(), id, checkpoints)?;
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned()
}

fn progress_bar(len: u64, position: u64) -> ProgressBar {
    let bar = ProgressBar::new(len).with_position(position);
    bar.set_style(
        ProgressStyle::with_template("{spinner} step {pos}/{len} [{elapsed_precise} < {eta_precise}] {wide_bar} {msg}")
            .expect("progress template is valid"),
    );
    bar
}
