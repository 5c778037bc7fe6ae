//! From a training run to a surface: pick the origin checkpoint, make or
//! load the directions, load the run's data, record the settings, and
//! evaluate the grid (or this process's shard of it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::backend::Autodiff;
use burn::prelude::*;
use hessx_hessian::ParamLayout;
use hessx_models::{ModelSpec, Net, load_checkpoint};
use hessx_pipeline::batches::epoch_order;
use hessx_pipeline::checksum::sha256_file;
use hessx_pipeline::curvature::{HessianBnMode, hessian_batches, is_bias_or_bn, selects_param};
use hessx_pipeline::data_setup::load_train_data;
use hessx_pipeline::train::TrainConfig;
use hessx_store::landscape::{DirectionRow, LandscapeDir};
use hessx_store::tables::{CheckpointRow, EigenvectorRow, read_rows, read_rows_with_identity, write_rows};
use hessx_store::{DataDir, RunDir, RunIdentity};

use crate::curvature::CurvatureConfig;
use crate::directions::{DirType, Norm, normalize, random_direction, zero_biasbn};
use crate::error::{Error, Result};
use crate::eval::{EvalSet, LossKind, ModelObjective, Split};
use crate::grid::{Grid, Shard};
use hessx_pipeline::distributed::{Claims, is_writer, job_progress_bar, world};
use crate::plots::{self, PlotOptions};
use crate::settings::{DataSettings, DirectionSource, Origin, SavedSettings, SurfaceSettings, fingerprint, record_or_check};
use crate::state::StateLayout;
use crate::surface::{Plane, Progress, SurfaceJob, compute};
use crate::trajectory::{self, Trajectory};

/// How the axes are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Axes {
    /// Seeded random directions, normalised (the seed's default).
    Random {
        /// Seed of x (y uses `seed + 1`).
        seed: u64,
        /// Normalisation of x.
        xnorm: Norm,
        /// Normalisation of y.
        ynorm: Norm,
        /// Zero biases and batch norm in x.
        xignore_biasbn: bool,
        /// Zero biases and batch norm in y.
        yignore_biasbn: bool,
        /// y is x again.
        same_dir: bool,
    },
    /// The top-1 (x) and top-2 (y) Hessian eigenvectors hx-eigen saved.
    Eigen {
        /// Normalisation of x (`none` keeps the unit eigenvector).
        xnorm: Norm,
        /// Normalisation of y.
        ynorm: Norm,
        /// Zero biases and batch norm in x.
        xignore_biasbn: bool,
        /// Zero biases and batch norm in y.
        yignore_biasbn: bool,
        /// The settings fingerprint of the eigenvectors (needed when hx-eigen ran with several).
        eigen_settings: Option<String>,
    },
    /// The line from the origin (x = 0) to a second model (x = 1).
    Interpolate {
        /// The second model's checkpoint.
        target: PathBuf,
    },
    /// The first two principal directions of the run's checkpoints around
    /// the origin, with the trajectory projected on them.
    Pca {
        /// Zero biases and batch norm before the PCA.
        ignore_biasbn: bool,
    },
}

/// A surface request, resolved from the flags.
#[derive(Debug, Clone)]
pub struct Request {
    /// The training run (data settings, checkpoints, eigenvectors; outputs go in its `landscape/`).
    pub run: PathBuf,
    /// The datasets written by hx-fetch.
    pub data_dir: PathBuf,
    /// The surface's name (default: its kind and fingerprint).
    pub name: Option<String>,
    /// The origin model file (default: the run's checkpoint at `step`).
    pub model_file: Option<PathBuf>,
    /// The origin checkpoint's step (default: the last).
    pub step: Option<i64>,
    /// The directions.
    pub axes: Axes,
    /// Which tensors directions span.
    pub dir_type: DirType,
    /// The grid.
    pub grid: Grid,
    /// Splits evaluated.
    pub splits: Vec<Split>,
    /// Examples per split (0: all).
    pub examples: usize,
    /// Seed of the example subset.
    pub data_seed: u64,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// The loss.
    pub loss: LossKind,
    /// This process's share of the grid.
    pub shard: Shard,
    /// Rewrite the table at least this often.
    pub save_every: Duration,
    /// Stop after this many new points.
    pub max_points: Option<usize>,
    /// The backend's name (recorded, not fingerprinted).
    pub backend: String,
    /// Also the extreme Hessian eigenvalues at every point.
    pub curvature: Option<CurvatureConfig>,
}

/// What [`compute_surface`] did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The surface's folder.
    pub dir: LandscapeDir,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The settings.
    pub settings: SurfaceSettings,
    /// Points done in this process.
    pub progress: Progress,
    /// Identity columns of the run.
    pub identity: RunIdentity,
    /// Seconds of one plain forward pass of the origin model over the same
    /// examples (every split), timed before the grid when points remain: the
    /// yardstick for the cost of a point.
    pub forward_seconds: Option<f64>,
}

/// The run's training configuration and identity.
pub fn open_run(run: &RunDir) -> Result<(TrainConfig, RunIdentity)> {
    let path = run.stage_config("train");
    if !path.exists() {
        return Err(Error::mismatch(
            &path,
            format!("missing: is {} a training run? hx-landscape needs the run hx-train wrote (--run)", run.root().display()),
        ));
    }
    let train: TrainConfig = hessx_pipeline::config::load_stage_config(&path)?;
    let mut identity = train.identity.clone();
    identity.run = run.name();
    Ok((train, identity))
}

/// The run's checkpoints, less those that diverged (skipped with a warning).
fn checkpoints(run: &RunDir) -> Result<Vec<CheckpointRow>> {
    let path = run.checkpoints();
    if !path.exists() {
        return Err(Error::mismatch(&path, "missing: the run has no checkpoints yet (hx-train writes them)"));
    }
    Ok(hessx_pipeline::curvature::without_diverged(read_rows(&path)?)?)
}

/// The origin's file and step: `--model-file` (step from the checkpoint
/// table when it is one of the run's), else the checkpoint at `--step`, else the last.
fn origin_file(run: &RunDir, model_file: Option<&Path>, step: Option<i64>) -> Result<(PathBuf, i64)> {
    let rows = checkpoints(run)?;
    if let Some(file) = model_file {
        if !file.exists() {
            return Err(Error::Input(format!("--model-file {}: no such file", file.display())));
        }
        let canon = std::fs::canonicalize(file).ok();
        let step = rows
            .iter()
            .find(|r| std::fs::canonicalize(run.root().join(&r.file)).ok() == canon && canon.is_some())
            .map_or(-1, |r| r.step);
        return Ok((file.to_owned(), step));
    }
    let row = match step {
        Some(s) => rows.iter().find(|r| r.step == s).ok_or_else(|| {
            let have: Vec<i64> = rows.iter().map(|r| r.step).collect();
            Error::Input(format!("--step {s}: no such checkpoint in {} (available: {have:?})", run.root().display()))
        })?,
        None => rows.last().ok_or_else(|| Error::mismatch(run.checkpoints(), "has no checkpoints"))?,
    };
    Ok((run.root().join(&row.file), row.step))
}

/// Compute (or resume) the surface `req` asks for, on backend `B`.
pub fn compute_surface<B: Backend>(req: &Request, device: &B::Device, bar: &indicatif::ProgressBar) -> Result<Outcome> {
    let run = RunDir::new(&req.run);
    let (train, identity) = open_run(&run)?;
    let (file, step) = origin_file(&run, req.model_file.as_deref(), req.step)?;
    if req.grid.y.is_some() && matches!(req.axes, Axes::Interpolate { .. }) {
        return Err(Error::Input("--y: an interpolation between two models is 1D; leave out --y".into()));
    }
    if req.curvature.is_some() && req.shard.count > 1 {
        return Err(Error::Input("--curvature: curvature maps are computed in one process; leave out --shard".into()));
    }
    if req.grid.y.is_none() && matches!(req.axes, Axes::Pca { .. }) {
        return Err(Error::Input("--y: a trajectory surface is 2D: give --y min:max:num".into()));
    }
    let (spec, net) = load_checkpoint::<B>(&file, Some(&train.model), device)?;
    let layout = StateLayout::of(&net);
    let w = layout.read(&net);
    let origin = Origin { file: recorded_path(&run, &file), sha256: sha256_file(&file)?, step, model: spec.name() };
    let two_d = req.grid.y.is_some();
    let (x, y, dx, dy, traj) = make_directions::<B>(req, &run, &file, step, &spec, &layout, &w, two_d, device)?;

    let data = load_train_data(
        &DataDir::new(&req.data_dir),
        &train.identity.dataset,
        (train.identity.corruption != "none").then_some((train.identity.corruption.as_str(), train.identity.severity)),
        train.heldout_fraction,
        train.seed,
    )?;
    let mut sets = Vec::new();
    for &split in &req.splits {
        let set = match split {
            Split::Train => &data.train,
            Split::Test => &data.heldout,
        };
        if set.is_empty() {
            return Err(Error::Input(format!("--split {}: the run's {} split is empty", split.name(), split.name())));
        }
        let mut idx = epoch_order(set.len(), req.data_seed ^ 0x1a4d_5ca9, 0);
        if req.examples > 0 {
            idx.truncate(req.examples);
        }
        sets.push(EvalSet::<B>::new(split, set, &idx, &train.normalization, req.batch_size, device));
    }
    let settings = SurfaceSettings {
        origin,
        dir_type: req.dir_type,
        x,
        y,
        grid: req.grid,
        data: DataSettings {
            dataset: train.identity.dataset.clone(),
            corruption: train.identity.corruption.clone(),
            severity: train.identity.severity,
            splits: req.splits.clone(),
            examples: req.examples,
            seed: req.data_seed,
            batch_size: req.batch_size,
        },
        loss: req.loss,
        curvature: req.curvature.clone(),
    };
    let mut dirs: Vec<&[f32]> = vec![&dx];
    if let Some(dy) = &dy {
        dirs.push(dy);
    }
    let fp = fingerprint(&settings, &dirs);
    let name = match &req.name {
        Some(n) => validate_name(n)?,
        None => format!("{}-{}", default_kind(&req.axes, two_d, step), &fp[..8]),
    };
    let dir = run.landscape(&name);
    record_or_check(&dir, &SavedSettings { fingerprint: fp.clone(), backend: req.backend.clone(), settings: settings.clone() })?;
    write_directions(&dir, &identity, step, &fp, &settings, &dx, dy.as_deref())?;
    if let Some(t) = &traj {
        trajectory::write(&dir, &identity, &fp, t)?;
    }
    // One forward pass over the same examples, the unit a point's cost is reported in. The first
    // evaluation warms up the backend's kernels; the second is timed.
    let forward_seconds = (!crate::surface::is_complete_shard(&dir, req.grid, &req.splits, req.shard)?).then(|| {
        let forward = || {
            for set in &sets {
                crate::eval::evaluate_set(&net, set, req.loss);
            }
        };
        forward();
        let t0 = std::time::Instant::now();
        forward();
        t0.elapsed().as_secs_f64()
    });
    let mut objective = ModelObjective::new(net, sets, req.loss, device);
    let plane = Plane {
        dir: &dir,
        identity: &identity,
        step,
        fingerprint: &fp,
        grid: req.grid,
        origin: &w,
        dx: &dx,
        dy: dy.as_deref(),
    };
    let job = SurfaceJob {
        plane,
        splits: &req.splits,
        shard: req.shard,
        save_every: req.save_every,
        max_points: req.max_points,
    };
    let progress = compute(&job, &mut objective, bar)?;
    if let Some(cfg) = &req.curvature
        && progress.complete()
    {
        let (_, net1) = load_checkpoint::<Autodiff<B>>(&file, Some(&spec), device)?;
        let layout1 = StateLayout::of(&net1);
        let mut idx = epoch_order(data.train.len(), cfg.seed ^ 0x4e55_1a11, 0);
        idx.truncate(cfg.examples.max(1));
        let batches = hessian_batches::<B>(&data.train, &idx, req.batch_size, &train.normalization, HessianBnMode::Eval, device);
        let cjob = crate::curvature::CurvatureJob {
            plane,
            config: cfg,
            save_every: req.save_every,
            max_points: req.max_points.map(|m| m.saturating_sub(progress.computed)),
        };
        bar.reset();
        crate::curvature::compute::<B>(&cjob, net1, &layout1, &batches, device, bar)?;
    }
    Ok(Outcome { dir, fingerprint: fp, settings, progress, identity, forward_seconds })
}

/// A file as the settings record it: relative to the run when inside it, else
/// its name alone (its checksum identifies it), so that processes on other
/// machines, with the run at another path, agree on the settings.
fn recorded_path(run: &RunDir, path: &Path) -> PathBuf {
    let (Ok(root), Ok(full)) = (std::fs::canonicalize(run.root()), std::fs::canonicalize(path)) else {
        return path.file_name().map_or_else(|| path.to_owned(), PathBuf::from);
    };
    match full.strip_prefix(&root) {
        Ok(rel) => rel.to_owned(),
        Err(_) => path.file_name().map_or_else(|| path.to_owned(), PathBuf::from),
    }
}

fn validate_name(name: &str) -> Result<String> {
    if name.is_empty() || name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::Input(format!("--name {name}: use letters, digits, `-`, `_` and `.` only (it names a folder)")));
    }
    Ok(name.to_owned())
}

fn default_kind(axes: &Axes, two_d: bool, step: i64) -> String {
    let dims = if two_d { "2d" } else { "1d" };
    let at = if step >= 0 { format!("step{step}") } else { "file".into() };
    match axes {
        Axes::Random { .. } => format!("random-{dims}-{at}"),
        Axes::Eigen { .. } => format!("eigen-{dims}-{at}"),
        Axes::Interpolate { .. } => format!("interp-{at}"),
        Axes::Pca { .. } => format!("trajectory-{at}"),
    }
}

type Directions = (DirectionSource, Option<DirectionSource>, Vec<f32>, Option<Vec<f32>>, Option<Trajectory>);

#[allow(clippy::too_many_arguments)]
fn make_directions<B: Backend>(
    req: &Request,
    run: &RunDir,
    file: &Path,
    step: i64,
    spec: &ModelSpec,
    layout: &StateLayout,
    w: &[f32],
    two_d: bool,
    device: &B::Device,
) -> Result<Directions> {
    let dir_type = req.dir_type;
    match &req.axes {
        Axes::Random { seed, xnorm, ynorm, xignore_biasbn, yignore_biasbn, same_dir } => {
            let mut dx = random_direction(layout, dir_type, *seed);
            normalize(layout, &mut dx, w, dir_type, *xnorm, *xignore_biasbn, true);
            let x = DirectionSource::Random { seed: *seed, norm: *xnorm, ignore_biasbn: *xignore_biasbn };
            if !two_d {
                return Ok((x, None, dx, None, None));
            }
            if *same_dir {
                return Ok((x, Some(DirectionSource::SameAsX), dx.clone(), Some(dx), None));
            }
            let mut dy = random_direction(layout, dir_type, seed.wrapping_add(1));
            normalize(layout, &mut dy, w, dir_type, *ynorm, *yignore_biasbn, true);
            let y = DirectionSource::Random { seed: seed.wrapping_add(1), norm: *ynorm, ignore_biasbn: *yignore_biasbn };
            Ok((x, Some(y), dx, Some(dy), None))
        }
        Axes::Eigen { xnorm, ynorm, xignore_biasbn, yignore_biasbn, eigen_settings } => {
            if step < 0 {
                return Err(Error::Input(format!(
                    "--axes eigen: {} is not one of the run's checkpoints, so hx-eigen has no eigenvectors for it; use --step",
                    file.display()
                )));
            }
            let (settings_id, table) = eigen_table(run, step, eigen_settings.as_deref())?;
            let vectors = eigenvectors::<B>(run, &table, &settings_id, file, spec, layout, if two_d { 2 } else { 1 }, device)?;
            let sha = sha256_file(&table)?;
            let mut out = Vec::new();
            for ((rank, eigenvalue, mut d), (norm, ignore)) in vectors.into_iter().zip([(*xnorm, *xignore_biasbn), (*ynorm, *yignore_biasbn)]) {
                if norm == Norm::None {
                    if ignore {
                        zero_biasbn(layout, &mut d);
                    }
                } else {
                    normalize(layout, &mut d, w, DirType::Weights, norm, ignore, false);
                }
                let src = DirectionSource::Eigenvector { table: recorded_path(run, &table), sha256: sha.clone(), rank, eigenvalue, norm, ignore_biasbn: ignore };
                out.push((src, d));
            }
            let mut it = out.into_iter();
            let (x, dx) = it.next().expect("one eigenvector at least");
            let (y, dy) = it.next().unzip();
            Ok((x, y, dx, dy, None))
        }
        Axes::Interpolate { target } => {
            let (_, other) = load_checkpoint::<B>(target, Some(spec), device).map_err(|e| match e {
                hessx_models::Error::WrongModel { .. } => {
                    Error::Input(format!("--model-file2: {e}; both models of an interpolation must be the same network"))
                }
                e => Error::Model(e),
            })?;
            let w2 = layout.read(&other);
            let w2 = w2.as_slice();
            let d: Vec<f32> = layout
                .tensors
                .iter()
                .flat_map(|t| {
                    let keep = dir_type.includes(t);
                    t.range().map(move |i| if keep { w2[i] - w[i] } else { 0.0 })
                })
                .collect();
            let x = DirectionSource::Interpolation { target: recorded_path(run, target), sha256: sha256_file(target)? };
            Ok((x, None, d, None, None))
        }
        Axes::Pca { ignore_biasbn } => {
            let rows = checkpoints(run)?;
            let mut states = Vec::new();
            for r in &rows {
                let (_, net) = load_checkpoint::<B>(&run.root().join(&r.file), Some(spec), device)?;
                states.push((r.step, layout.read(&net)));
            }
            let t = trajectory::pca(layout, w, &states, dir_type, *ignore_biasbn)?;
            let steps: Vec<i64> = rows.iter().map(|r| r.step).collect();
            let x = DirectionSource::Pca { component: 0, steps: steps.clone(), ignore_biasbn: *ignore_biasbn };
            let y = DirectionSource::Pca { component: 1, steps, ignore_biasbn: *ignore_biasbn };
            let (dx, dy) = (t.dx.clone(), t.dy.clone());
            Ok((x, Some(y), dx, Some(dy), Some(t)))
        }
    }
}

/// The eigenvector table of `step`: the one of settings `wanted`, or the only
/// one there is. A run may hold eigenvectors of several settings (say Lanczos
/// and power iteration); then `--eigen-settings` picks one.
fn eigen_table(run: &RunDir, step: i64, wanted: Option<&str>) -> Result<(String, PathBuf)> {
    let tables: Vec<(String, PathBuf)> =
        run.eigenvector_tables()?.into_iter().filter(|(_, s, _)| *s == step).map(|(id, _, path)| (id, path)).collect();
    let ids: Vec<&str> = tables.iter().map(|(id, _)| id.as_str()).collect();
    match wanted {
        Some(w) => tables.iter().find(|(id, _)| id == w).cloned().ok_or_else(|| {
            Error::Input(format!(
                "--eigen-settings {w}: no eigenvectors of those settings at step {step} in {} (there are: {})",
                run.eigenvectors_dir().display(),
                if ids.is_empty() { "none".to_owned() } else { ids.join(", ") }
            ))
        }),
        None => match tables.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Error::mismatch(
                run.eigenvectors_dir(),
                format!("no Hessian eigenvectors for step {step}; run `hx-eigen --run {} --steps {step}` first", run.root().display()),
            )),
            // Beside per-block eigenvectors (hx-eigen --blocks), the whole model's are the ones meant.
            _ if whole_model(run, &ids)?.is_some() => {
                let id = whole_model(run, &ids)?.expect("checked");
                Ok(tables.into_iter().find(|(t, _)| *t == id).expect("one of the ids"))
            }
            _ => Err(Error::Input(format!(
                "--axes eigen: step {step} has eigenvectors of several settings ({}); pick one with --eigen-settings (settings.parquet describes them)",
                ids.join(", ")
            ))),
        },
    }
}

/// The one of `ids` whose recorded settings cover every parameter (`params` all), if exactly one does;
/// between hx-eigen's and hx-spectrum's (one-pass also saves its Ritz vectors), hx-eigen's.
fn whole_model(run: &RunDir, ids: &[&str]) -> Result<Option<String>> {
    let rows: Vec<hessx_store::tables::SettingsRow> =
        if run.settings().exists() { hessx_store::tables::read_rows(&run.settings())? } else { Vec::new() };
    let whole = |stage: Option<hessx_store::Stage>| -> Vec<&str> {
        ids.iter()
            .copied()
            .filter(|id| rows.iter().any(|r| r.settings_id == *id && r.params == "all" && stage.is_none_or(|s| r.stage == s)))
            .collect()
    };
    Ok(match (whole(None).as_slice(), whole(Some(hessx_store::Stage::Eigen)).as_slice()) {
        ([one], _) | (_, [one]) => Some(one.to_string()),
        _ => None,
    })
}

/// The top `count` eigenvectors of `table` (settings `settings_id`), as
/// state-space vectors `(rank, eigenvalue, vector)`. The eigenvectors cover
/// the parameter subset hx-eigen was run on (all trainable parameters, or
/// those its `--params`/`--ignore-biasbn` kept); entries outside it are zero.
#[allow(clippy::too_many_arguments)]
fn eigenvectors<B: Backend>(
    run: &RunDir,
    table: &Path,
    settings_id: &str,
    file: &Path,
    spec: &ModelSpec,
    layout: &StateLayout,
    count: usize,
    device: &B::Device,
) -> Result<Vec<(u32, f64, Vec<f32>)>> {
    let (id, mut rows) = read_rows_with_identity::<EigenvectorRow>(table)?;
    if let Some(id) = &id
        && id.model != spec.name()
    {
        return Err(Error::mismatch(table, format!("holds eigenvectors of model {}, but the checkpoint {} is a {}", id.model, file.display(), spec.name())));
    }
    rows.sort_by_key(|r| r.rank);
    if rows.len() < count {
        return Err(Error::mismatch(table, format!("holds {} eigenvector(s); a 2D surface needs 2: run hx-eigen with --top-k 2 or more", rows.len())));
    }
    // The eigenvectors' parameter subset, found by ParamId on an autodiff copy of the same checkpoint.
    let (_, net1) = load_checkpoint::<Autodiff<B>>(file, Some(spec), device)?;
    let dim = rows[0].vector.len();
    let candidates = eigen_layouts(run, settings_id, &net1)?;
    let Some(playout) = candidates.into_iter().find(|l| l.dim() == dim) else {
        return Err(Error::mismatch(
            table,
            format!(
                "eigenvectors have {dim} entries, but model {} has {} trainable parameters (and no parameter subset hx-eigen could have used has {dim}): \
                 were they computed for another model?",
                spec.name(),
                layout.num_trainable()
            ),
        ));
    };
    let offsets: std::collections::HashMap<_, _> = layout.tensors.iter().map(|t| (t.id, t.offset)).collect();
    let mut out = Vec::new();
    for r in rows.into_iter().take(count) {
        let mut d = vec![0f32; layout.len];
        for e in playout.entries() {
            let at = *offsets.get(&e.id).ok_or_else(|| Error::mismatch(table, format!("parameter {} of the eigenvector is not in the model", e.path)))?;
            d[at..at + e.numel()].copy_from_slice(&r.vector[e.offset..e.offset + e.numel()]);
        }
        out.push((r.rank, r.eigenvalue, d));
    }
    Ok(out)
}

/// Parameter subsets hx-eigen may have used: the one its recorded settings
/// (`settings.parquet`, row `settings_id`) name, then all trainable
/// parameters, then all but biases and batch norm.
fn eigen_layouts<B: burn::tensor::backend::AutodiffBackend>(run: &RunDir, settings_id: &str, net: &Net<B>) -> Result<Vec<ParamLayout>> {
    let mut out = Vec::new();
    let recorded = hessx_pipeline::provenance::recorded_settings(run)?;
    if let Some(row) = recorded.iter().find(|r| r.settings_id == settings_id)
        && let Ok(cfg) = row.settings.parse::<toml::Table>()
        && let Some(h) = cfg.get("hessian").and_then(|h| h.as_table())
    {
        let params: Vec<String> =
            h.get("params").and_then(|p| p.as_array()).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default();
        let ignore = h.get("ignore_biasbn").and_then(|v| v.as_bool()).unwrap_or(false);
        let keep = |path: &str| selects_param(&params, ignore, path);
        if let Ok(l) = ParamLayout::filtered(net, keep) {
            out.push(l);
        }
    }
    out.push(ParamLayout::trainable(net)?);
    if let Ok(l) = ParamLayout::filtered(net, |p| !is_bias_or_bn(p)) {
        out.push(l);
    }
    Ok(out)
}

/// Save the directions (once; an existing table must carry the same fingerprint).
fn write_directions(
    dir: &LandscapeDir,
    id: &RunIdentity,
    step: i64,
    fp: &str,
    settings: &SurfaceSettings,
    dx: &[f32],
    dy: Option<&[f32]>,
) -> Result<()> {
    let path = dir.directions();
    if path.exists() {
        let rows: Vec<DirectionRow> = read_rows(&path)?;
        if rows.iter().all(|r| r.fingerprint == fp) {
            return Ok(());
        }
        return Err(Error::mismatch(&path, format!("holds directions of another surface (fingerprint differs from {fp}); delete the folder to recompute")));
    }
    let mut rows = vec![DirectionRow {
        step,
        axis: "x".into(),
        source: settings.x.describe(),
        norm: crate::directions::l2(dx.iter().copied()),
        fingerprint: fp.into(),
        vector: dx.to_vec(),
    }];
    if let (Some(dy), Some(y)) = (dy, &settings.y) {
        rows.push(DirectionRow {
            step,
            axis: "y".into(),
            source: y.describe(),
            norm: crate::directions::l2(dy.iter().copied()),
            fingerprint: fp.into(),
            vector: dy.to_vec(),
        });
    }
    write_rows(&path, id, &rows)?;
    Ok(())
}

/// Compute (or resume) a surface and, once it is complete, draw it:
/// everything `hx-landscape` does for one request. Returns a short report.
pub fn surface_stage<B: Backend>(req: &Request, plots: Option<&PlotOptions>, device: &B::Device) -> Result<String> {
    if world().size() > 1 {
        return shared_surface_stage::<B>(req, plots, device);
    }
    let bar = indicatif::ProgressBar::new(req.grid.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} point {pos}/{len} [{elapsed_precise} < {eta_precise}] {wide_bar}")
            .expect("progress template is valid"),
    );
    let out = compute_surface::<B>(req, device, &bar)?;
    bar.finish_and_clear();
    let p = &out.progress;
    let per_point = if p.computed > 0 { p.seconds / p.computed as f64 } else { f64::NAN };
    let done = p.already_done + p.computed;
    let mut report = if p.computed > 0 {
        format!(
            "surface {} ({}): {} new point(s) in {:.1} s ({per_point:.3} s/point), {done} of {} of this shard done -> {}",
            out.dir.name(),
            out.fingerprint,
            p.computed,
            p.seconds,
            p.owned,
            p.table.display()
        )
    } else {
        format!(
            "surface {} ({}): nothing new to compute, {done} of {} of this shard done -> {}",
            out.dir.name(),
            out.fingerprint,
            p.owned,
            p.table.display()
        )
    };
    if let (Some(forward), true) = (out.forward_seconds, p.computed > 0) {
        report.push_str(&format!(
            "\ncost of a point: {:.1} x one forward pass over the same examples ({forward:.3} s)",
            per_point / forward
        ));
    }
    if req.shard.count > 1 {
        if p.complete() {
            report.push_str(&format!(
                "\nshard {} complete; when every shard is, merge with: hx-landscape --run {} --name {} --merge",
                req.shard,
                req.run.display(),
                out.dir.name()
            ));
        }
        return Ok(report);
    }
    if p.complete()
        && let Some(opts) = plots
    {
        let files = draw_all(&out.dir, &out.settings, opts)?;
        report.push_str(&format!("\n{} figure file(s) in {}", files.len(), out.dir.plots_dir().display()));
    } else if !p.complete() {
        report.push_str("\nnot complete yet: run the same command again to continue");
    }
    Ok(report)
}

/// Shards of the grid under `mpirun`: several per rank, so that ranks that
/// finish early take more, and the same count for any job of up to 16 ranks
/// (a killed job resumed with another rank count finds its shard tables).
fn shared_shard_count(points: usize, ranks: usize) -> usize {
    (4 * ranks).max(64).min(points).max(1)
}

/// [`surface_stage`] under `mpirun`: the grid is cut into
/// [`shared_shard_count`] interleaved shards (the `--shard i/K` tables), each
/// claimed by whichever rank is free (a create-new claim file in `shards/`),
/// so a slow rank holds nobody back; a killed job resumes (finished shard
/// tables are kept, a claimed but unfinished shard resumes from its saved
/// points, and rank 0 clears the old claims first). When every rank is done,
/// rank 0 merges the shards through the checks of `--merge` and draws.
fn shared_surface_stage<B: Backend>(req: &Request, plots: Option<&PlotOptions>, device: &B::Device) -> Result<String> {
    if req.curvature.is_some() {
        return Err(Error::Input("--curvature: curvature maps are computed in one process; run it without mpirun".into()));
    }
    if req.shard != Shard::WHOLE {
        return Err(Error::Input(format!("--shard {} under mpirun: the ranks already share the grid; use one or the other", req.shard)));
    }
    let count = shared_shard_count(req.grid.len(), world().size());
    let hidden = indicatif::ProgressBar::hidden();
    // Every rank derives the same folder, settings and directions; this settles them before any claim.
    let setup = Request { shard: Shard { index: 0, count }, max_points: Some(0), ..req.clone() };
    let dir = compute_surface::<B>(&setup, device, &hidden)?.dir;
    let claims = Claims::open(&dir.shards_dir())?;
    let bar = job_progress_bar(req.grid.len());
    let (mut computed, mut seconds, mut taken) = (0, 0.0, 0);
    for index in 0..count {
        if !claims.take(&format!("shard-{index:04}-of-{count:04}"))? {
            continue;
        }
        let part = Request { shard: Shard { index, count }, ..req.clone() };
        let out = compute_surface::<B>(&part, device, &hidden)?;
        computed += out.progress.computed;
        seconds += out.progress.seconds;
        taken += 1;
        bar.set_position(crate::surface::done_points(&dir, &req.splits)? as u64);
    }
    bar.finish_and_clear();
    world().barrier();
    let mut report = format!(
        "surface {}: rank {} computed {computed} point(s) of {taken} of the {count} shards in {seconds:.1} s",
        dir.name(),
        world().rank()
    );
    if is_writer() {
        report.push('\n');
        report.push_str(&merge(&req.run, &dir.name(), plots)?);
    }
    Ok(report)
}

/// Figures and, for 2D surfaces, the VTK file of every split's loss.
pub fn draw_all(dir: &LandscapeDir, settings: &SurfaceSettings, opts: &PlotOptions) -> Result<Vec<PathBuf>> {
    let title = format!("{} at step {}", settings.origin.model, settings.origin.step);
    let mut files = plots::draw(dir, settings.grid, &title, opts)?;
    if settings.grid.y.is_some() {
        let rows: Vec<hessx_store::landscape::SurfaceRow> = read_rows(&dir.surface())?;
        for (split, (loss, _)) in plots::fields(&rows, settings.grid) {
            let name = format!("{split}_loss");
            let path = dir.vtp(&name);
            hessx_store::write_bytes_atomic(&path, crate::vtk::vtp(&loss, &name, opts).as_bytes())?;
            files.push(path);
        }
    }
    Ok(files)
}

/// Merge the shards of surface `name` of `run`, then draw it.
pub fn merge(run: &Path, name: &str, plots: Option<&PlotOptions>) -> Result<String> {
    let run = RunDir::new(run);
    let (_, identity) = open_run(&run)?;
    let dir = run.landscape(name);
    if !dir.settings().exists() {
        return Err(Error::Input(format!("--name {name}: no surface of that name in {} (its settings.toml is missing)", run.landscape_dir().display())));
    }
    let saved = crate::settings::read_settings(&dir.settings())?;
    let rows = crate::surface::merge_shards(&dir, &identity, &saved.fingerprint, saved.settings.grid, &saved.settings.data.splits)?;
    let mut report = format!("merged {rows} rows into {}", dir.surface().display());
    if let Some(opts) = plots {
        let files = draw_all(&dir, &saved.settings, opts)?;
        report.push_str(&format!("\n{} figure file(s) in {}", files.len(), dir.plots_dir().display()));
    }
    Ok(report)
}
