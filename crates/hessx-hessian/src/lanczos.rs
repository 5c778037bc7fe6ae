//! Top-k eigenpairs by Lanczos with full reorthogonalisation.
//!
//! Lanczos extracts all top-k pairs from one Krylov space, so it needs far fewer products than power
//! iteration with deflation (which rebuilds a space per eigenvalue). The Krylov space grows until the top-k
//! Ritz pairs satisfy `|beta_m s_{m,i}| <= tol * |theta_i|` (free, from the Lanczos relation) or `max_iter`
//! steps were taken; then, if [`LanczosConfig::verify`] is set, one explicit product per pair recomputes
//! `||H y - theta y||` and the converged flags from it (k extra products, worth it: the estimate cannot see
//! rounding error in the products, which the explicit residual does). No restarts: the basis keeps
//! `iterations + 1` vectors of the operator's dimension (for ResNet20 and 100 steps, ~110 MB in f32).
//!
//! "Top" means algebraically largest, i.e. the right end of the spectrum, which is where a Hessian's outliers
//! live. (Power iteration finds the largest *magnitude* instead; the two agree unless a negative eigenvalue
//! dominates.)
//!
//! The same Krylov space also holds the other end: its smallest Ritz values converge to the most negative
//! eigenvalues just as the largest do to the top ones (issue 18). [`lanczos_extremes`] returns the end(s)
//! [`Which`] asks for from one run, continued until every requested pair passes the test above: `Both` costs
//! the steps of the slower end, not two solves (plus `k` verification products per end).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::krylov::Krylov;
use crate::op::SymOp;
use crate::probes::{ProbeKind, ProbeStream};
use crate::results::{EigenResult, ResidualKind};
use crate::vector::Vector;

/// Settings for [`lanczos_top_k`].
#[derive(Debug, Clone, PartialEq)]
pub struct LanczosConfig {
    /// Number of eigenpairs. Default 5.
    pub k: usize,
    /// Maximum Lanczos steps (products, before verification); capped at the dimension. Default 100.
    pub max_iter: usize,
    /// Convergence test `residual <= tol * |lambda|`. Default 1e-3 (PyHessian's power-iteration tolerance;
    /// f32 products limit explicit residuals to about 1e-6 relative).
    pub tol: f64,
    /// Seed of the Gaussian start vector. Default 0.
    pub seed: u64,
    /// Recompute each residual with one explicit product at the end. Default true.
    pub verify: bool,
}

impl Default for LanczosConfig {
    fn default() -> Self {
        LanczosConfig {
            k: 5,
            max_iter: 100,
            tol: 1e-3,
            seed: 0,
            verify: true,
        }
    }
}

/// `||H y - theta y||` for each pair, one product each.
pub(crate) fn explicit_residuals<O: SymOp>(op: &mut O, vectors: &[O::V], values: &[f64]) -> Result<Vec<f64>> {
    let mut res = Vec::with_capacity(vectors.len());
    for (y, &theta) in vectors.iter().zip(values) {
        let mut r = op.apply(y)?;
        r.axpy(-theta, y);
        res.push(r.norm());
    }
    Ok(res)
}

/// Which end(s) of the spectrum [`lanczos_extremes`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Which {
    /// The `k` algebraically largest eigenvalues (the top; [`lanczos_top_k`]).
    #[default]
    Largest,
    /// The `k` algebraically smallest (the bottom: the most negative first).
    Smallest,
    /// Both ends, `k` pairs each, from one Krylov space.
    Both,
    /// The `k` of largest `|lambda|` (what power iteration converges to, PyHessian's notion of "top").
    Magnitude,
}

/// One end of the spectrum, as [`lanczos_extremes`] labels its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Algebraically largest, descending (rank 0 = largest).
    Top,
    /// Algebraically smallest, ascending (rank 0 = most negative).
    Bottom,
    /// Largest magnitude, by descending `|lambda|`.
    Magnitude,
}

impl Which {
    /// The ends this choice returns, in the order [`lanczos_extremes`] returns them.
    pub fn ends(self) -> &'static [End] {
        match self {
            Which::Largest => &[End::Top],
            Which::Smallest => &[End::Bottom],
            Which::Both => &[End::Top, End::Bottom],
            Which::Magnitude => &[End::Magnitude],
        }
    }
}

impl End {
    /// Indices of this end's `k` pairs among Ritz values sorted descending, in this end's order.
    fn select(self, values: &[f64], k: usize) -> Vec<usize> {
        let m = values.len();
        match self {
            End::Top => (0..k).collect(),
            End::Bottom => (0..k).map(|i| m - 1 - i).collect(),
            End::Magnitude => {
                let mut idx: Vec<usize> = (0..m).collect();
                idx.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
                idx.truncate(k);
                idx
            }
        }
    }
}

/// Top-`k` eigenpairs of `op` (descending values, unit vectors).
///
/// ```
/// use hessx_hessian::{DenseOp, LanczosConfig, lanczos_top_k};
/// use nalgebra::DMatrix;
/// let diag: Vec<f64> = (1..=20).map(|i| i as f64).collect();
/// let mut op = DenseOp::new(DMatrix::from_diagonal(&nalgebra::DVector::from_vec(diag))).unwrap();
/// let cfg = LanczosConfig { k: 2, tol: 1e-10, ..Default::default() };
/// let top = lanczos_top_k(&mut op, &cfg).unwrap();
/// assert!((top.values[0] - 20.0).abs() < 1e-8 && (top.values[1] - 19.0).abs() < 1e-8);
/// assert!(top.all_converged());
/// ```
pub fn lanczos_top_k<O: SymOp>(op: &mut O, cfg: &LanczosConfig) -> Result<EigenResult<O::V>> {
    let mut ends = lanczos_extremes(op, cfg, Which::Largest)?;
    Ok(ends.pop().expect("Which::Largest returns one end").1)
}

/// The `k` eigenpairs of each end `which` asks for, from one Lanczos run.
///
/// The run stops once every requested pair satisfies `|beta_m s_{m,i}| <= tol * |theta_i|`, or after
/// `max_iter` steps; then (with [`LanczosConfig::verify`]) `k` explicit products per end give the residuals
/// and `converged`, exactly as for [`lanczos_top_k`]. Every end's [`EigenResult`] reports the whole run's
/// `iterations`, `hvps` and `seconds`: `hvps = iterations + k * ends` with verification. Since the Krylov
/// space depends only on the seed, `Which::Both` takes `max` of the steps `Largest` and `Smallest` take alone.
///
/// ```
/// use hessx_hessian::{DenseOp, End, LanczosConfig, Which, lanczos_extremes};
/// use nalgebra::{DMatrix, DVector};
/// // Eigenvalues -5, -4, ..., 14.
/// let mut op = DenseOp::new(DMatrix::from_diagonal(&DVector::from_fn(20, |i, _| i as f64 - 5.0))).unwrap();
/// let cfg = LanczosConfig { k: 2, tol: 1e-10, ..Default::default() };
/// let ends = lanczos_extremes(&mut op, &cfg, Which::Both).unwrap();
/// let (top, bottom) = (&ends[0], &ends[1]);
/// assert_eq!((top.0, bottom.0), (End::Top, End::Bottom));
/// assert!((top.1.values[0] - 14.0).abs() < 1e-8 && (bottom.1.values[0] + 5.0).abs() < 1e-8);
/// assert!((bottom.1.values[1] + 4.0).abs() < 1e-8 && bottom.1.all_converged());
/// assert_eq!(top.1.hvps, top.1.iterations as u64 + 2 * 2);
/// ```
pub fn lanczos_extremes<O: SymOp>(op: &mut O, cfg: &LanczosConfig, which: Which) -> Result<Vec<(End, EigenResult<O::V>)>> {
    lanczos_extremes_from(op, cfg, which, None)
}

/// [`lanczos_top_k`] started from `start` (any nonzero vector of the operator's dimension, normalised
/// here) instead of the seeded Gaussian vector: a warm start from a previous estimate's eigenvector, as
/// when tracking the top eigenvalue of a slowly changing Hessian during training. `None` is
/// [`lanczos_top_k`]. A start of the wrong length or without a finite, nonzero norm is refused.
///
/// ```
/// use hessx_hessian::{DenseOp, LanczosConfig, lanczos_top_k_from};
/// use nalgebra::{DMatrix, DVector};
/// let mut op = DenseOp::new(DMatrix::from_diagonal(&DVector::from_fn(50, |i, _| (i + 1) as f64))).unwrap();
/// // Almost the top eigenvector: two steps and the residual product suffice.
/// let mut start = vec![1e-6; 50];
/// start[49] = 1.0;
/// let cfg = LanczosConfig { k: 1, max_iter: 2, tol: 1e-6, ..Default::default() };
/// let top = lanczos_top_k_from(&mut op, &cfg, Some(&start)).unwrap();
/// assert!((top.values[0] - 50.0).abs() < 1e-6, "{}", top.values[0]);
/// assert!(top.hvps <= 3, "{}", top.hvps);
/// ```
pub fn lanczos_top_k_from<O: SymOp>(op: &mut O, cfg: &LanczosConfig, start: Option<&[f64]>) -> Result<EigenResult<O::V>> {
    let mut ends = lanczos_extremes_from(op, cfg, Which::Largest, start)?;
    Ok(ends.pop().expect("Which::Largest returns one end").1)
}

fn lanczos_extremes_from<O: SymOp>(
    op: &mut O,
    cfg: &LanczosConfig,
    which: Which,
    start_vector: Option<&[f64]>,
) -> Result<Vec<(End, EigenResult<O::V>)>> {
    let start = Instant::now();
    let hvps0 = op.hvps();
    let dim = op.dim();
    if cfg.k == 0 || cfg.k > dim {
        return Err(Error::InvalidArgument {
            name: "k",
            reason: format!(
                "asked for {} eigenpairs of a {dim}-dimensional operator; use 1..={dim}",
                cfg.k
            ),
        });
    }
    let max_iter = cfg.max_iter.min(dim);
    if max_iter < cfg.k {
        return Err(Error::InvalidArgument {
            name: "max_iter",
            reason: format!(
                "{} Lanczos steps cannot give {} eigenpairs; use max_iter >= k",
                cfg.max_iter, cfg.k
            ),
        });
    }
    let ends = which.ends();
    let v0 = match start_vector {
        None => op.vector_from_host(&ProbeStream::new(cfg.seed).draw(ProbeKind::Gaussian, dim)),
        Some(x) => {
            let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            if x.len() != dim || !norm.is_finite() || norm == 0.0 {
                return Err(Error::InvalidArgument {
                    name: "start",
                    reason: format!(
                        "a start vector of length {} and norm {norm} for a {dim}-dimensional operator; \
                         pass a nonzero, finite vector of length {dim} (or none for a random start)",
                        x.len()
                    ),
                });
            }
            op.vector_from_host(x)
        }
    };
    let mut kr = Krylov::new(v0, cfg.seed);
    let mut ritz;
    loop {
        kr.step(op)?;
        if kr.steps() < cfg.k {
            continue;
        }
        ritz = kr.ritz();
        let done = ends.iter().all(|end| {
            end.select(&ritz.values, cfg.k)
                .into_iter()
                .all(|i| kr.converged(&ritz, i, cfg.tol))
        });
        if done || kr.steps() >= max_iter {
            break;
        }
    }
    let mut out = Vec::with_capacity(ends.len());
    for &end in ends {
        let picked = end.select(&ritz.values, cfg.k);
        let values: Vec<f64> = picked.iter().map(|&i| ritz.values[i]).collect();
        let vectors: Vec<O::V> = picked.iter().map(|&i| kr.ritz_vector(&ritz, i)).collect();
        let (residuals, residual_kind) = if cfg.verify {
            (explicit_residuals(op, &vectors, &values)?, ResidualKind::Explicit)
        } else {
            (
                picked.iter().map(|&i| kr.residual_estimate(&ritz, i)).collect(),
                ResidualKind::LanczosEstimate,
            )
        };
        let converged = residuals
            .iter()
            .zip(&values)
            .map(|(r, l)| *r <= cfg.tol * l.abs())
            .collect();
        out.push((
            end,
            EigenResult {
                values,
                vectors,
                residuals,
                residual_kind,
                converged,
                iterations: kr.steps(),
                hvps: 0,
                seconds: 0.0,
            },
        ));
    }
    // Products and time of the whole run, verification of every end included.
    let (hvps, seconds) = (op.hvps() - hvps0, start.elapsed().as_secs_f64());
    for (_, r) in &mut out {
        r.hvps = hvps;
        r.seconds = seconds;
    }
    Ok(out)
}
