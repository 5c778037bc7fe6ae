//! Result structs shared by the algorithms, so stages write one schema whichever method produced them.

/// How the residuals `||H v - lambda v||` in an [`EigenResult`] were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResidualKind {
    /// From the Lanczos relation, `|beta_m * s_{m,i}|`: free, exact in exact arithmetic, and a slight
    /// underestimate in floating point once the residual reaches the rounding level of the products.
    LanczosEstimate,
    /// One explicit product per pair after the solver finished.
    Explicit,
    /// Not computed (power iteration without verification): the residuals are NaN. The residual the last
    /// product gives for free is that of the previous iterate, not of the pair returned, so it is not
    /// reported in its place.
    NotComputed,
}

/// Eigenpairs from an iterative solver.
#[derive(Debug, Clone)]
pub struct EigenResult<V> {
    /// Eigenvalues, in the order found (descending for Lanczos and dense; order of discovery for power
    /// iteration, which PyHessian also reports unsorted).
    pub values: Vec<f64>,
    /// Unit eigenvectors, one per value.
    pub vectors: Vec<V>,
    /// `||H v - lambda v||` per pair (see [`EigenResult::residual_kind`]); NaN when not computed.
    pub residuals: Vec<f64>,
    /// How `residuals` were computed.
    pub residual_kind: ResidualKind,
    /// Whether each pair met its tolerance.
    pub converged: Vec<bool>,
    /// Solver iterations (Lanczos steps, or power iterations summed over all pairs).
    pub iterations: usize,
    /// Products used, verification included.
    pub hvps: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl<V> EigenResult<V> {
    /// Whether every pair converged.
    pub fn all_converged(&self) -> bool {
        self.converged.iter().all(|&c| c)
    }
}

/// Fewest independent samples behind a standard error that a stopping rule or a report relies on. With 9
/// degrees of freedom the 97.5 % Student quantile is 2.26 against the normal 1.96, so "estimate +- 2 std
/// errors" is within a few percent of its nominal coverage; with one degree of freedom (two samples) it is
/// 12.7 and a small standard error is often luck.
pub const MIN_TRACE_PROBES: usize = 10;

/// A stochastic trace estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceResult {
    /// The estimate of `tr(H)`.
    pub estimate: f64,
    /// Standard error of the estimate (of its stochastic part for Hutch++); NaN when it cannot be estimated
    /// (fewer than two samples).
    pub std_error: f64,
    /// Random probes (samples) used.
    pub probes: usize,
    /// Whether the stopping rule was met before the budget ran out (always true for fixed-budget methods).
    pub converged: bool,
    /// Products used.
    pub hvps: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Mean and standard error of the mean (`NaN` with fewer than two samples).
pub fn mean_and_std_error(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}
