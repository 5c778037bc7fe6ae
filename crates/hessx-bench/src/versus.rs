//! hessx's one-pass report against PyHessian's three calls, side by side on the same weights and batch
//! (those `bench/pytorch_reference.py` trained and wrote), at measured, not assumed, accuracy.
//!
//! For each Lanczos budget in `--versus-iters`, hessx's one-pass report (top-5 eigenvalues, trace with its
//! error bar, density) and its density alone are timed end to end from weights on the device. Then a
//! reference is computed on the same operator, by other runs than the ones under test: top-5 eigenvalues
//! from a long, fully reorthogonalised Lanczos run (residuals reported), the trace from a many-probe plain
//! Hutchinson run (its standard error reported), the spectral distribution as the mixture of several long
//! SLQ runs from independent probes. hessx's figures and PyHessian's own outputs (its eigenvalues, its
//! trace samples, its density's nodes and weights, kept by the reference script) are scored against it.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use hessx_hessian::{
    HutchinsonConfig, LanczosConfig, OnePassConfig, SlqConfig, SlqRun, SymOp, hutchinson, lanczos_top_k, mixture, one_pass, slq,
    wasserstein1,
};
use hessx_pipeline::curvature::model_hessian;

use crate::measure::{Recorder, max_relative_error};
use crate::pytorch::PytorchReference;
use crate::workload::ProductWorkload;

/// Budgets and reference effort of the comparison.
#[derive(Debug, Clone)]
pub struct VersusConfig {
    /// Lanczos steps of the hessx runs under test (one comparison each).
    pub iters: Vec<usize>,
    /// Complement probes of the one-pass trace.
    pub trace_probes: usize,
    /// Lanczos steps of each reference run.
    pub reference_iter: usize,
    /// Independent SLQ runs of the reference distribution.
    pub reference_runs: usize,
    /// Probes of the reference Hutchinson trace.
    pub reference_trace_probes: usize,
}

/// What one estimate is scored on.
struct Scored {
    top5: Vec<f64>,
    trace: f64,
    trace_se: f64,
    atoms: Vec<(f64, f64)>,
}

/// The reference the estimates are scored against.
struct Reference {
    top5: Vec<f64>,
    top5_by_magnitude: Vec<f64>,
    trace: f64,
    trace_se: f64,
    atoms: Vec<(f64, f64)>,
}

fn atoms_of(runs: &[SlqRun]) -> Result<Vec<(f64, f64)>> {
    let parts: Vec<Vec<(f64, f64)>> =
        runs.iter().map(|r| r.nodes.iter().copied().zip(r.weights.iter().copied()).collect()).collect();
    Ok(mixture(&parts)?)
}

/// Records the accuracy rows of one estimate; returns (top-5 error, trace std error, W1).
fn score(rec: &mut Recorder, name: &str, method: &str, est: &Scored, reference: &Reference, by_magnitude: bool) -> Result<(f64, f64, f64)> {
    let against = if by_magnitude { &reference.top5_by_magnitude } else { &reference.top5 };
    let top5 = max_relative_error(&est.top5, against, by_magnitude);
    let w1 = wasserstein1(&est.atoms, &reference.atoms)?;
    let combined = (est.trace_se.powi(2) + reference.trace_se.powi(2)).sqrt();
    rec.add("pyhessian", name, method, "top-5 max relative error", top5);
    rec.add("pyhessian", name, method, "trace estimate", est.trace);
    rec.add("pyhessian", name, method, "trace std error", est.trace_se);
    rec.add("pyhessian", name, method, "trace |error| / combined std error", (est.trace - reference.trace).abs() / combined);
    rec.add("pyhessian", name, method, "density W1 to reference", w1);
    Ok((top5, est.trace_se, w1))
}

/// The comparison; rows in sections `pyhessian` (the three results) and `density-alone`.
pub fn versus_pyhessian<B: Backend>(
    rec: &mut Recorder,
    workload: &ProductWorkload,
    reference: Option<&PytorchReference>,
    cfg: &VersusConfig,
    device: &B::Device,
) -> Result<()> {
    if cfg.iters.is_empty() || cfg.iters.iter().any(|&m| m < 5) {
        bail!("--versus-iters {:?}: give at least one budget, each >= 5 (the top-5 need 5 Ritz values)", cfg.iters);
    }
    let name = workload.name.as_str();
    let mut ours = Vec::new();
    let mut alone = Vec::new();
    for &iter in &cfg.iters {
        let model = workload.model::<B>(device)?;
        let batches = workload.hessian_batches::<B>(device);
        let start = Instant::now();
        let mut op = model_hessian::<B>(model, batches)?;
        let one = one_pass(
            &mut op,
            &OnePassConfig {
                slq: SlqConfig { iter, n_v: 1, seed: 1, ..Default::default() },
                k: 5,
                tol: 1e-3,
                verify: false,
                trace_probes: cfg.trace_probes,
            },
        )?;
        let seconds = start.elapsed().as_secs_f64();
        let method = format!("hessx one-pass iter {iter} + {} trace probes", cfg.trace_probes);
        rec.add("pyhessian", name, &method, "hvps", op.hvps() as f64);
        rec.add("pyhessian", name, &method, "seconds", seconds);
        // Everything that is not a product: operator setup (the retained graph's forward and backward)
        // and the solver's bookkeeping (reorthogonalisation, Ritz vectors, the tridiagonal eigenproblem).
        let in_products = op.seconds_per_hvp() * op.hvps() as f64;
        rec.add("pyhessian", name, &method, "share of time outside products", (seconds - in_products) / seconds);
        tracing::info!("{method}: {} ({:.3} s per product)", op.engine_name(), op.seconds_per_hvp());
        ours.push((
            iter,
            method,
            seconds,
            Scored {
                top5: one.eigen.values.clone(),
                trace: one.trace.estimate,
                trace_se: one.trace.std_error,
                atoms: atoms_of(&one.runs.runs)?,
            },
        ));

        // The density alone, as PyHessian's density(): one SLQ run.
        let model = workload.model::<B>(device)?;
        let batches = workload.hessian_batches::<B>(device);
        let start = Instant::now();
        let mut op = model_hessian::<B>(model, batches)?;
        let runs = slq(&mut op, &SlqConfig { iter, n_v: 1, seed: 1, ..Default::default() })?;
        let seconds = start.elapsed().as_secs_f64();
        let method = format!("hessx density iter {iter}");
        rec.add("density-alone", name, &method, "hvps", runs.hvps as f64);
        rec.add("density-alone", name, &method, "seconds", seconds);
        alone.push((method, seconds, atoms_of(&runs.runs)?));
    }

    // The reference, on one operator: not timed against anything, but its cost is recorded.
    let model = workload.model::<B>(device)?;
    let mut op = model_hessian::<B>(model, workload.hessian_batches::<B>(device))?;
    let start = Instant::now();
    let top = lanczos_top_k(
        &mut op,
        &LanczosConfig { k: 5, max_iter: cfg.reference_iter, tol: 1e-6, seed: 77, verify: true },
    )?;
    let runs = slq(&mut op, &SlqConfig { iter: cfg.reference_iter, n_v: cfg.reference_runs, seed: 1234, ..Default::default() })?;
    let trace = hutchinson(&mut op, &HutchinsonConfig { max_probes: cfg.reference_trace_probes, tol: 0.0, seed: 4321, step: 0 })?;
    let method = format!(
        "reference: lanczos top-5 (tol 1e-6) + slq {}x{} + hutchinson {} probes",
        cfg.reference_runs, cfg.reference_iter, cfg.reference_trace_probes
    );
    rec.add("pyhessian", name, &method, "hvps", op.hvps() as f64);
    rec.add("pyhessian", name, &method, "seconds", start.elapsed().as_secs_f64());
    let worst_residual = top.residuals.iter().zip(&top.values).map(|(r, l)| r / l.abs()).fold(0.0, f64::max);
    rec.add("pyhessian", name, &method, "top-5 max relative residual", worst_residual);
    rec.add("pyhessian", name, &method, "trace estimate", trace.estimate);
    rec.add("pyhessian", name, &method, "trace std error", trace.std_error);
    let lowest = runs.runs.iter().flat_map(|r| r.nodes.iter().copied()).fold(f64::INFINITY, f64::min);
    let mut by_magnitude = top.values.clone();
    by_magnitude.push(lowest);
    by_magnitude.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
    by_magnitude.truncate(5);
    let reference_scale = Reference {
        top5: top.values.clone(),
        top5_by_magnitude: by_magnitude,
        trace: trace.estimate,
        trace_se: trace.std_error,
        atoms: atoms_of(&runs.runs)?,
    };

    // Scores.
    let mut our_scores = Vec::new();
    for (iter, method, seconds, scored) in &ours {
        let s = score(rec, name, method, scored, &reference_scale, false)?;
        our_scores.push((*iter, method.clone(), *seconds, s));
    }
    let mut alone_w1 = Vec::new();
    for (method, seconds, atoms) in &alone {
        let w1 = wasserstein1(atoms, &reference_scale.atoms)?;
        rec.add("density-alone", name, method, "density W1 to reference", w1);
        alone_w1.push((method.clone(), *seconds, w1));
    }
    let Some(py) = reference.and_then(|r| r.pyhessian.as_ref()) else { return Ok(()) };
    let backend = rec.backend().to_string();
    rec.set_backend("pytorch");
    let py_method = "PyHessian eigenvalues(top_n=5) + trace() + density()";
    rec.add("pyhessian", name, py_method, "hvps", py.total_hvps as f64);
    rec.add("pyhessian", name, py_method, "seconds", py.total_seconds);
    let py_atoms: Vec<(f64, f64)> = match (py.density.nodes.first(), py.density.weights.first()) {
        (Some(n), Some(w)) if n.len() == w.len() && !n.is_empty() => n.iter().copied().zip(w.iter().copied()).collect(),
        _ => bail!("pytorch.json: PyHessian's density nodes and weights are missing; rerun bench/pytorch_reference.py"),
    };
    let py_scored = Scored { top5: py.eigenvalues.values.clone(), trace: py.trace.estimate, trace_se: py.trace.std_error, atoms: py_atoms };
    // Power iteration converges to the eigenvalues of largest magnitude: scored against those.
    let (py_top5, py_se, py_w1) = score(rec, name, py_method, &py_scored, &reference_scale, true)?;
    for (call, secs, hvps) in [
        ("hessian(...) setup (forward + backward)", py.setup_seconds, 0),
        ("eigenvalues(top_n=5)", py.eigenvalues.seconds, py.eigenvalues.hvps),
        ("trace()", py.trace.seconds, py.trace.hvps),
    ] {
        rec.add("pyhessian", name, &format!("PyHessian {call}"), "hvps", hvps as f64);
        rec.add("pyhessian", name, &format!("PyHessian {call}"), "seconds", secs);
    }
    rec.add("density-alone", name, "PyHessian density()", "hvps", py.density.hvps as f64);
    rec.add("density-alone", name, "PyHessian density()", "seconds", py.density.seconds);
    rec.add("density-alone", name, "PyHessian density()", "density W1 to reference", py_w1);
    rec.set_backend(&backend);
    for (_, method, seconds, (top5, se, w1)) in our_scores {
        let versus = format!("{method} / PyHessian");
        rec.add("pyhessian", name, &versus, "time ratio", seconds / py.total_seconds);
        let equal = top5 <= py_top5.max(1e-4) && se <= py_se && w1 <= py_w1;
        rec.add("pyhessian", name, &versus, "accuracy at least PyHessian's (1 = yes)", f64::from(u8::from(equal)));
    }
    for (method, seconds, w1) in alone_w1 {
        let versus = format!("{method} / PyHessian density()");
        rec.add("density-alone", name, &versus, "time ratio", seconds / py.density.seconds);
        rec.add("density-alone", name, &versus, "W1 at most PyHessian's (1 = yes)", f64::from(u8::from(w1 <= py_w1)));
    }
    Ok(())
}
