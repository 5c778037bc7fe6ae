//! Top eigenvalues, trace and density from the same Lanczos runs.
//!
//! SLQ already builds a Krylov space per probe; its Ritz pairs at the right end of the spectrum are
//! eigenpair estimates (the extreme eigenvalues converge first), and its quadratures give the trace. A user
//! who wants all three pays `n_v * iter` products once instead of separate budgets. The eigenpairs come from
//! the first run, with residuals from the Lanczos relation (or explicit, with [`OnePassConfig::verify`]).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::op::SymOp;
use crate::results::{EigenResult, ResidualKind, TraceResult};
use crate::slq::{Density, SlqConfig, SlqRuns, pyhessian_density, slq_keep_first, slq_trace};

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
}

impl Default for OnePassConfig {
    fn default() -> Self {
        OnePassConfig {
            slq: SlqConfig::default(),
            k: 5,
            tol: 1e-3,
            verify: false,
        }
    }
}

/// What [`one_pass`] computes.
#[derive(Debug, Clone)]
pub struct OnePassResult<V> {
    /// Top-k Ritz pairs of the first run (`iterations` = SLQ steps, `hvps` = verification products only).
    pub eigen: EigenResult<V>,
    /// The SLQ trace estimate ([`slq_trace`]; `hvps` and `seconds` are those of the whole pass).
    pub trace: TraceResult,
    /// The density with PyHessian's defaults ([`pyhessian_density`]).
    pub density: Density,
    /// The runs, for redrawing the density.
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
    let (runs, kr) = slq_keep_first(op, &cfg.slq)?;
    let ritz = kr.ritz();
    let values: Vec<f64> = ritz.values[..cfg.k].to_vec();
    let vectors: Vec<O::V> = (0..cfg.k).map(|i| kr.ritz_vector(&ritz, i)).collect();
    let estimates: Vec<f64> = (0..cfg.k).map(|i| kr.residual_estimate(&ritz, i)).collect();
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
    let trace = TraceResult {
        hvps: runs.hvps + eigen.hvps,
        seconds,
        ..slq_trace(&runs)
    };
    let density = pyhessian_density(&runs.runs)?;
    Ok(OnePassResult {
        eigen,
        trace,
        density,
        runs,
    })
}
