//! `hx-spectrum` as one library call: trace and spectral density (and, with
//! one-pass, the top eigenpairs) at every selected checkpoint, skipped where
//! rows with the same settings exist, written beside the rows of other settings.

use std::time::Instant;

use burn::prelude::*;
use hessx_hessian::{
    HutchinsonConfig, HutchppConfig, OnePassConfig, SlqConfig, SlqRuns, SymOp, TraceResult, density, density_runs, hutchinson, hutchpp,
    one_pass, pyhessian_grid, slq, slq_trace,
};
use hessx_store::tables::{DensityRow, EigenvalueRow, QuadratureRow, TraceRow};
use hessx_store::{EigenMethod, SpectrumEnd, Stage, TraceMethod};

use crate::curvature::{CheckpointHessian, RunContext, checkpoint_hessian};
use crate::distributed::{is_writer, job_progress_bar, world};
use crate::eigen::{EigenWrite, StageSummary, other_settings, write_eigen_result};
use crate::provenance::{Redo, SettingsRecord, existing_rows, merge_rows, record_settings};
use crate::settings::{SpectrumSettings, engine_rule, engine_weights};
use crate::{Error, Result};

/// Estimate the trace and density of every selected checkpoint of `ctx` with
/// `settings` on `device`. A checkpoint is skipped when its density, the
/// requested traces (and one-pass eigenpairs) with the same settings
/// fingerprint exist (unless [`Redo::Replace`], which also drops what other
/// settings of this stage wrote for the selected checkpoints).
pub fn run_spectrum<B: Backend>(
    ctx: &RunContext,
    settings: &SpectrumSettings,
    redo: Redo,
    device: &B::Device,
) -> Result<StageSummary> {
    settings.validate()?;
    let id = settings.id();
    let densities: Vec<DensityRow> = existing_rows(&ctx.run.density())?;
    let traces: Vec<TraceRow> = existing_rows(&ctx.run.trace())?;
    let eigen: Vec<EigenvalueRow> = existing_rows(&ctx.run.eigenvalues())?;
    let trace_methods = settings.trace_methods();
    let done = |step: i64| {
        densities.iter().any(|d| d.settings_id == id && d.step == step)
            && trace_methods.iter().all(|t| traces.iter().any(|r| r.settings_id == id && r.step == step && r.method == *t))
            && (settings.one_pass.is_none()
                || (eigen.iter().any(|r| r.settings_id == id && r.step == step) && ctx.run.eigenvectors(&id, step).exists()))
    };
    let todo: Vec<_> = ctx.checkpoints.iter().filter(|c| redo == Redo::Replace || !done(c.step)).collect();
    let mut summary =
        StageSummary { settings_id: id.clone(), selected: ctx.checkpoints.len(), computed: 0, hvps: 0, seconds: 0.0 };
    if todo.is_empty() {
        tracing::info!(
            "all {} selected checkpoints already have a density and the requested traces with settings {id}",
            ctx.checkpoints.len()
        );
        return Ok(summary);
    }
    let steps: Vec<i64> = todo.iter().map(|c| c.step).collect();
    let mut others: Vec<String> =
        densities.iter().filter(|d| d.settings_id != id && steps.contains(&d.step)).map(|d| d.settings_id.clone()).collect();
    others.sort();
    others.dedup();
    let one_pass_others = other_settings(&eigen, &id, EigenMethod::OnePass, &steps);
    if !others.is_empty() {
        match redo {
            Redo::Skip => tracing::info!(
                "these checkpoints also have densities with settings {}: kept beside the new ones (--replace drops them)",
                others.join(", ")
            ),
            Redo::Replace => tracing::info!("--replace: dropping what settings {} wrote at these checkpoints", others.join(", ")),
        }
    }
    let indices = ctx.hessian_indices(&settings.hessian);
    let record = SettingsRecord {
        stage: Stage::Spectrum,
        settings_id: &id,
        methods: settings.methods_label(),
        hessian: &settings.hessian,
        examples: indices.len(),
    };
    // Every rank has read the tables (and so agrees on what to do) before rank 0 writes any.
    world().barrier();
    if is_writer() {
        record_settings(&ctx.run, &ctx.identity, &record, settings)?;
    }
    tracing::info!(
        "settings {id}: {} of {} checkpoints to do; Hessian over {} examples, parameters {}; SLQ iter {} x n_v {}, {} rule, {} density weights; trace: {}",
        todo.len(),
        ctx.checkpoints.len(),
        indices.len(),
        settings.hessian.params_label(),
        settings.iter,
        settings.n_v,
        settings.density_rule,
        settings.density_weights,
        if trace_methods.is_empty() { "none".into() } else { trace_methods.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ") },
    );
    let bar = job_progress_bar(todo.len());
    let started = Instant::now();
    let batches = ctx.hessian_batches::<B>(&settings.hessian, &indices, device);
    for (i, checkpoint) in todo.iter().enumerate() {
        let step = checkpoint.step;
        let t0 = Instant::now();
        let mut op = checkpoint_hessian::<B>(ctx, &settings.hessian, checkpoint, batches.clone(), indices.len(), device)?;
        let at = |source| Error::Checkpoint { path: ctx.run.root().join(&checkpoint.file), source };
        let dropped = if redo == Redo::Replace { others.clone() } else { Vec::new() };
        let is_dropped = |row_id: &String| dropped.contains(row_id);
        // Every estimator draws its own probe stream of the seed at each checkpoint (ProbeStream::derived),
        // so traces from different methods or checkpoints are independent measurements.
        let stream = u64::try_from(step).map_err(|_| Error::invalid(format!("checkpoint step {step} is negative")))?;
        let (runs, one_pass_trace) = quadrature(ctx, settings, &id, step, stream, &mut op, redo, &one_pass_others).map_err(|e| match e {
            Error::Hessian(source) => at(source),
            other => other,
        })?;
        let weighted = density_runs(&runs, engine_rule(settings.density_rule), engine_weights(settings.density_weights));
        let (grid, kernel_variance) = pyhessian_grid(&weighted, settings.num_bins, settings.sigma_squared, 0.01);
        let values = density(&weighted, &grid, kernel_variance).map_err(at)?;
        let sigma = kernel_variance.sqrt();
        let density_rows: Vec<DensityRow> = grid
            .iter()
            .zip(&values)
            .map(|(&lambda, &density)| DensityRow { settings_id: id.clone(), step, lambda, density, sigma })
            .collect();
        let nodes: Vec<QuadratureRow> = runs
            .runs
            .iter()
            .enumerate()
            .flat_map(|(probe, r)| {
                let id = &id;
                r.nodes.iter().zip(&r.weights).zip(&r.residuals).map(move |((&node, &weight), &residual)| QuadratureRow {
                    settings_id: id.clone(),
                    step,
                    probe: probe as u32,
                    node,
                    weight,
                    residual,
                })
            })
            .collect();
        let mut trace_rows = Vec::new();
        for &method in &trace_methods {
            let result = match (method, &one_pass_trace) {
                (TraceMethod::OnePass, Some(trace)) => trace.clone(),
                _ => estimate_trace(settings, method, stream, &runs, &mut op).map_err(at)?,
            };
            trace_rows.push(TraceRow {
                settings_id: id.clone(),
                step,
                method,
                estimate: result.estimate,
                std_error: result.std_error,
                probes: result.probes as i64,
                converged: result.converged,
                hvps: result.hvps as i64,
                seconds: result.seconds,
                half_width_95: result.half_width_95(),
            });
        }
        let replaced = |row_id: &String, row_step: i64| row_step == step && (*row_id == id || is_dropped(row_id));
        if is_writer() {
            merge_rows(&ctx.run.quadrature(), &ctx.identity, &nodes, |r: &QuadratureRow| replaced(&r.settings_id, r.step))?;
            merge_rows(&ctx.run.trace(), &ctx.identity, &trace_rows, |r: &TraceRow| replaced(&r.settings_id, r.step))?;
            // The density goes last: its rows are what marks a checkpoint done.
            merge_rows(&ctx.run.density(), &ctx.identity, &density_rows, |r: &DensityRow| replaced(&r.settings_id, r.step))?;
        }
        summary.computed += 1;
        summary.hvps += op.hvps();
        let shown: Vec<String> =
            trace_rows.iter().map(|r| format!("{} {:.4} ± {:.4}", r.method, r.estimate, r.std_error)).collect();
        let top = runs.runs.first().and_then(|r| r.nodes.first()).copied().unwrap_or(f64::NAN);
        bar.suspend(|| {
            tracing::info!(
                "checkpoint {}/{} (step {step}): largest Ritz value {top:.4}, trace {}, {} products, {:.1} s ({:.2} s/product)",
                i + 1,
                todo.len(),
                if shown.is_empty() { "not computed".into() } else { shown.join(", ") },
                op.hvps(),
                t0.elapsed().as_secs_f64(),
                op.seconds_per_hvp()
            )
        });
        if let Some(note) = op.reduce_note(op.seconds_per_hvp()) {
            bar.suspend(|| tracing::info!("{note}"));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    tracing::info!("done: settings {id}, {} Hessian-vector products in {:.1} s", summary.hvps, summary.seconds);
    Ok(summary)
}

/// The stochastic Lanczos quadrature runs of one checkpoint; with one-pass,
/// also writes the top eigenpairs of the first run and returns its
/// Krylov-deflated trace.
#[allow(clippy::too_many_arguments)]
fn quadrature<B: Backend>(
    ctx: &RunContext,
    settings: &SpectrumSettings,
    id: &str,
    step: i64,
    stream: u64,
    op: &mut CheckpointHessian<B>,
    redo: Redo,
    one_pass_others: &[String],
) -> Result<(SlqRuns, Option<TraceResult>)> {
    let slq_cfg =
        SlqConfig { iter: settings.iter, n_v: settings.n_v, seed: settings.hessian.seed, step: stream, ..Default::default() };
    let Some(op_settings) = &settings.one_pass else {
        return Ok((slq(op, &slq_cfg)?, None));
    };
    let t0 = Instant::now();
    let cfg = OnePassConfig {
        slq: slq_cfg,
        k: op_settings.top_k,
        tol: op_settings.tol,
        verify: true,
        trace_probes: op_settings.trace_probes,
        density_weights: engine_weights(settings.density_weights),
        density_rule: engine_rule(settings.density_rule),
        max_iter: op_settings.max_iter.unwrap_or(0),
    };
    let mut result = one_pass(op, &cfg)?;
    if !result.eigen.all_converged() {
        // The pass stops at --one-pass-max-iter, or the Lanczos estimate was kinder than the explicit residual.
        tracing::warn!(
            "step {step}: the one-pass's top {} eigenpairs did not all reach residual <= {} x |eigenvalue| within {} steps (residuals in eigenvalues.parquet); raise --one-pass-max-iter, or use hx-eigen",
            op_settings.top_k,
            op_settings.tol,
            result.runs.iterations
        );
    }
    // The eigen result counts only its verification products; the row reports the whole pass.
    result.eigen.hvps += result.runs.hvps;
    let dropped: Vec<String> = if redo == Redo::Replace { one_pass_others.to_vec() } else { Vec::new() };
    let written = EigenWrite {
        settings_id: id,
        step,
        method: EigenMethod::OnePass,
        seconds: t0.elapsed().as_secs_f64(),
        num_params: op.dim(),
        dropped: &dropped,
    };
    if is_writer() {
        write_eigen_result(ctx, &[(SpectrumEnd::Top, &result.eigen)], &written)?;
    }
    Ok((result.runs, Some(result.trace)))
}

/// The trace by `method`, with its probes drawn from the stream of checkpoint `stream`.
fn estimate_trace<O: SymOp>(
    settings: &SpectrumSettings,
    method: TraceMethod,
    stream: u64,
    runs: &SlqRuns,
    op: &mut O,
) -> hessx_hessian::Result<TraceResult> {
    let seed = settings.hessian.seed;
    Ok(match method {
        TraceMethod::Slq => TraceResult { hvps: runs.hvps, seconds: runs.seconds, ..slq_trace(runs) },
        TraceMethod::Hutchinson => hutchinson(
            op,
            &HutchinsonConfig { max_probes: settings.trace_hvps, tol: settings.trace_tol, seed, step: stream },
        )?,
        TraceMethod::Hutchpp => hutchpp(op, &HutchppConfig { num_hvps: settings.trace_hvps, seed, step: stream })?,
        TraceMethod::OnePass => {
            return Err(hessx_hessian::Error::InvalidArgument {
                name: "trace",
                reason: "the one-pass trace comes from the one-pass run (--one-pass), not as a separate estimator".into(),
            });
        }
    })
}
