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

/// Fewest independent samples behind a standard error that an adaptive stopping rule relies on. With 9
/// degrees of freedom the 97.5 % Student quantile is 2.26 against the normal 1.96, so "estimate +- 2 std
/// errors" is within a few percent of its nominal coverage; with one degree of freedom (two samples) it is
/// 12.7 and a small standard error is often luck, which a rule that stops at the first small one would
/// pick. A fixed budget of fewer samples has an honest error bar all the same: [`TraceResult::half_width_95`].
pub const MIN_TRACE_PROBES: usize = 10;

/// The 97.5 % quantile of Student's t with `dof` degrees of freedom: the mean of `dof + 1` normal samples
/// lies within this many standard errors of the truth with probability 95 %. Tabulated to 4 decimals up
/// to 30 degrees of freedom, beyond by the Cornish-Fisher expansion about the normal quantile (off by
/// less than 1e-4 from 30 on). `NaN` for 0 degrees of freedom.
pub fn student_t_975(dof: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
        2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
        2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match dof {
        0 => f64::NAN,
        1..=30 => TABLE[dof - 1],
        _ => {
            let (z, v) = (1.959_963_984_540_054_f64, dof as f64);
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v.powi(3))
        }
    }
}

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

impl TraceResult {
    /// Half-width of the 95 % interval `estimate +- t * std_error`, with Student's t for `probes - 1`
    /// degrees of freedom (the samples are taken as normal: a Hutchinson sample sums many squared
    /// projections). 0 for an exact trace (no probe, no error); `NaN` without an error bar (one probe).
    pub fn half_width_95(&self) -> f64 {
        half_width_95(self.std_error, self.probes)
    }
}

/// [`TraceResult::half_width_95`] of a standard error from `probes` samples (also for stored rows).
pub fn half_width_95(std_error: f64, probes: usize) -> f64 {
    if std_error == 0.0 {
        0.0
    } else if probes < 2 || !std_error.is_finite() {
        f64::NAN
    } else {
        student_t_975(probes - 1) * std_error
    }
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
