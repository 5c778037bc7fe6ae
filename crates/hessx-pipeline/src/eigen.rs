//! `hx-eigen` as one library call: the top (or bottom, or both, or largest
//! magnitude: `--which`) Hessian eigenpairs at every selected checkpoint,
//! skipped where rows with the same settings exist, written beside the rows
//! of other settings.

use std::time::Instant;

use burn::prelude::*;
use hessx_hessian::{EigenResult, LanczosConfig, PowerConfig, SymOp, lanczos_extremes, power_iteration};
use hessx_store::tables::{EigenvalueRow, EigenvectorRow, write_rows};
use hessx_store::{EigenMethod, ResidualKind, SpectrumEnd, Stage, Which};

use crate::curvature::{RunContext, checkpoint_hessian};
use crate::distributed::{is_writer, job_progress_bar, world};
use crate::provenance::{Redo, SettingsRecord, existing_rows, merge_rows, record_settings};
use crate::settings::EigenSettings;
use crate::{Error, Result};

/// What one curvature stage run did.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    /// Fingerprint of the settings (the `settings_id` of every row written).
    pub settings_id: String,
    /// Checkpoints selected.
    pub selected: usize,
    /// Checkpoints computed in this run.
    pub computed: usize,
    /// Hessian-vector products used.
    pub hvps: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Compute the top eigenpairs of every selected checkpoint of `ctx` with
/// `settings` on `device`. A checkpoint is skipped when its eigenvalues and
/// eigenvectors with the same settings fingerprint exist (unless
/// [`Redo::Replace`]); rows of other settings are kept.
pub fn run_eigen<B: Backend>(ctx: &RunContext, settings: &EigenSettings, redo: Redo, device: &B::Device) -> Result<StageSummary> {
    settings.validate()?;
    let id = settings.id();
    let method = settings.method;
    let done_rows: Vec<EigenvalueRow> = existing_rows(&ctx.run.eigenvalues())?;
    let done = |step: i64| {
        done_rows.iter().any(|r| r.settings_id == id && r.step == step)
            && settings.which.ends().iter().all(|&end| vectors_path(ctx, &id, step, end).exists())
    };
    let todo: Vec<_> = ctx.checkpoints.iter().filter(|c| redo == Redo::Replace || !done(c.step)).collect();
    let mut summary =
        StageSummary { settings_id: id.clone(), selected: ctx.checkpoints.len(), computed: 0, hvps: 0, seconds: 0.0 };
    if todo.is_empty() {
        tracing::info!("all {} selected checkpoints already have {method} eigenpairs with settings {id}", ctx.checkpoints.len());
        return Ok(summary);
    }
    let others = other_settings(&done_rows, &id, method, &todo.iter().map(|c| c.step).collect::<Vec<_>>());
    if !others.is_empty() {
        match redo {
            Redo::Skip => tracing::info!(
                "these checkpoints also have {method} eigenpairs with settings {}: kept beside the new ones (--replace drops them)",
                others.join(", ")
            ),
            Redo::Replace => tracing::info!("--replace: dropping {method} eigenpairs with settings {} at these checkpoints", others.join(", ")),
        }
    }
    let indices = ctx.hessian_indices(&settings.hessian);
    let record = SettingsRecord {
        stage: Stage::Eigen,
        settings_id: &id,
        methods: method.name().into(),
        hessian: &settings.hessian,
        examples: indices.len(),
    };
    // Every rank has read the tables (and so agrees on what to do) before rank 0 writes any.
    world().barrier();
    if is_writer() {
        record_settings(&ctx.run, &ctx.identity, &record, settings)?;
    }
    tracing::info!(
        "settings {id}: {} of {} checkpoints to do; Hessian over {} examples, parameters {}; {} {} by {method}",
        todo.len(),
        ctx.checkpoints.len(),
        indices.len(),
        settings.hessian.params_label(),
        settings.which,
        settings.top_k
    );
    let bar = job_progress_bar(todo.len());
    let started = Instant::now();
    let batches = ctx.hessian_batches::<B>(&settings.hessian, &indices, device);
    for (i, checkpoint) in todo.iter().enumerate() {
        let step = checkpoint.step;
        let t0 = Instant::now();
        let mut op = checkpoint_hessian::<B>(ctx, &settings.hessian, checkpoint, batches.clone(), indices.len(), device)?;
        let results = solve(settings, &mut op).map_err(|source| Error::Checkpoint {
            path: ctx.run.root().join(&checkpoint.file),
            source,
        })?;
        let seconds = t0.elapsed().as_secs_f64();
        let dropped = if redo == Redo::Replace { others.clone() } else { Vec::new() };
        let written = EigenWrite { settings_id: &id, step, method, seconds, num_params: op.dim(), dropped: &dropped };
        let ends: Vec<(SpectrumEnd, &EigenResult<_>)> = results.iter().map(|(e, r)| (*e, r)).collect();
        if is_writer() {
            write_eigen_result(ctx, &ends, &written)?;
        }
        summary.computed += 1;
        // Every end reports the whole solve's products.
        let (hvps, iterations) = results.first().map_or((0, 0), |(_, r)| (r.hvps, r.iterations));
        summary.hvps += hvps;
        let shown: Vec<String> = results
            .iter()
            .map(|(end, r)| {
                let values: Vec<String> = r.values.iter().map(|v| format!("{v:.4}")).collect();
                format!("{end} [{}]", values.join(", "))
            })
            .collect();
        let worst = results
            .iter()
            .flat_map(|(_, r)| r.residuals.iter().zip(&r.values).map(|(res, v)| res / v.abs().max(1e-30)))
            .fold(0.0, f64::max);
        bar.suspend(|| {
            tracing::info!(
                "checkpoint {}/{} (step {step}): eigenvalues {}, max residual/|lambda| {worst:.1e}, {iterations} iterations, {hvps} products, {seconds:.1} s ({:.2} s/product)",
                i + 1,
                todo.len(),
                shown.join("; "),
                op.seconds_per_hvp(),
            )
        });
        if let Some(note) = op.reduce_note(op.seconds_per_hvp()) {
            bar.suspend(|| tracing::info!("{note}"));
        }
        if !results.iter().all(|(_, r)| r.all_converged()) {
            tracing::warn!("step {step}: not every eigenpair met tol {} within {} iterations", settings.tol, settings.max_iter);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    tracing::info!("done: settings {id}, {} Hessian-vector products in {:.1} s", summary.hvps, summary.seconds);
    Ok(summary)
}

/// The eigenpairs of each end `settings.which` asks for, labelled.
fn solve<O: SymOp>(settings: &EigenSettings, op: &mut O) -> hessx_hessian::Result<Vec<(SpectrumEnd, EigenResult<O::V>)>> {
    let seed = settings.hessian.seed;
    match settings.method {
        // `validate` refuses smallest and both here. Power iteration converges to the largest |eigenvalue|
        // whatever `--which` says, so its rows say `magnitude` (they are the top ones only when no negative
        // eigenvalue dominates, which power iteration cannot know); the analysis reads them as it reads top rows.
        EigenMethod::Power => {
            let result = power_iteration(
                op,
                &PowerConfig { top_n: settings.top_k, max_iter: settings.max_iter, tol: settings.tol, seed, verify: true },
            )?;
            if settings.which == Which::Largest {
                tracing::info!("--method power finds the largest |eigenvalue|: its rows are labelled spectrum_end = magnitude");
            }
            Ok(vec![(SpectrumEnd::Magnitude, result)])
        }
        // `validate` refuses one-pass here; Lanczos is the default solver.
        EigenMethod::Lanczos | EigenMethod::OnePass => {
            let which = match settings.which {
                Which::Largest => hessx_hessian::Which::Largest,
                Which::Smallest => hessx_hessian::Which::Smallest,
                Which::Both => hessx_hessian::Which::Both,
                Which::Magnitude => hessx_hessian::Which::Magnitude,
            };
            let cfg = LanczosConfig { k: settings.top_k, max_iter: settings.max_iter, tol: settings.tol, seed, verify: true };
            Ok(lanczos_extremes(op, &cfg, which)?
                .into_iter()
                .map(|(end, r)| {
                    let end = match end {
                        hessx_hessian::End::Top => SpectrumEnd::Top,
                        hessx_hessian::End::Bottom => SpectrumEnd::Bottom,
                        hessx_hessian::End::Magnitude => SpectrumEnd::Magnitude,
                    };
                    (end, r)
                })
                .collect())
        }
    }
}

/// Where the vectors of `end` go: the top and largest-magnitude vectors in
/// `eigenvectors/<id>/step-N.parquet` (what the analysis and landscape
/// stages read), the bottom ones in `eigenvectors/<id>/bottom/step-N.parquet`.
fn vectors_path(ctx: &RunContext, id: &str, step: i64, end: SpectrumEnd) -> std::path::PathBuf {
    match end {
        SpectrumEnd::Top | SpectrumEnd::Magnitude => ctx.run.eigenvectors(id, step),
        SpectrumEnd::Bottom => ctx.run.bottom_eigenvectors(id, step),
    }
}

/// Fingerprints other than `id` that wrote `method` rows at any of `steps`.
pub(crate) fn other_settings(rows: &[EigenvalueRow], id: &str, method: EigenMethod, steps: &[i64]) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .iter()
        .filter(|r| r.settings_id != id && r.method == method && steps.contains(&r.step))
        .map(|r| r.settings_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// How one eigen-solve at a checkpoint is recorded.
pub(crate) struct EigenWrite<'a> {
    /// Fingerprint of the settings.
    pub settings_id: &'a str,
    /// Checkpoint step.
    pub step: i64,
    /// The solver.
    pub method: EigenMethod,
    /// Wall-clock seconds of the solve.
    pub seconds: f64,
    /// Parameters the Hessian is taken over.
    pub num_params: usize,
    /// Earlier fingerprints of the same method whose rows and vectors at this step are dropped.
    pub dropped: &'a [String],
}

/// Write an eigen-solve's vectors, one table per end
/// (`eigenvectors/<id>/step-N.parquet`, `eigenvectors/<id>/bottom/step-N.parquet`;
/// first, so the value rows never reference a missing file), and merge its
/// values into `eigenvalues.parquet`, replacing rows of the same fingerprint
/// and step (and of the dropped fingerprints).
pub(crate) fn write_eigen_result<B: Backend>(
    ctx: &RunContext,
    ends: &[(SpectrumEnd, &EigenResult<Tensor<B, 1>>)],
    w: &EigenWrite,
) -> Result<()> {
    let mut rows: Vec<EigenvalueRow> = Vec::new();
    for &(end, result) in ends {
        let vectors: Vec<EigenvectorRow> = result
            .values
            .iter()
            .zip(&result.vectors)
            .enumerate()
            .map(|(rank, (&eigenvalue, v))| EigenvectorRow {
                settings_id: w.settings_id.to_owned(),
                step: w.step,
                rank: rank as u32,
                eigenvalue,
                vector: v.to_data().iter::<f32>().collect(),
            })
            .collect();
        write_rows(&vectors_path(ctx, w.settings_id, w.step, end), &ctx.identity, &vectors)?;
        let residual_kind = match result.residual_kind {
            hessx_hessian::ResidualKind::LanczosEstimate => ResidualKind::LanczosEstimate,
            hessx_hessian::ResidualKind::Explicit => ResidualKind::Explicit,
            hessx_hessian::ResidualKind::NotComputed => ResidualKind::NotComputed,
        };
        rows.extend((0..result.values.len()).map(|rank| EigenvalueRow {
            settings_id: w.settings_id.to_owned(),
            step: w.step,
            rank: rank as u32,
            eigenvalue: result.values[rank],
            residual: result.residuals[rank],
            residual_kind,
            converged: result.converged[rank],
            iterations: result.iterations as i64,
            hvps: result.hvps as i64,
            method: w.method,
            seconds: w.seconds,
            num_params: w.num_params as i64,
            spectrum_end: end,
        }));
    }
    merge_rows(&ctx.run.eigenvalues(), &ctx.identity, &rows, |r: &EigenvalueRow| {
        r.step == w.step && (r.settings_id == w.settings_id || (r.method == w.method && w.dropped.contains(&r.settings_id)))
    })?;
    for other in w.dropped {
        for path in [ctx.run.eigenvectors(other, w.step), ctx.run.bottom_eigenvectors(other, w.step)] {
            if path.exists() {
                std::fs::remove_file(&path).map_err(|source| Error::Io { path, source })?;
            }
        }
    }
    Ok(())
}
