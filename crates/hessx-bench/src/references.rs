//! Independent references for the eigenvalue errors of the estimator
//! benchmarks: every method is scored against an answer that another method
//! computed (the dense Hessian where the model is small; otherwise a tight,
//! long run of a different algorithm), never against itself.
//!
//! Lanczos (and one-pass, which is Lanczos) find the algebraically largest
//! eigenvalues; power iteration finds the largest magnitudes. Each is scored
//! against the matching reference: algebraic top-k for Lanczos, top-k by
//! magnitude for power.

use anyhow::Result;
use hessx_hessian::{LanczosConfig, PowerConfig, SymOp, Vector, lanczos_top_k, power_iteration};

use crate::measure::Recorder;

/// Reference eigenvalues and where they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The values, ordered as the methods scored against them are sorted.
    pub values: Vec<f64>,
    /// Whether `values` are ordered by magnitude (power) or algebraically (Lanczos).
    pub by_magnitude: bool,
    /// How they were computed, for the results table.
    pub name: String,
}

impl Reference {
    /// The `k` algebraically largest of a dense spectrum.
    pub fn dense_top(spectrum: &[f64], k: usize) -> Self {
        let mut v = spectrum.to_vec();
        v.sort_by(|a, b| b.total_cmp(a));
        v.truncate(k);
        Reference {
            values: v,
            by_magnitude: false,
            name: "dense Hessian".into(),
        }
    }

    /// The `k` largest magnitudes of a dense spectrum.
    pub fn dense_magnitude(spectrum: &[f64], k: usize) -> Self {
        let mut v = spectrum.to_vec();
        v.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
        v.truncate(k);
        Reference {
            values: v,
            by_magnitude: true,
            name: "dense Hessian, largest |lambda|".into(),
        }
    }

    /// Largest relative error of `values` (any order; sorted the reference's
    /// way) against the reference's first `values.len()`; NaN when the
    /// reference has no valid values there.
    pub fn error(&self, values: &[f64]) -> f64 {
        let mut sorted = values.to_vec();
        if self.by_magnitude {
            sorted.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
        } else {
            sorted.sort_by(|a, b| b.total_cmp(a));
        }
        if sorted.len() > self.values.len() {
            return f64::NAN;
        }
        let errors: Vec<f64> = sorted
            .iter()
            .zip(&self.values)
            .map(|(v, r)| ((v - r) / r).abs())
            .collect();
        if errors.iter().any(|e| e.is_nan()) {
            f64::NAN
        } else {
            errors.into_iter().fold(0.0, f64::max)
        }
    }
}

/// `-H`: Lanczos on it finds the most negative eigenvalues of `H`.
struct Negated<'a, O>(&'a mut O);

impl<O: SymOp> SymOp for Negated<'_, O> {
    type V = O::V;
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn apply(&mut self, v: &O::V) -> hessx_hessian::Result<O::V> {
        let mut y = self.0.apply(v)?;
        y.scale(-1.0);
        Ok(y)
    }
    fn hvps(&self) -> u64 {
        self.0.hvps()
    }
    fn vector_from_host(&self, x: &[f64]) -> O::V {
        self.0.vector_from_host(x)
    }
    fn vector_to_host(&self, v: &O::V) -> Vec<f64> {
        self.0.vector_to_host(v)
    }
}

/// Both ends of the spectrum by tight Lanczos runs (on `H` and on `-H`, tol
/// 1e-6, explicit residuals): the `k` largest magnitudes, the reference for
/// power iteration, which is not Lanczos.
pub fn lanczos_magnitude<O: SymOp>(
    rec: &mut Recorder,
    workload: &str,
    op: &mut O,
    k: usize,
) -> Result<Reference> {
    let cfg = LanczosConfig {
        k,
        max_iter: 400,
        tol: 1e-6,
        seed: 99,
        verify: true,
    };
    let top = lanczos_top_k(op, &cfg)?;
    let bottom = lanczos_top_k(&mut Negated(op), &cfg)?;
    let method = format!("reference: lanczos both ends top-{k} tol 1e-6");
    rec.add(
        "eigen",
        workload,
        &method,
        "hvps",
        (top.hvps + bottom.hvps) as f64,
    );
    rec.add(
        "eigen",
        workload,
        &method,
        "seconds",
        top.seconds + bottom.seconds,
    );
    let worst = top
        .residuals
        .iter()
        .zip(&top.values)
        .chain(bottom.residuals.iter().zip(&bottom.values))
        .map(|(r, v)| r / v.abs())
        .fold(0.0, f64::max);
    rec.add("eigen", workload, &method, "max residual / |lambda|", worst);
    let converged = top.all_converged() && bottom.all_converged();
    let mut all: Vec<f64> = top
        .values
        .iter()
        .copied()
        .chain(bottom.values.iter().map(|v| -v))
        .collect();
    all.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
    all.truncate(k);
    if !converged {
        all = vec![f64::NAN; k];
    }
    Ok(Reference {
        values: all,
        by_magnitude: true,
        name: "tight lanczos, largest |lambda|".into(),
    })
}

/// The algebraic top `k` by a tight power iteration (tol 1e-9, up to 500
/// products per pair, explicit residuals): the reference for Lanczos, which
/// is not power iteration. Power iteration finds the largest magnitudes, so
/// the reference is only valid when those are all positive (then they are
/// the algebraic top `k`); otherwise its values are NaN and so are the errors
/// measured against it.
pub fn power_top<O: SymOp>(
    rec: &mut Recorder,
    workload: &str,
    op: &mut O,
    k: usize,
    magnitude: &Reference,
) -> Result<Reference> {
    let r = power_iteration(
        op,
        &PowerConfig {
            top_n: k,
            max_iter: 500,
            tol: 1e-9,
            seed: 99,
            verify: true,
        },
    )?;
    let method = format!("reference: power top-{k} tol 1e-9");
    rec.add("eigen", workload, &method, "hvps", r.hvps as f64);
    rec.add("eigen", workload, &method, "seconds", r.seconds);
    let worst = r
        .residuals
        .iter()
        .zip(&r.values)
        .map(|(res, v)| res / v.abs())
        .fold(0.0, f64::max);
    rec.add("eigen", workload, &method, "max residual / |lambda|", worst);
    let mut values = r.values.clone();
    values.sort_by(|a, b| b.total_cmp(a));
    // Valid when power's pairs are the algebraic top k: all positive, and no
    // eigenvalue the Lanczos run found at the bottom is larger in magnitude.
    let most_negative = magnitude
        .values
        .iter()
        .copied()
        .filter(|v| *v < 0.0)
        .fold(0.0, |m: f64, v| m.max(v.abs()));
    let valid = values.iter().all(|&v| v > most_negative);
    rec.add(
        "eigen",
        workload,
        &method,
        "valid as algebraic top-k (1 = yes)",
        f64::from(u8::from(valid)),
    );
    if !valid {
        values = vec![f64::NAN; k];
    }
    Ok(Reference {
        values,
        by_magnitude: false,
        name: "tight power iteration".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hessx_hessian::DenseOp;
    use nalgebra::{DMatrix, DVector};

    fn diag(values: &[f64]) -> DenseOp {
        DenseOp::new(DMatrix::from_diagonal(&DVector::from_row_slice(values))).unwrap()
    }

    #[test]
    fn references_match_the_dense_spectrum_and_flag_negative_outliers() {
        let mut spectrum: Vec<f64> = (0..60).map(|i| 1.0 + 0.05 * i as f64).collect();
        spectrum.extend([20.0, 15.0, 11.0, -13.0]);
        let mut op = diag(&spectrum);
        let mut rec = Recorder::new();
        let mag = lanczos_magnitude(&mut rec, "w", &mut op, 3).unwrap();
        let dense = Reference::dense_magnitude(&spectrum, 3);
        assert_eq!(dense.values, [20.0, 15.0, -13.0]);
        // Tight Lanczos in f64: the reference to 1e-9 of the exact values.
        assert!(dense.error(&mag.values) < 1e-9, "{:?}", mag.values);
        // -13 is among the three largest magnitudes, so power's pairs are not the algebraic top 3.
        let top = power_top(&mut rec, "w", &mut op, 3, &mag).unwrap();
        assert!(top.values.iter().all(|v| v.is_nan()));
        assert!(top.error(&[20.0, 15.0, 11.0]).is_nan());
        // Top 2 are valid: 20 and 15 beat |-13|.
        let top = power_top(&mut rec, "w", &mut op, 2, &mag).unwrap();
        assert!(
            Reference::dense_top(&spectrum, 2).error(&top.values) < 1e-6,
            "{:?}",
            top.values
        );
    }

    #[test]
    fn errors_sort_the_way_the_reference_is_sorted() {
        let r = Reference::dense_magnitude(&[1.0, -4.0, 2.0], 2);
        assert_eq!(r.error(&[2.0, -4.0]), 0.0);
        assert!(
            (Reference::dense_top(&[1.0, -4.0, 2.0], 2).error(&[1.0, 2.2]) - 0.1).abs() < 1e-12
        );
        assert!(
            r.error(&[1.0, 2.0, 3.0]).is_nan(),
            "more values than the reference has"
        );
    }
}
