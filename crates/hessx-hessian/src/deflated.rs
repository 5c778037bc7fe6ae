//! Deflated density weights: the exact mass `1/n` for each eigenvalue a Lanczos run has found, instead of
//! the probe's random weight.
//!
//! A one-probe SLQ density gives the Ritz value `theta_i` the weight `w_i = (v . y_i)^2`. For a converged
//! outlier, `y_i` is an eigenvector `u` and `n w_i` is a `chi^2_1` draw (Gaussian probe; close to one for
//! Rademacher): mean 1, standard deviation `sqrt(2)`. Its mass sits far from the bulk, so its random weight
//! moves the spectral distribution by `|theta - bulk| * sqrt(2) / n` in 1-Wasserstein distance, and the few
//! outliers of a trained network (up to 155 against a bulk within +-0.01 on ResNet20) make about half of a
//! one-probe density's W1. Yet the mass of a simple eigenvalue in the spectral distribution is known: `1/n`.
//!
//! [`deflate`] gives every *resolved* Ritz value (below) the weight `1/n` and rescales the other weights so
//! that they sum to `1 - m/n` (`m` resolved values). For a Gaussian probe and exactly resolved eigenvectors
//! this is unbiased: the probe's part on the complement of the resolved eigenvectors, normalised, is uniform
//! on that complement's sphere, so its spectral measure has mean `1/(n - m)` per remaining eigenvalue. It
//! costs no product: the residuals come from the Lanczos relation (`|beta_m s_{m,i}|`).
//!
//! **Resolved** means both:
//! - residual `<= RESOLVED_TOL * max|theta|` (the Ritz value is an eigenvalue to that accuracy), and
//! - `n w_i <= MAX_SIMPLE_WEIGHT`: a node whose weight is far above `1/n` stands for many eigenvalues (a
//!   cluster, or a multiple eigenvalue such as the many exact zeros of dead units or unused embedding rows),
//!   and keeps its probe weight. `chi^2_1` exceeds 25 with probability 6e-7.
//!
//! **What one probe cannot see: a small multiplicity.** A `k`-fold eigenvalue shows as one Ritz value whose
//! weight is a `chi^2_k / n` draw; for `k` up to about 10 it passes the weight test and gets `1/n` instead
//! of `k/n`, and the missing `(k - 1)/n` is spread over the rest of the spectrum. A model with repeated
//! outlying eigenvalues should use plain weights ([`DensityWeights::Plain`], PyHessian's estimator).
//!
//! When the run resolved every direction (`m = n`, as when `iter` reaches the dimension), every node gets
//! `1/n`: the exact spectrum. When it resolved every node it has but fewer than `n` (an invariant Krylov
//! space, whose multiplicities only the probe weights estimate), or left no weight outside the resolved
//! nodes, the plain weights are kept.

use crate::radau::DensityRule;
use crate::slq::{SlqRun, SlqRuns};

/// A Ritz value with residual `<= RESOLVED_TOL * max|theta|` is an eigenvalue. Outliers of a trained
/// network reach ~1e-12 relative within 30 steps; bulk Ritz values of a dense bulk stay far above it.
pub const RESOLVED_TOL: f64 = 1e-6;

/// A node with `n * weight` above this stands for more than one eigenvalue (module docs).
pub const MAX_SIMPLE_WEIGHT: f64 = 25.0;

/// Rest weights below this are rounding: rescaling them would amplify noise.
const MIN_REST_WEIGHT: f64 = 1e-12;

/// How quadrature weights become the density's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DensityWeights {
    /// The probe's Gauss weights, as PyHessian.
    #[default]
    Plain,
    /// Resolved eigenvalues get their exact mass `1/n` ([`deflate`]).
    Deflated,
}

impl DensityWeights {
    /// The runs of `runs` with these weights.
    pub fn apply(self, runs: &SlqRuns) -> Vec<SlqRun> {
        match self {
            DensityWeights::Plain => runs.runs.clone(),
            DensityWeights::Deflated => runs.runs.iter().map(|r| deflate(r, runs.dim)).collect(),
        }
    }
}

/// The runs a density is drawn from: each run's `rule`, then `weights` on its nodes. In that order, because
/// the deflation reads the rule's residual bounds to tell which nodes are resolved.
pub fn density_runs(runs: &SlqRuns, rule: DensityRule, weights: DensityWeights) -> Vec<SlqRun> {
    weights.apply(&rule.apply(runs))
}

/// Whether each node of `run` is a resolved eigenvalue of an operator of dimension `dim` (module docs).
pub fn resolved(run: &SlqRun, dim: usize) -> Vec<bool> {
    let scale = run.nodes.iter().fold(0.0_f64, |m, t| m.max(t.abs()));
    let n = dim as f64;
    run.weights
        .iter()
        .zip(&run.residuals)
        .map(|(w, r)| *r <= RESOLVED_TOL * scale && w * n <= MAX_SIMPLE_WEIGHT)
        .collect()
}

/// `run` with deflated weights: `1/dim` for each resolved node, the others rescaled to the rest of the mass
/// (module docs). Nodes and residuals are unchanged; the weights still sum to 1.
pub fn deflate(run: &SlqRun, dim: usize) -> SlqRun {
    let found = resolved(run, dim);
    let m = found.iter().filter(|&&f| f).count();
    let rest: f64 = run.weights.iter().zip(&found).filter(|(_, f)| !**f).map(|(w, _)| w).sum();
    let every_node = m == run.nodes.len();
    let keep_plain = m == 0 || (every_node && m != dim) || (!every_node && rest <= MIN_REST_WEIGHT);
    if keep_plain {
        return run.clone();
    }
    let n = dim as f64;
    let rest_scale = if every_node { 0.0 } else { (1.0 - m as f64 / n) / rest };
    let weights = run.weights.iter().zip(&found).map(|(w, &f)| if f { 1.0 / n } else { w * rest_scale }).collect();
    SlqRun { weights, ..run.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(nodes: &[f64], weights: &[f64], residuals: &[f64]) -> SlqRun {
        SlqRun { nodes: nodes.to_vec(), weights: weights.to_vec(), residuals: residuals.to_vec() }
    }

    #[test]
    fn resolved_outliers_get_one_over_n_and_the_rest_is_rescaled() {
        // n = 100; the outlier at 50 is resolved (residual 1e-9 <= 1e-6 * 50) with weight 0.03 (n w = 3).
        let r = run(&[50.0, 0.2, -0.1], &[0.03, 0.57, 0.40], &[1e-9, 0.1, 0.1]);
        let d = deflate(&r, 100);
        // Rest: 0.97 of the probe's weight becomes 0.99 of the mass.
        let s = 0.99 / 0.97;
        let want = [0.01, 0.57 * s, 0.40 * s];
        for (got, want) in d.weights.iter().zip(want) {
            assert!((got - want).abs() < 1e-15, "{:?}", d.weights);
        }
        assert!((d.weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!((d.nodes, d.residuals), (r.nodes, r.residuals));
    }

    #[test]
    fn heavy_or_unconverged_nodes_keep_their_weight() {
        // n = 100: the node at 0 is exact but carries n w = 60 (a 60-fold zero), so it is not one eigenvalue;
        // the node at 9 has residual 1e-3 > 1e-6 * 10.
        let r = run(&[10.0, 9.0, 0.0], &[0.02, 0.38, 0.60], &[0.0, 1e-3, 0.0]);
        assert_eq!(resolved(&r, 100), vec![true, false, false]);
        let d = deflate(&r, 100);
        let s = 0.99 / 0.98;
        assert!((d.weights[0] - 0.01).abs() < 1e-15 && (d.weights[2] - 0.60 * s).abs() < 1e-15);
        // NaN residuals (tables written before residuals were kept) resolve nothing.
        let old = run(&[10.0, 0.0], &[0.3, 0.7], &[f64::NAN, f64::NAN]);
        assert_eq!(deflate(&old, 3).weights, old.weights);
    }

    #[test]
    fn a_run_that_resolved_everything_is_the_exact_spectrum_only_when_it_has_every_direction() {
        // iter = n = 3: every node is an eigenvalue of mass 1/3.
        let full = run(&[3.0, 2.0, 1.0], &[0.5, 0.3, 0.2], &[0.0; 3]);
        assert_eq!(deflate(&full, 3).weights, vec![1.0 / 3.0; 3]);
        // 2 nodes, all resolved, n = 4: an invariant space; which eigenvalue is double only the weights say.
        let invariant = run(&[3.0, 1.0], &[0.75, 0.25], &[0.0; 2]);
        assert_eq!(deflate(&invariant, 4), invariant);
        // Nothing left outside the resolved nodes to rescale.
        let empty_rest = run(&[3.0, 1.0, 0.5], &[0.5, 0.5, 0.0], &[0.0, 0.0, 1.0]);
        assert_eq!(deflate(&empty_rest, 4), empty_rest);
    }
}
