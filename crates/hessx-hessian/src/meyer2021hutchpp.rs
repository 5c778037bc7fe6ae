//! Hutch++ (Meyer, Musco, Musco, Woodruff, "Hutch++: Optimal Stochastic Trace Estimation", SOSA 2021).
//!
//! Hessians have a few large outlier eigenvalues that dominate Hutchinson's variance. Hutch++ spends a third
//! of its budget on a sketch `Y = H S` whose range captures them, computes their part of the trace exactly
//! as `tr(Q^T H Q)` (a second third), and applies Hutchinson only to the deflated rest
//! `(I - QQ^T) H (I - QQ^T)` (the last third), whose variance is much smaller. With `m` products the error
//! falls like `1/m` instead of Hutchinson's `1/sqrt(m)`.

use std::time::Instant;

use crate::error::{Error, Result, finite};
use crate::op::SymOp;
use crate::probes::{Estimator, ProbeKind, ProbeStream};
use crate::results::{TraceResult, mean_and_std_error};
use crate::vector::{Vector, normalize, orthogonalize};

/// Settings for [`hutchpp`].
#[derive(Debug, Clone, PartialEq)]
pub struct HutchppConfig {
    /// Total products `m`: `m/3` for the sketch, as many for `H Q`, the rest (at least 2) for the residual
    /// Hutchinson part. At least 6. Default 99.
    pub num_hvps: usize,
    /// Probe seed. Default 0.
    pub seed: u64,
    /// Checkpoint step (or any index) whose probe stream to draw:
    /// [`ProbeStream::derived`]`(seed, Estimator::Hutchpp, step)`. Default 0.
    pub step: u64,
}

impl Default for HutchppConfig {
    fn default() -> Self {
        HutchppConfig {
            num_hvps: 99,
            seed: 0,
            step: 0,
        }
    }
}

/// Hutch++ estimate of `tr(op)`. `std_error` is the standard error of the Hutchinson part (the sketched
/// part is exact given the sketch); `probes` counts the residual Hutchinson probes.
pub fn hutchpp<O: SymOp>(op: &mut O, cfg: &HutchppConfig) -> Result<TraceResult> {
    let start = Instant::now();
    let hvps0 = op.hvps();
    let dim = op.dim();
    if cfg.num_hvps < 6 {
        return Err(Error::InvalidArgument {
            name: "num_hvps",
            reason: format!(
                "Hutch++ needs at least 6 products (2 per part), got {}",
                cfg.num_hvps
            ),
        });
    }
    let sketch = (cfg.num_hvps / 3).min(dim);
    let residual_probes = cfg.num_hvps - 2 * sketch;
    let mut probes = ProbeStream::derived(cfg.seed, Estimator::Hutchpp, cfg.step);

    // Q: orthonormal basis of range(H S). Columns that vanish after orthogonalisation (rank-deficient H,
    // or sketch wider than the range) are dropped, so `H Q` may cost fewer than `sketch` products.
    let mut q: Vec<O::V> = Vec::with_capacity(sketch);
    for _ in 0..sketch {
        let s = op.vector_from_host(&probes.draw(ProbeKind::Rademacher, dim));
        let mut y = op.apply(&s)?;
        let scale = y.norm();
        orthogonalize(&mut y, &q);
        if normalize(&mut y) > 1e-10 * scale.max(f64::MIN_POSITIVE) {
            q.push(y);
        }
    }
    let mut exact = 0.0;
    for qi in &q {
        let hq = op.apply(qi)?;
        exact += finite(qi.dot(&hq), "Hutch++ term q^T H q")?;
    }
    let mut samples = Vec::with_capacity(residual_probes);
    for _ in 0..residual_probes {
        let mut g = op.vector_from_host(&probes.draw(ProbeKind::Rademacher, dim));
        // P g with P = I - QQ^T (twice, for orthogonality to rounding level); P H P is symmetric and
        // g^T P H P g = (Pg)^T H (Pg).
        orthogonalize(&mut g, &q);
        let hg = op.apply(&g)?;
        samples.push(finite(g.dot(&hg), "Hutch++ residual sample")?);
    }
    let (mean, std_error) = mean_and_std_error(&samples);
    Ok(TraceResult {
        estimate: exact + mean,
        std_error,
        probes: samples.len(),
        converged: true,
        hvps: op.hvps() - hvps0,
        seconds: start.elapsed().as_secs_f64(),
    })
}
