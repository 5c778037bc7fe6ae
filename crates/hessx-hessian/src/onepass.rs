//! Top eigenvalues, trace and density from the same Lanczos runs.
//!
//! SLQ already builds a Krylov space per probe; its Ritz pairs at the right end of the spectrum are
//! eigenpair estimates (the extreme eigenvalues converge first), and its quadratures give the density. A
//! user who wants all three pays `n_v * iter` products once instead of separate budgets. The eigenpairs come
//! from the first run, with residuals from the Lanczos relation (or explicit, with [`OnePassConfig::verify`]).
//!
//! **The trace** is the trace of `H` on the first run's Krylov space plus a Hutchinson estimate on its
//! orthogonal complement (Krylov-deflated Hutchinson, in the spirit of Hutch++ with the Lanczos basis as
//! the sketch). With `Q` the orthonormal Lanczos basis (`m` columns) and `P = Q Q^T`,
//! `tr(H) = tr(Q^T H Q) + tr((I - P) H (I - P))`, and `Q^T H Q = T_m` (full reorthogonalisation), so the
//! first term is `sum(alpha)`, exact and free. The second is estimated from [`OnePassConfig::trace_probes`]
//! Rademacher probes projected onto the complement (`z' = (I - P) z`, `E[z'^T H z'] = tr((I - P) H (I - P))`,
//! unbiased given `Q` because the probes are drawn independently of the first run's start vector), one
//! product each, with the standard error of their mean (its 95 % interval takes Student's t for the
//! probes less one degrees of freedom, [`TraceResult::half_width_95`]). The Krylov space holds the
//! outlying eigenvalues, which dominate `||H||_F` and so the variance of plain Hutchinson
//! (`2 ||H||_F^2`); what is left to sample is the bulk. The earlier one-probe trace (`dim * v^T H v` of
//! the SLQ start vector) had no error bar.

use std::time::Instant;

use crate::deflated::{DensityWeights, density_runs};
use crate::radau::DensityRule;
use crate::error::{Error, Result, finite};
use crate::krylov::Krylov;
use crate::op::SymOp;
use crate::probes::{Estimator, ProbeKind, ProbeStream};
use crate::results::{EigenResult, MIN_TRACE_PROBES, ResidualKind, TraceResult, mean_and_std_error};
use crate::slq::{Density, ExtendFirst, SlqConfig, SlqRuns, pyhessian_density, slq_keep_first};
use crate::vector::Vector;


/// Settings for [`one_pass`].
#[derive(Debug, Clone, PartialEq)]
pub struct OnePassConfig {
    /// The SLQ runs (defaults: PyHessian's `iter = 100`, `n_v = 1`).
    pub slq: SlqConfig,
    /// Number of top eigenpairs to report. Default 5.
    pub k: usize,
    /// Convergence test for the eigenpairs, `residual <= tol * |lambda|`. Default 1e-3.
    pub tol: f64,
    /// Recompute the eigenpair residuals with one explicit product each. Default false.
    pub verify: bool,
    /// Probes (one product each) for the trace on the complement of the Krylov space. Default
    /// [`MIN_TRACE_PROBES`]. A fixed budget has no stopping rule to fool, so any count from 2 gives an
    /// honest 95 % interval, Student's t wide ([`TraceResult::half_width_95`]); with fewer than 2 there
    /// is no error bar and the trace has `converged = false`.
    pub trace_probes: usize,
    /// The density's weights: the probe's ([`DensityWeights::Plain`], PyHessian's; the default) or exact
    /// masses for the eigenvalues found ([`DensityWeights::Deflated`]).
    pub density_weights: DensityWeights,
    /// The density's quadrature rule: the Gauss rule ([`DensityRule::Gauss`], PyHessian's; the default)
    /// or the Gauss–Radau rule with a node at 0 ([`DensityRule::RadauZero`]). The eigenpairs and the
    /// trace do not depend on it.
    pub density_rule: DensityRule,
    /// The first run goes on past `slq.iter` until its top `k` Ritz pairs meet `tol` by their Lanczos
    /// residual estimates, up to `max_iter` steps in all (a density's step count can be too few for
    /// eigenpairs, e.g. on a flat spectrum); its density and trace then come from the longer run. At
    /// most `slq.iter` (the default, 0): exactly `slq.iter` steps.
    pub max_iter: usize,
}

impl Default for OnePassConfig {
    fn default() -> Self {
        OnePassConfig {
            slq: SlqConfig::default(),
            k: 5,
            tol: 1e-3,
            verify: false,
            trace_probes: MIN_TRACE_PROBES,
            density_weights: DensityWeights::Plain,
            density_rule: DensityRule::Gauss,
            max_iter: 0,
        }
    }
}

/// What [`one_pass`] computes.
#[derive(Debug, Clone)]
pub struct OnePassResult<V> {
    /// Top-k Ritz pairs of the first run (`iterations` = SLQ steps, `hvps` = verification products only).
    pub eigen: EigenResult<V>,
    /// The Krylov-deflated trace estimate (`hvps` and `seconds` are those of the whole pass; `probes` the
    /// complement probes).
    pub trace: TraceResult,
    /// The density on PyHessian's grid and kernel ([`pyhessian_density`]), with
    /// [`OnePassConfig::density_rule`] and [`OnePassConfig::density_weights`].
    pub density: Density,
    /// The runs (Gauss rules with plain weights and residuals, and their Radau rules), for redrawing the
    /// density.
    pub runs: SlqRuns,
}

/// Runs SLQ once and derives top eigenpairs, trace and density from it.
pub fn one_pass<O: SymOp>(op: &mut O, cfg: &OnePassConfig) -> Result<OnePassResult<O::V>> {
    let start = Instant::now();
    let k_max = cfg.slq.iter.min(op.dim());
    if cfg.k == 0 || cfg.k > k_max {
        return Err(Error::InvalidArgument {
            name: "k",
            reason: format!(
                "one-pass can report 1..={k_max} eigenpairs (at most the SLQ steps), got {}",
                cfg.k
            ),
        });
    }
    let extend = (cfg.max_iter > cfg.slq.iter).then_some(ExtendFirst { k: cfg.k, tol: cfg.tol, max_iter: cfg.max_iter });
    let (runs, kr) = slq_keep_first(op, &cfg.slq, extend)?;
    let ritz = kr.ritz();
    let values: Vec<f64> = ritz.values[..cfg.k].to_vec();
    let vectors: Vec<O::V> = (0..cfg.k).map(|i| kr.ritz_vector(&ritz, i)).collect();
    // The first run's Lanczos residuals, in the same order (SLQ keeps them for the density weights).
    let estimates: Vec<f64> = runs.runs[0].residuals[..cfg.k].to_vec();
    let hvps0 = op.hvps();
    let mut trace = deflated_trace(op, &kr, cfg.trace_probes, cfg.slq.seed, cfg.slq.step)?;
    let trace_hvps = op.hvps() - hvps0;
    drop(kr); // frees the Krylov basis before any further product
    let hvps0 = op.hvps();
    let (residuals, residual_kind) = if cfg.verify {
        (crate::lanczos::explicit_residuals(op, &vectors, &values)?, ResidualKind::Explicit)
    } else {
        (estimates, ResidualKind::LanczosEstimate)
    };
    let converged = residuals
        .iter()
        .zip(&values)
        .map(|(r, l)| *r <= cfg.tol * l.abs())
        .collect();
    let seconds = start.elapsed().as_secs_f64();
    let eigen = EigenResult {
        values,
        vectors,
        residuals,
        residual_kind,
        converged,
        iterations: runs.iterations,
        hvps: op.hvps() - hvps0,
        seconds,
    };
    trace.hvps = runs.hvps + trace_hvps + eigen.hvps;
    trace.seconds = seconds;
    let density = pyhessian_density(&density_runs(&runs, cfg.density_rule, cfg.density_weights))?;
    Ok(OnePassResult {
        eigen,
        trace,
        density,
        runs,
    })
}

/// `tr(T_m)` plus a Hutchinson estimate of the trace on the complement of the Krylov space of `kr`
/// (module docs). `hvps` and `seconds` are left for the caller to fill in.
fn deflated_trace<O: SymOp>(
    op: &mut O,
    kr: &Krylov<O::V>,
    probes: usize,
    seed: u64,
    step: u64,
) -> Result<TraceResult> {
    let m = kr.steps();
    let dim = op.dim();
    let krylov_part: f64 = kr.alphas.iter().sum();
    let basis = &kr.basis[..m];
    if m >= dim {
        // The Krylov space is the whole space: tr(T) is the trace.
        return Ok(TraceResult {
            estimate: krylov_part,
            std_error: 0.0,
            probes: 0,
            converged: true,
            hvps: 0,
            seconds: 0.0,
        });
    }
    // Its own stream: independent of the SLQ start vector (so the estimate is unbiased given the Krylov
    // space) and of every other estimator's probes.
    let mut stream = ProbeStream::derived(seed, Estimator::OnePassTrace, step);
    let mut samples = Vec::with_capacity(probes);
    for _ in 0..probes {
        let mut z = op.vector_from_host(&stream.draw(ProbeKind::Rademacher, dim));
        z.orthogonalize_against(basis);
        let hz = op.apply(&z)?;
        samples.push(finite(z.dot(&hz), "complement trace sample z'^T H z'")?);
    }
    let (complement, std_error) = if samples.is_empty() {
        (0.0, f64::NAN)
    } else {
        mean_and_std_error(&samples)
    };
    Ok(TraceResult {
        estimate: krylov_part + complement,
        std_error,
        probes: samples.len(),
        converged: samples.len() >= 2 && std_error.is_finite(),
        hvps: 0,
        seconds: 0.0,
    })
}
