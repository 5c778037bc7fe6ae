//! The 1-Wasserstein distance between two spectral distributions on the real line, the accuracy measure of
//! a density estimate: `W1(a, b) = integral |F_a(x) - F_b(x)| dx` with `F` the cumulative distributions.
//! A quadrature rule (SLQ nodes and weights), an average of several, or the exact eigenvalues with equal
//! weights are all such distributions, so estimates from different methods compare on one scale (in units
//! of eigenvalues), without choosing a kernel width or a grid.

use crate::error::{Error, Result};

/// A discrete distribution: `(location, weight)` atoms. Weights must be non-negative with a positive sum;
/// they are normalised to sum to 1.
pub type Atoms = [(f64, f64)];

/// `W1(a, b)`, exact for discrete distributions (one sweep over the merged, sorted atoms).
pub fn wasserstein1(a: &Atoms, b: &Atoms) -> Result<f64> {
    let a = normalised(a, "a")?;
    let b = normalised(b, "b")?;
    // Signed atoms: +w for a, -w for b; the running sum is F_a - F_b between consecutive locations.
    let mut atoms: Vec<(f64, f64)> = a.into_iter().chain(b.into_iter().map(|(x, w)| (x, -w))).collect();
    atoms.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut distance = 0.0;
    let mut cdf_gap = 0.0;
    for pair in atoms.windows(2) {
        cdf_gap += pair[0].1;
        distance += cdf_gap.abs() * (pair[1].0 - pair[0].0);
    }
    Ok(distance)
}

/// The average of several distributions with equal weight each (e.g. the runs of one SLQ call).
pub fn mixture(parts: &[Vec<(f64, f64)>]) -> Result<Vec<(f64, f64)>> {
    if parts.is_empty() {
        return Err(Error::InvalidArgument {
            name: "parts",
            reason: "a mixture needs at least one distribution".into(),
        });
    }
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let name = if i == 0 { "first part" } else { "a later part" };
        out.extend(normalised(p, name)?.into_iter().map(|(x, w)| (x, w / parts.len() as f64)));
    }
    Ok(out)
}

fn normalised(atoms: &Atoms, name: &'static str) -> Result<Vec<(f64, f64)>> {
    let bad = |reason: String| Error::InvalidArgument { name, reason };
    if let Some((x, w)) = atoms.iter().find(|(x, w)| !x.is_finite() || !w.is_finite() || *w < 0.0) {
        return Err(bad(format!("atom ({x}, {w}): locations must be finite and weights finite and >= 0")));
    }
    let total: f64 = atoms.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return Err(bad("the weights sum to 0; a distribution needs positive mass".into()));
    }
    Ok(atoms.iter().map(|&(x, w)| (x, w / total)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // Two point masses: the distance is the gap.
        assert!((wasserstein1(&[(1.0, 1.0)], &[(3.5, 2.0)]).unwrap() - 2.5).abs() < 1e-15);
        // Half the mass moved by 4: 2.
        let a = [(0.0, 0.5), (1.0, 0.5)];
        let b = [(0.0, 0.5), (5.0, 0.5)];
        assert!((wasserstein1(&a, &b).unwrap() - 2.0).abs() < 1e-15);
        // Uniform atoms at 0..n against the same shifted by c: exactly c (a translation).
        let u: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 1.0)).collect();
        let v: Vec<(f64, f64)> = (0..10).map(|i| (i as f64 + 0.3, 1.0)).collect();
        assert!((wasserstein1(&u, &v).unwrap() - 0.3).abs() < 1e-12);
        // Symmetric, zero on itself, and blind to how the same distribution is written down.
        assert_eq!(wasserstein1(&u, &u).unwrap(), 0.0);
        assert_eq!(wasserstein1(&a, &b).unwrap(), wasserstein1(&b, &a).unwrap());
        let split = [(0.0, 0.25), (0.0, 0.25), (1.0, 0.5)];
        assert!(wasserstein1(&a, &split).unwrap().abs() < 1e-15);
    }

    #[test]
    fn mixture_averages_with_equal_weight() {
        let m = mixture(&[vec![(0.0, 2.0)], vec![(2.0, 5.0)]]).unwrap();
        // The mixture is half at 0, half at 2: its distance to a point mass at 1 is 1.
        assert!((wasserstein1(&m, &[(1.0, 1.0)]).unwrap() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_atoms() {
        assert!(wasserstein1(&[(f64::NAN, 1.0)], &[(0.0, 1.0)]).is_err());
        assert!(wasserstein1(&[(0.0, -1.0)], &[(0.0, 1.0)]).is_err());
        assert!(wasserstein1(&[(0.0, 0.0)], &[(0.0, 1.0)]).is_err());
        assert!(mixture(&[]).is_err());
    }
}
