//! Seeded random probe vectors.
//!
//! Probes are drawn on the host from a ChaCha stream and uploaded, so a seed gives the same probes on every
//! backend (CPU or GPU) and in every precision: runs are reproducible and comparable across devices.
//!
//! Each estimator draws from its own stream, and so does each checkpoint ([`ProbeStream::derived`]): two
//! estimators that agree within their error bars then agree as independent measurements, not because they
//! share their first samples.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The distribution of a probe's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProbeKind {
    /// Entries +1 or -1 with equal probability (lowest-variance Hutchinson probe; PyHessian's choice).
    #[default]
    Rademacher,
    /// Entries from N(0, 1).
    Gaussian,
}

/// The estimators that draw probes; each gets its own stream of a seed (see [`ProbeStream::derived`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Estimator {
    /// Stochastic Lanczos quadrature, and the one-pass mode built on its runs.
    Slq,
    /// Hutchinson's trace estimator.
    Hutchinson,
    /// Hutch++ (sketch and residual probes alike).
    Hutchpp,
    /// The one-pass trace's probes on the complement of the Krylov space.
    OnePassTrace,
}

impl Estimator {
    /// Every estimator, for tests and tables.
    pub const ALL: [Estimator; 4] = [Estimator::Slq, Estimator::Hutchinson, Estimator::Hutchpp, Estimator::OnePassTrace];

    /// The tag in the top byte of the ChaCha stream id. Never 0, so no derived stream is the stream 0
    /// that [`ProbeStream::new`] (start vectors of Lanczos and power iteration) draws from.
    fn tag(self) -> u64 {
        match self {
            Estimator::Slq => 1,
            Estimator::Hutchinson => 2,
            Estimator::Hutchpp => 3,
            Estimator::OnePassTrace => 4,
        }
    }
}

/// Steps up to `2^56 - 1` fit below the estimator tag of a stream id.
pub const MAX_DERIVED_STEP: u64 = (1 << 56) - 1;

/// A reproducible stream of probes.
#[derive(Debug, Clone)]
pub struct ProbeStream {
    rng: ChaCha8Rng,
}

impl ProbeStream {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        ProbeStream {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The stream of `estimator` at checkpoint `step` (any index that should get probes of its own) of a
    /// run seeded with `seed`.
    ///
    /// Derivation: the ChaCha8 key is the one [`ProbeStream::new`]`(seed)` uses (`seed_from_u64`), and the
    /// 64-bit ChaCha stream id (nonce) is `tag << 56 | step`, with `tag` 1 for SLQ, 2 for Hutchinson, 3 for
    /// Hutch++. Distinct `(estimator, step)` pairs get distinct nonces under one key, i.e. independent
    /// keystreams, and none shares stream 0 with `new(seed)`. Panics if `step > MAX_DERIVED_STEP`.
    ///
    /// ```
    /// use hessx_hessian::{Estimator, ProbeKind, ProbeStream};
    /// let a = ProbeStream::derived(1, Estimator::Hutchinson, 40).draw(ProbeKind::Rademacher, 8);
    /// let b = ProbeStream::derived(1, Estimator::Hutchpp, 40).draw(ProbeKind::Rademacher, 8);
    /// assert_eq!(a, ProbeStream::derived(1, Estimator::Hutchinson, 40).draw(ProbeKind::Rademacher, 8));
    /// assert_ne!(a, b);
    /// ```
    pub fn derived(seed: u64, estimator: Estimator, step: u64) -> Self {
        assert!(
            step <= MAX_DERIVED_STEP,
            "probe stream step {step} exceeds {MAX_DERIVED_STEP}"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(estimator.tag() << 56 | step);
        ProbeStream { rng }
    }

    /// The next probe of length `dim`.
    pub fn draw(&mut self, kind: ProbeKind, dim: usize) -> Vec<f64> {
        match kind {
            ProbeKind::Rademacher => (0..dim)
                .map(|_| if self.rng.random_bool(0.5) { 1.0 } else { -1.0 })
                .collect(),
            ProbeKind::Gaussian => (0..dim)
                .map(|_| self.rng.sample::<f64, _>(StandardNormal))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_probes() {
        let a = ProbeStream::new(7).draw(ProbeKind::Gaussian, 5);
        let b = ProbeStream::new(7).draw(ProbeKind::Gaussian, 5);
        assert_eq!(a, b);
        let r = ProbeStream::new(7).draw(ProbeKind::Rademacher, 1000);
        assert!(r.iter().all(|x| x.abs() == 1.0));
        // 1000 fair signs: the sum has std 31.6, so |sum| < 150 fails with probability ~2e-6.
        assert!(r.iter().sum::<f64>().abs() < 150.0);
    }

    /// Pearson correlation of two equally long samples.
    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn derived_streams_are_distinct_and_uncorrelated() {
        let n = 20_000;
        let mut streams = vec![ProbeStream::new(5).draw(ProbeKind::Rademacher, n)];
        for e in Estimator::ALL {
            for step in [0, 1, 10, MAX_DERIVED_STEP] {
                let x = ProbeStream::derived(5, e, step).draw(ProbeKind::Rademacher, n);
                assert_eq!(
                    x,
                    ProbeStream::derived(5, e, step).draw(ProbeKind::Rademacher, n)
                );
                streams.push(x);
            }
        }
        for i in 0..streams.len() {
            for j in 0..i {
                // Independent fair signs: the correlation of 20,000 pairs has std 0.007, so |r| < 0.05 fails
                // with probability ~1e-12 per pair; identical streams give 1.
                let r = correlation(&streams[i], &streams[j]);
                assert!(r.abs() < 0.05, "streams {i} and {j}: correlation {r}");
            }
        }
    }
}
