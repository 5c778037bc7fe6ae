//! The sweep itself: for one checkpoint of a training run, every cell's
//! accuracy and loss on its images and the top eigenvalues, trace (with its
//! standard error) and spectral density of that loss at the same weights,
//! from one stochastic Lanczos pass per cell. Cells already on disk are
//! skipped, so a killed sweep resumes; `--shard i/n` splits the cells.

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use burn::module::AutodiffModule;
use hessx_data::corrupt::corrupt_set;
use hessx_data::{ImageSet, load_images};
use hessx_hessian::{
    B1, DEFAULT_DETERMINISM_TOL, FirstProductChecked, OnePassConfig, ParamLayout, SlqConfig, SlqRun, SymOp, density, density_runs, one_pass, pyhessian_grid,
};
use hessx_models::{Net, load_checkpoint};
use hessx_pipeline::batches::epoch_order;
use hessx_pipeline::config::{load_stage_config, save_config};
use hessx_pipeline::curvature::{ModelHessian, ProductEngine, hessian_batches, training_config, without_diverged};
use hessx_pipeline::distributed::{Claims, is_writer, job_progress_bar, world};
use hessx_pipeline::settings::{engine_rule, engine_weights};
use hessx_pipeline::train::{Evaluation, TrainConfig, evaluate, fine_tune};
use hessx_store::robustness::{CellDensityRow, CellEigenvalueRow, CellRow, SweepDir};
use hessx_store::tables::{CheckpointRow, read_rows, write_rows};
use hessx_store::{DataDir, RunDir, RunIdentity, remove_stale_temps};
use serde::{Deserialize, Serialize};

use crate::cells::{Cell, cell_images, sweep_cells};
use crate::settings::{Request, Shard, SweepSettings};
use crate::{Error, Result};

/// `settings.toml` of a sweep: the fingerprint beside what it is a fingerprint of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSettings {
    /// The fingerprint, `settings_id` of every row.
    pub settings_id: String,
    /// The run the sweep measured.
    pub run: String,
    /// The settings.
    pub settings: SweepSettings,
}

/// What one process did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    /// The sweep's folder.
    pub dir: SweepDir,
    /// The settings' fingerprint.
    pub settings_id: String,
    /// Cells of the whole sweep.
    pub cells: usize,
    /// Cells this process computed now.
    pub computed: usize,
    /// Cells of the whole sweep still missing afterwards.
    pub missing: usize,
    /// Corruptions left out because they do not apply to the images, with why.
    pub not_applicable: Vec<String>,
    /// Hessian-vector products this process used.
    pub hvps: u64,
    /// Wall-clock seconds of this process's cells.
    pub seconds: f64,
    /// The page, when it was drawn.
    pub page: Option<PathBuf>,
}

impl std::fmt::Display for SweepOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sweep {} (settings {}): {} new cell(s) in {:.1} s ({} products), {} of {} done",
            self.dir.root().display(),
            self.settings_id,
            self.computed,
            self.seconds,
            self.hvps,
            self.cells - self.missing,
            self.cells
        )?;
        if !self.not_applicable.is_empty() {
            write!(f, "; not applicable here: {}", self.not_applicable.join(", "))?;
        }
        if let Some(page) = &self.page {
            write!(f, "\n-> {}", page.display())?;
        }
        Ok(())
    }
}

/// What every cell shares: the run, the checkpoint on both backends, the clean images and the subsets.
struct Shared<B: Backend> {
    data: DataDir,
    train: TrainConfig,
    identity: RunIdentity,
    settings: SweepSettings,
    id: String,
    clean: ImageSet,
    /// The clean training split, when cells are fine-tuned on its corruption.
    clean_train: Option<ImageSet>,
    subset: Vec<usize>,
    plain: Net<B>,
    model: Net<B1<B>>,
    layout: ParamLayout,
}

/// Run this process's part of the sweep `req` on `device`.
pub fn run_sweep<B: Backend>(req: &Request, device: &B::Device) -> Result<SweepOutcome> {
    let run = RunDir::new(&req.run);
    let train = training_config(&run)?;
    let checkpoint = pick_checkpoint(&run, req.step)?;
    let data = DataDir::new(&req.data_dir);
    let dataset = train.identity.dataset.clone();
    if train.model.input.kind() != "images" {
        return Err(Error::Input(format!(
            "--run {}: {} takes {}, but hx-robustness sweeps image corruptions; for a shift of tabular rows or \
             token sequences, make it with `hx-fetch {dataset} --corruption NAME --severity S` and train or \
             evaluate on it with hx-train --corruption",
            run.root().display(),
            train.model.name(),
            train.model.input.kind()
        )));
    }
    let clean = load_images(&data, &dataset, "test", None)?;
    let mut settings = req.settings.clone();
    settings.dataset = dataset;
    settings.model = train.model.name();
    settings.step = checkpoint.step;
    settings.checkpoint_sha256 = checkpoint.sha256.clone();
    settings.validate()?;
    let id = settings.id();
    let (cells, not_applicable) = sweep_cells(&settings.corruptions, &settings.severities, clean.shape[0], req.explicit_corruptions)?;
    for skipped in &not_applicable {
        tracing::warn!("left out of the sweep: {skipped}");
    }
    let name = match &req.name {
        Some(name) => check_name(name)?,
        None => id.clone(),
    };
    let dir = run.robustness(&name);
    let saved = SavedSettings { settings_id: id.clone(), run: run.name(), settings: settings.clone() };
    claim_folder(&dir, &saved, req.name.is_some())?;
    for folder in [dir.cells_dir(), dir.eigenvalues_dir(), dir.density_dir()] {
        remove_stale_temps(&folder);
    }

    // Under mpirun the ranks share the cells dynamically (each claims the next free one), so every
    // rank starts from every missing cell; --shard splits them statically between separate processes.
    let ranks = world().size();
    if ranks > 1 && req.shard != Shard::WHOLE {
        return Err(Error::Input(format!("--shard {} under mpirun: the {ranks} ranks already share the cells; use one or the other", req.shard)));
    }
    let todo: Vec<Cell> = cells
        .iter()
        .enumerate()
        .filter(|(position, cell)| req.shard.owns(*position) && !is_done(&dir, cell, &id).unwrap_or(false))
        .map(|(_, cell)| *cell)
        .collect();
    let claims = Claims::open(&dir.cells_dir())?;
    let mut outcome = SweepOutcome {
        dir: dir.clone(),
        settings_id: id.clone(),
        cells: cells.len(),
        computed: 0,
        missing: 0,
        not_applicable,
        hvps: 0,
        seconds: 0.0,
        page: None,
    };
    let budget = req.max_cells.unwrap_or(usize::MAX);
    if !todo.is_empty() && budget > 0 {
        let path = run.root().join(&checkpoint.file);
        let (_, plain) = load_checkpoint::<B>(&path, Some(&train.model), device)?;
        let (_, model) = load_checkpoint::<B1<B>>(&path, Some(&train.model), device)?;
        let layout = ParamLayout::trainable(&model)?;
        let mut order = epoch_order(clean.len(), settings.seed ^ 0x0c0f_fee5, 0);
        order.truncate(settings.examples.unwrap_or(usize::MAX).min(clean.len()));
        let mut identity = train.identity.clone();
        identity.run = run.name();
        let clean_train = match settings.finetune {
            Some(_) => Some(load_images(&data, &settings.dataset, "train", None)?),
            None => None,
        };
        let shared = Shared { data, train, identity, settings, id: id.clone(), clean, clean_train, subset: order, plain, model, layout };
        tracing::info!(
            "sweep {name}: {} of {} cells for this process ({}), checkpoint step {}, {} test images per cell, Hessian over {} of them and {} parameters",
            todo.len(),
            cells.len(),
            req.shard,
            checkpoint.step,
            shared.subset.len(),
            shared.settings.hessian_examples.min(shared.subset.len()),
            shared.layout.dim(),
        );
        // One bar for the job, on rank 0: it counts every rank's finished cells.
        let bar = job_progress_bar(todo.len());
        let done_before = cells.len() - todo.len();
        let started = Instant::now();
        for cell in &todo {
            if outcome.computed == budget {
                break;
            }
            if !claims.take(&SweepDir::cell_stem(cell.name(), cell.severity))? {
                continue;
            }
            let row = measure_cell(&shared, &dir, *cell, device)?;
            outcome.computed += 1;
            outcome.hvps += row.hvps as u64;
            bar.suspend(|| {
                tracing::info!(
                    "{cell}: accuracy {:.2}%, loss {:.4}, lambda_max {:.4}, trace {:.3} ± {:.3} (95 % interval), {} products, {:.1} s",
                    100.0 * row.accuracy,
                    row.loss,
                    row.lambda_max,
                    row.trace,
                    row.trace_half_width_95,
                    row.hvps,
                    row.seconds
                )
            });
            let finished = SweepDir::tables_in(&dir.cells_dir())?.len();
            bar.set_position(finished.saturating_sub(done_before) as u64);
        }
        bar.finish_and_clear();
        outcome.seconds = started.elapsed().as_secs_f64();
    }
    // Every rank's cells are on disk before anyone counts them.
    world().barrier();
    outcome.missing = missing_cells(&dir, &cells, &id)?.len();
    if outcome.missing == 0 && req.draw && is_writer() {
        outcome.page = Some(crate::page::draw(&dir)?);
    }
    Ok(outcome)
}

/// The cells of `cells` that have no finished table in `dir` with settings `id`.
pub fn missing_cells(dir: &SweepDir, cells: &[Cell], id: &str) -> Result<Vec<Cell>> {
    let mut out = Vec::new();
    for cell in cells {
        if !is_done(dir, cell, id)? {
            out.push(*cell);
        }
    }
    Ok(out)
}

/// Whether `cell` has its (last-written) cell table, made with settings `id`.
fn is_done(dir: &SweepDir, cell: &Cell, id: &str) -> Result<bool> {
    let path = dir.cell(cell.name(), cell.severity);
    if !path.exists() {
        return Ok(false);
    }
    let rows: Vec<CellRow> = read_rows(&path)?;
    match rows.first() {
        Some(row) if row.settings_id == id => Ok(true),
        Some(row) => Err(Error::Input(format!(
            "{}: written with settings {}, but this sweep's are {id}; the folder belongs to another sweep",
            path.display(),
            row.settings_id
        ))),
        None => Ok(false),
    }
}

/// The checkpoint at `step` (default: the last one that did not diverge).
fn pick_checkpoint(run: &RunDir, step: Option<i64>) -> Result<CheckpointRow> {
    let all: Vec<CheckpointRow> = read_rows(&run.checkpoints())?;
    let available: Vec<i64> = all.iter().map(|c| c.step).collect();
    let healthy = without_diverged(all)?;
    match step {
        None => healthy.last().cloned().ok_or_else(|| Error::Input(format!("{}: no checkpoint", run.checkpoints().display()))),
        Some(step) => healthy
            .into_iter()
            .find(|c| c.step == step)
            .ok_or_else(|| Error::Input(format!("--step {step}: no such healthy checkpoint (steps: {available:?})"))),
    }
}

fn check_name(name: &str) -> Result<String> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
        return Err(Error::Input(format!("--name {name:?}: a folder name without `/` that does not start with `.`")));
    }
    Ok(name.to_owned())
}

/// Write the sweep's `settings.toml`, or check that the one there holds the
/// same settings: a folder never mixes rows of two settings.
fn claim_folder(dir: &SweepDir, saved: &SavedSettings, named: bool) -> Result<()> {
    let path = dir.settings();
    if path.exists() {
        let there: SavedSettings = load_stage_config(&path)?;
        if there.settings_id != saved.settings_id {
            let hint = if named { "pick another --name, or delete the folder to replace it" } else { "delete the folder to recompute it" };
            return Err(Error::Input(format!(
                "{} holds a sweep with settings {}, not these ({}): {hint}",
                path.display(),
                there.settings_id,
                saved.settings_id
            )));
        }
        return Ok(());
    }
    save_config(&path, saved)?;
    Ok(())
}

/// Measure one cell and write its three tables (the cell row last).
fn measure_cell<B: Backend>(s: &Shared<B>, dir: &SweepDir, cell: Cell, device: &B::Device) -> Result<CellRow> {
    let t0 = Instant::now();
    let (images, source) = cell_images(&s.data, &s.settings.dataset, &s.clean, &s.subset, cell, s.settings.source, s.settings.corruption_seed)?;
    let tuned = fine_tuned(s, cell, device)?;
    let (plain, model) = match &tuned {
        Some(model) => (model.valid(), model.clone()),
        None => (s.plain.clone(), s.model.clone()),
    };
    let Evaluation { loss, accuracy, .. } = evaluate::<B>(&plain, &images, &s.train, device);
    if !loss.is_finite() {
        return Err(Error::Input(format!(
            "{cell}: the loss of checkpoint step {} on these images is {loss}; the checkpoint or the images are broken",
            s.settings.step
        )));
    }
    let hessian: Vec<usize> = (0..s.settings.hessian_examples.min(images.len())).collect();
    let batches = hessian_batches::<B>(&images, &hessian, s.settings.mini_batch_size, &s.train.normalization, s.settings.bn_mode, device);
    // Its own check, not checkpoint_hessian's shared one: under MPI each rank measures other cells.
    let mut op = FirstProductChecked::new(ModelHessian::new(model, s.layout.clone(), batches, ProductEngine::Auto)?, DEFAULT_DETERMINISM_TOL);
    let cfg = OnePassConfig {
        slq: SlqConfig { iter: s.settings.iter, n_v: 1, seed: s.settings.seed, step: cell.stream(), ..Default::default() },
        k: s.settings.top_k,
        tol: s.settings.tol,
        verify: true,
        trace_probes: s.settings.trace_probes,
        density_weights: engine_weights(s.settings.density_weights),
        density_rule: engine_rule(s.settings.density_rule),
        // Every cell takes the same --iter steps, so that cells compare alike.
        max_iter: 0,
    };
    let result = one_pass(&mut op, &cfg)?;
    // The density and its negative mass from the same rule and weights (result.runs keeps the Gauss
    // rule and the probes' weights).
    let weighted = density_runs(&result.runs, cfg.density_rule, cfg.density_weights);
    let (grid, kernel_variance) = pyhessian_grid(&weighted, s.settings.num_bins, s.settings.sigma_squared, 0.01);
    let values = density(&weighted, &grid, kernel_variance)?;
    let sigma = kernel_variance.sqrt();
    let identity = RunIdentity { corruption: cell.name().to_owned(), severity: cell.severity, ..s.identity.clone() };
    let eigen: Vec<CellEigenvalueRow> = (0..result.eigen.values.len())
        .map(|rank| CellEigenvalueRow {
            settings_id: s.id.clone(),
            rank: rank as u32,
            eigenvalue: result.eigen.values[rank],
            residual: result.eigen.residuals[rank],
            converged: result.eigen.converged[rank],
        })
        .collect();
    let density_rows: Vec<CellDensityRow> = grid
        .iter()
        .zip(&values)
        .map(|(&lambda, &density)| CellDensityRow { settings_id: s.id.clone(), lambda, density, sigma })
        .collect();
    let row = CellRow {
        settings_id: s.id.clone(),
        step: s.settings.step,
        source: source.to_owned(),
        finetune_steps: s.settings.finetune.as_ref().map_or(0, |f| f.steps as i64),
        examples: images.len() as i64,
        accuracy,
        loss,
        hessian_examples: hessian.len() as i64,
        num_params: s.layout.dim() as i64,
        lambda_max: result.eigen.values[0],
        lambda_max_residual: result.eigen.residuals[0],
        trace: result.trace.estimate,
        trace_std_error: result.trace.std_error,
        trace_probes: result.trace.probes as i64,
        trace_half_width_95: result.trace.half_width_95(),
        negative_mass: negative_mass(&weighted),
        hvps: op.hvps() as i64,
        seconds: t0.elapsed().as_secs_f64(),
    };
    write_rows(&dir.cell_eigenvalues(cell.name(), cell.severity), &identity, &eigen)?;
    write_rows(&dir.cell_density(cell.name(), cell.severity), &identity, &density_rows)?;
    write_rows(&dir.cell(cell.name(), cell.severity), &identity, std::slice::from_ref(&row))?;
    Ok(row)
}

/// The checkpoint fine-tuned on the cell's corruption of the clean training
/// split (clean cell: the split itself), when the sweep asks for it.
fn fine_tuned<B: Backend>(s: &Shared<B>, cell: Cell, device: &B::Device) -> Result<Option<Net<B1<B>>>> {
    let (Some(f), Some(train)) = (&s.settings.finetune, &s.clean_train) else {
        return Ok(None);
    };
    let images = match cell.corruption {
        None => train.clone(),
        Some(c) => corrupt_set(train, c, cell.severity, s.settings.corruption_seed, false)?,
    };
    let cfg = TrainConfig {
        lr: f.lr,
        batch_size: f.batch_size,
        lr_decay_epochs: Vec::new(),
        augment: None,
        seed: s.settings.seed,
        sharpness: None,
        ..s.train.clone()
    };
    Ok(Some(fine_tune::<B1<B>>(&cfg, s.model.clone(), &images, f.steps, device)?))
}

/// The quadrature's mass on negative eigenvalues, averaged over the runs: the
/// weights of each run are a probability measure over its Ritz values, the
/// spectral measure seen from that probe, so no kernel width enters.
pub fn negative_mass(runs: &[SlqRun]) -> f64 {
    let per_run = runs.iter().map(|r| r.nodes.iter().zip(&r.weights).filter(|(n, _)| **n < 0.0).map(|(_, w)| w).sum::<f64>());
    per_run.sum::<f64>() / runs.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_mass_sums_the_weights_of_negative_nodes() {
        let runs = [
            SlqRun { nodes: vec![-1.0, 0.5, 2.0], weights: vec![0.2, 0.3, 0.5], residuals: vec![f64::NAN; 3] },
            SlqRun { nodes: vec![-3.0, -0.1, 4.0], weights: vec![0.1, 0.1, 0.8], residuals: vec![f64::NAN; 3] },
        ];
        assert!((negative_mass(&runs) - (0.2 + 0.2) / 2.0).abs() < 1e-12);
    }
}
