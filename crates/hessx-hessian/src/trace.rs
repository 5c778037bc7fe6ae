//! Hutchinson's trace estimator with Rademacher probes.
//!
//! `tr(H) = E[z^T H z]` for `z` with independent +-1 entries; the sample mean of `z_i^T H z_i` is unbiased
//! with variance `2 (||H||_F^2 - sum_i H_ii^2) / n`. Probes are added until the standard error of the mean is
//! at most `tol * |mean|` or `max_probes` were used; the rule applies only from [`MIN_TRACE_PROBES`] probes
//! on, because a standard error from two samples has one degree of freedom and is small by luck often
//! enough to stop on it (PyHessian's `trace()` stops when the running mean changes by less than `tol`
//! relative, the same "lucky pair" failure). The standard-error rule reports what it achieved.

use std::time::Instant;

use crate::error::{Error, Result, finite};
use crate::op::SymOp;
use crate::probes::{Estimator, ProbeKind, ProbeStream};
use crate::results::{MIN_TRACE_PROBES, TraceResult, mean_and_std_error};
use crate::vector::Vector;

/// Settings for [`hutchinson`].
#[derive(Debug, Clone, PartialEq)]
pub struct HutchinsonConfig {
    /// Maximum probes (= products). Default 100 (PyHessian's `maxIter`).
    pub max_probes: usize,
    /// Stop when `std_error <= tol * |estimate|`, tested from [`MIN_TRACE_PROBES`] probes on. Default 1e-3
    /// (PyHessian's `tol`).
    pub tol: f64,
    /// Probe seed. Default 0.
    pub seed: u64,
    /// Checkpoint step (or any index) whose probe stream to draw:
    /// [`ProbeStream::derived`]`(seed, Estimator::Hutchinson, step)`. Default 0.
    pub step: u64,
}

impl Default for HutchinsonConfig {
    fn default() -> Self {
        HutchinsonConfig {
            max_probes: 100,
            tol: 1e-3,
            seed: 0,
            step: 0,
        }
    }
}

/// Hutchinson estimate of `tr(op)`.
pub fn hutchinson<O: SymOp>(op: &mut O, cfg: &HutchinsonConfig) -> Result<TraceResult> {
    let start = Instant::now();
    let hvps0 = op.hvps();
    if cfg.max_probes < 2 {
        return Err(Error::InvalidArgument {
            name: "max_probes",
            reason: format!(
                "{} probes cannot give a standard error; use at least 2",
                cfg.max_probes
            ),
        });
    }
    let mut probes = ProbeStream::derived(cfg.seed, Estimator::Hutchinson, cfg.step);
    let mut samples = Vec::with_capacity(cfg.max_probes);
    let mut converged = false;
    while samples.len() < cfg.max_probes {
        let z = op.vector_from_host(&probes.draw(ProbeKind::Rademacher, op.dim()));
        let hz = op.apply(&z)?;
        samples.push(finite(z.dot(&hz), "Hutchinson sample z^T H z")?);
        if samples.len() >= MIN_TRACE_PROBES {
            let (mean, se) = mean_and_std_error(&samples);
            if se <= cfg.tol * mean.abs() {
                converged = true;
                break;
            }
        }
    }
    let (estimate, std_error) = mean_and_std_error(&samples);
    Ok(TraceResult {
        estimate,
        std_error,
        probes: samples.len(),
        converged,
        hvps: op.hvps() - hvps0,
        seconds: start.elapsed().as_secs_f64(),
    })
}
