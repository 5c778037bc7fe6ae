//! Spectral density (ESD) by stochastic Lanczos quadrature (Ghorbani, Krishnan, Xiao, ICML 2019), as
//! PyHessian's `hessian.density(iter=100, n_v=1)` and `density_plot.density_generate`.
//!
//! A Lanczos run of `iter` steps from a unit probe `v` gives a Gauss quadrature of the probe's spectral
//! measure: `v^T f(H) v ~ sum_i w_i f(theta_i)` with nodes `theta_i` (Ritz values) and weights `w_i` (squared
//! first components of the Ritz vectors, summing to 1). With `f` a Gaussian kernel and the average over
//! probes, this is the smoothed ESD. The costly part ([`slq`], `n_v * iter` products) is kept apart from
//! the cheap part ([`density`], [`pyhessian_density`], [`slq_trace`]): store the runs and redraw densities
//! with other grids or kernel widths without new products.

use std::f64::consts::PI;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::krylov::Krylov;
use crate::op::SymOp;
use crate::probes::{Estimator, ProbeKind, ProbeStream};
use crate::radau::gauss_radau;
use crate::results::{TraceResult, mean_and_std_error};
use crate::vector::Vector;

/// Settings for [`slq`]; defaults are PyHessian's.
#[derive(Debug, Clone, PartialEq)]
pub struct SlqConfig {
    /// Lanczos steps per run (`iter`); capped at the dimension. Default 100.
    pub iter: usize,
    /// Number of runs (`n_v`). Default 1.
    pub n_v: usize,
    /// Probe distribution (normalised to unit length). Default Rademacher, as PyHessian.
    pub probe: ProbeKind,
    /// Probe seed; run `r` uses the `r`-th probe of [`ProbeStream::derived`]`(seed, Estimator::Slq, step)`.
    /// Default 0.
    pub seed: u64,
    /// Checkpoint step (or any index) whose probe stream to draw. Default 0.
    pub step: u64,
}

impl Default for SlqConfig {
    fn default() -> Self {
        SlqConfig {
            iter: 100,
            n_v: 1,
            probe: ProbeKind::Rademacher,
            seed: 0,
            step: 0,
        }
    }
}

/// One SLQ run: a quadrature rule for one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct SlqRun {
    /// Ritz values, descending.
    pub nodes: Vec<f64>,
    /// Squared first components of the Ritz vectors (sum to 1).
    pub weights: Vec<f64>,
    /// Residual norms `||H y_i - theta_i y_i||` from the Lanczos relation (`|beta_m s_{m,i}|`, no product);
    /// NaN where unknown. [`crate::deflate`] uses them to tell found eigenvalues from the bulk.
    pub residuals: Vec<f64>,
}

/// All runs of one SLQ call.
#[derive(Debug, Clone, PartialEq)]
pub struct SlqRuns {
    /// The runs (Gauss rules).
    pub runs: Vec<SlqRun>,
    /// The same runs' Gauss–Radau rules with a node fixed at 0 ([`crate::DensityRule::RadauZero`]).
    pub radau_zero: Vec<SlqRun>,
    /// Dimension of the operator (to scale quadratures to traces).
    pub dim: usize,
    /// Lanczos steps per run (of the longest run: the one-pass mode's first run may go on past `iter`,
    /// [`crate::OnePassConfig::max_iter`]).
    pub iterations: usize,
    /// Products used.
    pub hvps: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Runs SLQ: `n_v` Lanczos runs of `iter` steps with full reorthogonalisation.
pub fn slq<O: SymOp>(op: &mut O, cfg: &SlqConfig) -> Result<SlqRuns> {
    slq_keep_first(op, cfg, None).map(|(runs, _)| runs)
}

/// How far the one-pass mode's first run may go past `iter`: until its top `k` Ritz pairs have Lanczos
/// residual estimates at most `tol * |theta|`, up to `max_iter` steps in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExtendFirst {
    pub k: usize,
    pub tol: f64,
    pub max_iter: usize,
}

impl ExtendFirst {
    /// Whether the top `k` Ritz pairs of `kr` meet the test (by the Lanczos estimate, no product).
    fn met<V: Vector>(&self, kr: &Krylov<V>) -> bool {
        let ritz = kr.ritz();
        (0..self.k.min(ritz.values.len())).all(|i| kr.converged(&ritz, i, self.tol))
    }
}

/// SLQ that also hands back the first run's Krylov state (for the one-pass mode's Ritz vectors); with
/// `extend`, the first run goes on past `cfg.iter` as [`ExtendFirst`] says.
pub(crate) fn slq_keep_first<O: SymOp>(
    op: &mut O,
    cfg: &SlqConfig,
    extend: Option<ExtendFirst>,
) -> Result<(SlqRuns, Krylov<O::V>)> {
    let start = Instant::now();
    let hvps0 = op.hvps();
    let dim = op.dim();
    if cfg.iter == 0 || cfg.n_v == 0 {
        return Err(Error::InvalidArgument {
            name: "iter",
            reason: format!(
                "SLQ needs iter >= 1 and n_v >= 1, got iter = {} and n_v = {}",
                cfg.iter, cfg.n_v
            ),
        });
    }
    let iter = cfg.iter.min(dim);
    let mut probes = ProbeStream::derived(cfg.seed, Estimator::Slq, cfg.step);
    let mut runs = Vec::with_capacity(cfg.n_v);
    let mut radau_zero = Vec::with_capacity(cfg.n_v);
    let mut first = None;
    let mut longest = 0;
    for r in 0..cfg.n_v {
        let v = op.vector_from_host(&probes.draw(cfg.probe, dim));
        let mut kr = Krylov::new(v, cfg.seed.wrapping_add(r as u64));
        for _ in 0..iter {
            kr.step(op)?;
        }
        if let Some(extend) = extend.filter(|_| r == 0) {
            while kr.steps() < extend.max_iter.min(dim) && !extend.met(&kr) {
                kr.step(op)?;
            }
        }
        let steps = kr.steps();
        longest = longest.max(steps);
        let ritz = kr.ritz();
        let weights = ritz.quadrature_weights();
        let residuals = (0..steps).map(|i| kr.residual_estimate(&ritz, i)).collect();
        let gauss = SlqRun {
            nodes: ritz.values,
            weights,
            residuals,
        };
        radau_zero.push(gauss_radau(&kr.alphas, &kr.betas, 0.0, &gauss));
        runs.push(gauss);
        if r == 0 {
            first = Some(kr);
        }
    }
    let runs = SlqRuns {
        runs,
        radau_zero,
        dim,
        iterations: longest,
        hvps: op.hvps() - hvps0,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((runs, first.expect("n_v >= 1")))
}

/// Trace from SLQ runs: `dim * mean_r sum_i w_i theta_i` (each run's term is `dim * v^T H v` for its unit
/// probe, i.e. a Hutchinson sample; unbiased for Rademacher and Gaussian probes). `std_error` is over runs
/// (NaN for one run).
pub fn slq_trace(runs: &SlqRuns) -> TraceResult {
    let samples: Vec<f64> = runs
        .runs
        .iter()
        .map(|r| {
            runs.dim as f64
                * r.nodes
                    .iter()
                    .zip(&r.weights)
                    .map(|(t, w)| t * w)
                    .sum::<f64>()
        })
        .collect();
    let (estimate, std_error) = mean_and_std_error(&samples);
    TraceResult {
        estimate,
        std_error,
        probes: samples.len(),
        converged: true,
        hvps: 0,
        seconds: 0.0,
    }
}

/// A density on a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Density {
    /// Grid points (ascending, equally spaced).
    pub grid: Vec<f64>,
    /// Density values; `sum(density) * spacing = 1`.
    pub density: Vec<f64>,
    /// The Gaussian kernel's variance `sigma^2`.
    pub kernel_variance: f64,
}

/// Gaussian-kernel density of the runs on `grid`: the average over runs of
/// `sum_i w_i N(t; theta_i, kernel_variance)`, normalised so that `sum(density) * (grid[1] - grid[0]) = 1`
/// (PyHessian's normalisation; it corrects for mass outside the grid).
pub fn density(runs: &[SlqRun], grid: &[f64], kernel_variance: f64) -> Result<Vec<f64>> {
    if runs.is_empty() || grid.len() < 2 || kernel_variance.is_nan() || kernel_variance <= 0.0 {
        return Err(Error::InvalidArgument {
            name: "grid",
            reason: format!(
                "density needs at least one run, two grid points and a positive kernel variance, got {} runs, {} points, variance {kernel_variance}",
                runs.len(),
                grid.len()
            ),
        });
    }
    let norm = 1.0 / (2.0 * PI * kernel_variance).sqrt();
    let mut out: Vec<f64> = grid
        .iter()
        .map(|&t| {
            runs.iter()
                .map(|r| {
                    r.nodes
                        .iter()
                        .zip(&r.weights)
                        .map(|(x, w)| w * norm * (-(t - x).powi(2) / (2.0 * kernel_variance)).exp())
                        .sum::<f64>()
                })
                .sum::<f64>()
                / runs.len() as f64
        })
        .collect();
    let total = out.iter().sum::<f64>() * (grid[1] - grid[0]);
    if total > 0.0 {
        for d in &mut out {
            *d /= total;
        }
    }
    Ok(out)
}

/// PyHessian's grid and kernel (`density_generate(num_bins=10000, sigma_squared=1e-5, overhead=0.01)`):
/// `num_bins` points from `mean_r(min node) - overhead` to `mean_r(max node) + overhead` (an *absolute*
/// padding of 0.01, not a percentage), and kernel variance `sigma_squared * max(1, range)` where `range` is
/// the padded width (PyHessian calls this value `sigma` but passes it as the variance).
pub fn pyhessian_grid(
    runs: &[SlqRun],
    num_bins: usize,
    sigma_squared: f64,
    overhead: f64,
) -> (Vec<f64>, f64) {
    let n = runs.len().max(1) as f64;
    let max = runs
        .iter()
        .map(|r| r.nodes.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
        .sum::<f64>()
        / n;
    let min = runs
        .iter()
        .map(|r| r.nodes.iter().cloned().fold(f64::INFINITY, f64::min))
        .sum::<f64>()
        / n;
    let (lo, hi) = (min - overhead, max + overhead);
    let step = (hi - lo) / (num_bins.max(2) - 1) as f64;
    let grid = (0..num_bins.max(2)).map(|i| lo + step * i as f64).collect();
    (grid, sigma_squared * (hi - lo).max(1.0))
}

/// The density with PyHessian's defaults: 10,000 bins, `sigma_squared = 1e-5`, padding 0.01.
pub fn pyhessian_density(runs: &[SlqRun]) -> Result<Density> {
    let (grid, kernel_variance) = pyhessian_grid(runs, 10_000, 1e-5, 0.01);
    let density = density(runs, &grid, kernel_variance)?;
    Ok(Density {
        grid,
        density,
        kernel_variance,
    })
}
