//! Power iteration with deflation, as PyHessian's `hessian.eigenvalues(maxIter=100, tol=1e-3, top_n)`.
//!
//! Kept as the reference method: it is what published numbers were computed with. Each eigenvalue gets its
//! own run from a fresh Gaussian vector, orthogonalised against the vectors found so far before every
//! product; a run stops when `|lambda_prev - lambda| / (|lambda_prev| + 1e-6) < tol` (PyHessian's test, on
//! consecutive Rayleigh quotients) or after `max_iter` products. Power iteration converges to the largest
//! *magnitude* eigenvalue of the deflated operator, at a rate set by the gap ratio, so it needs many more
//! products than Lanczos for the same accuracy.

use std::time::Instant;

use crate::error::{Error, Result, finite};
use crate::op::SymOp;
use crate::probes::{ProbeKind, ProbeStream};
use crate::results::{EigenResult, ResidualKind};
use crate::vector::{Vector, normalize, orthogonalize};

/// Settings for [`power_iteration`]; defaults are PyHessian's.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerConfig {
    /// Number of eigenpairs (`top_n`). Default 1.
    pub top_n: usize,
    /// Products per eigenpair (`maxIter`). Default 100.
    pub max_iter: usize,
    /// Relative change of consecutive eigenvalue estimates that stops a run (`tol`). Default 1e-3.
    pub tol: f64,
    /// Seed of the start vectors. Default 0.
    pub seed: u64,
    /// Compute each pair's residual with one explicit product at the end. Default false (PyHessian does not);
    /// without it the residuals are NaN ([`ResidualKind::NotComputed`]).
    pub verify: bool,
}

impl Default for PowerConfig {
    fn default() -> Self {
        PowerConfig {
            top_n: 1,
            max_iter: 100,
            tol: 1e-3,
            seed: 0,
            verify: false,
        }
    }
}

/// Top eigenpairs by power iteration with deflation. `converged[i]` says whether run `i` met PyHessian's
/// relative-change test before `max_iter` (not a residual test).
pub fn power_iteration<O: SymOp>(op: &mut O, cfg: &PowerConfig) -> Result<EigenResult<O::V>> {
    let start = Instant::now();
    let hvps0 = op.hvps();
    let dim = op.dim();
    if cfg.top_n == 0 || cfg.top_n > dim || cfg.max_iter == 0 {
        return Err(Error::InvalidArgument {
            name: "top_n",
            reason: format!(
                "top_n = {} and max_iter = {} for a {dim}-dimensional operator; use 1 <= top_n <= {dim} and max_iter >= 1",
                cfg.top_n, cfg.max_iter
            ),
        });
    }
    let mut probes = ProbeStream::new(cfg.seed);
    let mut values = Vec::new();
    let mut vectors: Vec<O::V> = Vec::new();
    let mut residuals = Vec::new();
    let mut converged = Vec::new();
    let mut iterations = 0;
    while values.len() < cfg.top_n {
        let mut v = op.vector_from_host(&probes.draw(ProbeKind::Gaussian, dim));
        normalize(&mut v);
        let mut eigenvalue: Option<f64> = None;
        let mut done = false;
        for _ in 0..cfg.max_iter {
            orthogonalize(&mut v, &vectors);
            normalize(&mut v);
            let hv = op.apply(&v)?;
            iterations += 1;
            let tmp = finite(hv.dot(&v), "Rayleigh quotient v^T H v")?;
            v = hv;
            normalize(&mut v);
            match eigenvalue {
                Some(prev) if (prev - tmp).abs() / (prev.abs() + 1e-6) < cfg.tol => {
                    done = true;
                    break;
                }
                _ => eigenvalue = Some(tmp),
            }
        }
        // As in PyHessian, the reported value is the last accepted estimate and the vector the last
        // normalised product. No product so far has that vector as input, so its residual costs one more
        // (verify) or is not reported: the residual the loop could give for free belongs to the previous
        // iterate and a newer Rayleigh quotient, not to this pair.
        let lambda = eigenvalue.expect("max_iter >= 1 gives at least one estimate");
        if cfg.verify {
            let mut r = op.apply(&v)?;
            r.axpy(-lambda, &v);
            residuals.push(r.norm());
        } else {
            residuals.push(f64::NAN);
        }
        values.push(lambda);
        vectors.push(v);
        converged.push(done);
    }
    Ok(EigenResult {
        values,
        vectors,
        residuals,
        residual_kind: if cfg.verify {
            ResidualKind::Explicit
        } else {
            ResidualKind::NotComputed
        },
        converged,
        iterations,
        hvps: op.hvps() - hvps0,
        seconds: start.elapsed().as_secs_f64(),
    })
}
