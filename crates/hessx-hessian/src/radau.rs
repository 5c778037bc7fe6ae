//! The Gauss–Radau rule with a node fixed at 0: a spectral density from the same Lanczos run that
//! places the near-zero mass of a network's Hessian where it is.
//!
//! `m` Lanczos steps give `T_m` and the residual coupling `beta_m`. PyHessian's density is the Gauss
//! rule of `T_m` (its eigenvalues, weighted by their eigenvectors' first components squared): exact for
//! polynomials of degree `2m - 1`, and it ignores `beta_m`. The Gauss–Radau rule with a prescribed node
//! `a` (Golub & Meurant, *Matrices, Moments and Quadrature*, ch. 6) extends `T_m` by one row,
//! `beta_m` off the diagonal and `omega` on it, chosen so that `a` is an eigenvalue:
//! `omega = a + delta_m` with `(T_m - a I) delta = beta_m^2 e_m`. Its `m + 1` nodes are exact for degree
//! `2m` and cost no product. Being the Gauss rule of a Jacobi matrix, its weights are squares, so it is a
//! distribution.
//!
//! Why 0: the Hessian of a network's loss has most of its eigenvalues at or near 0 (exact zeros from dead
//! units, unused embedding rows and symmetries; near zeros from over-parameterisation). Within a few
//! dozen steps the Gauss rule resolves that spike with one node, off 0 by its shoulders' pull (on the
//! trained ResNet20 of `bench/`: a node at 1.05e-3 carrying 99% of the mass, flanked by nodes at -0.15
//! and 0.54), and most of a short run's 1-Wasserstein error is there. With a node at 0 the same run is
//! as close as a Gauss rule half again as long: W1 2.5e-3 at 20 steps against 7.4e-3 for the Gauss rule
//! of the same runs, and 2.6e-3 for a 30-step Gauss rule (`bench/versus/results.md`, deflated weights,
//! ten seeds). On the dense Hessian of a trained MLP it is 20% closer at 20 steps
//! (`hessx-pipeline/tests/digits_ground_truth.rs`). Where the spectrum has no mass near 0 the fixed
//! node gets almost no weight and the rule is the Gauss rule's equal. On made-up spikes (a box of
//! eigenvalues within +-3e-3 of 0) it was within 2% of the Gauss rule either way, and a heavy spike
//! away from 0 (a loss with an L2 term adds its coefficient to every eigenvalue) is the case it does
//! not fit: `--density-rule gauss` is PyHessian's rule.
//!
//! **Residuals.** The density's deflated weights ([`crate::deflate`]) need to know which nodes are
//! eigenvalues. A resolved Gauss pair `(theta_j, s_j)` with residual `r_j = |beta_m s_{m,j}|` gives the
//! extended matrix the approximate eigenvector `(s_j, 0)` with residual exactly `r_j`, so the Radau rule
//! has a node within `r_j` of `theta_j`, itself within `r_j` of an eigenvalue of `H`. Each Radau node
//! `x` is given the bound `min_j |x - theta_j| + r_j` on its distance to the spectrum: small only next to
//! a resolved Gauss node, large in the bulk.

use nalgebra::DVector;

use crate::krylov::{Ritz, tridiagonal};
use crate::slq::{SlqRun, SlqRuns};

/// Which quadrature rule a density is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DensityRule {
    /// The Gauss rule of `T_m`, as PyHessian.
    #[default]
    Gauss,
    /// The Gauss–Radau rule with a node fixed at 0 (module docs).
    RadauZero,
}

impl DensityRule {
    /// `runs` with this rule's nodes, weights and residual bounds in place of the Gauss rule's.
    pub fn apply(self, runs: &SlqRuns) -> SlqRuns {
        match self {
            DensityRule::Gauss => runs.clone(),
            DensityRule::RadauZero => SlqRuns { runs: runs.radau_zero.clone(), ..runs.clone() },
        }
    }
}

/// The Gauss–Radau rule with a node fixed at `fixed`, from the Lanczos coefficients (`alphas` the
/// diagonal of `T_m`, `betas[j]` the coupling of steps `j` and `j + 1`, `betas[m - 1] = beta_m`) and the
/// Gauss rule `gauss` of the same `T_m` (for the residual bounds, module docs). Nodes descending.
///
/// Returns the Gauss rule unchanged when it cannot be extended: `beta_m = 0` (the Krylov space is
/// invariant and the Gauss rule is exact), or `fixed` is already an eigenvalue of `T_m`.
pub fn gauss_radau(alphas: &[f64], betas: &[f64], fixed: f64, gauss: &SlqRun) -> SlqRun {
    let m = alphas.len();
    let beta_m = betas.get(m.wrapping_sub(1)).copied().unwrap_or(0.0);
    let scale = alphas.iter().chain(betas).fold(0.0_f64, |s, v| s.max(v.abs()));
    if m == 0 || betas.len() < m || beta_m <= f64::EPSILON * scale {
        return gauss.clone();
    }
    let shifted = tridiagonal(m, |i| alphas[i] - fixed, betas);
    let mut rhs = DVector::zeros(m);
    rhs[m - 1] = beta_m * beta_m;
    let Some(delta) = shifted.lu().solve(&rhs).filter(|d| d.iter().all(|v| v.is_finite())) else {
        return gauss.clone();
    };
    let omega = fixed + delta[m - 1];
    let extended = Ritz::of(tridiagonal(m + 1, |i| if i < m { alphas[i] } else { omega }, betas));
    let weights = extended.quadrature_weights();
    let mut nodes = extended.values;
    // `fixed` is a node by construction; the eigensolver returns it to rounding (~1e-16 of the scale),
    // on either side. Put it back exactly, so that a count of negative nodes (hx-robustness's negative
    // mass) never takes the near-zero spike for negative curvature.
    if let Some(at) = (0..nodes.len()).min_by(|&i, &j| (nodes[i] - fixed).abs().total_cmp(&(nodes[j] - fixed).abs())) {
        nodes[at] = fixed;
    }
    let residuals = nodes
        .iter()
        .map(|x| gauss.nodes.iter().zip(&gauss.residuals).map(|(t, r)| (x - t).abs() + r).fold(f64::INFINITY, f64::min))
        .collect();
    SlqRun { nodes, weights, residuals }
}
