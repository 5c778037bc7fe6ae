//! How alike the eigenvectors of different checkpoints are: the cosine of
//! every pair, and the overlap of whole top-r subspaces, which does not care
//! how the vectors are ordered, signed or rotated inside the subspace
//! (eigenvectors of nearly equal eigenvalues mix freely between checkpoints,
//! so per-vector cosines alone understate stability).

use std::collections::BTreeMap;
use std::ops::Range;

use nalgebra::{DMatrix, SymmetricEigen};

/// `|cos|` between every pair of vectors: `|G_ij| / sqrt(G_ii G_jj)` (the
/// sign of an eigenvector is arbitrary, so only the magnitude means anything).
pub fn abs_cosine_matrix(gram: &DMatrix<f64>) -> DMatrix<f64> {
    let n = gram.nrows();
    let norms: Vec<f64> = (0..n).map(|i| gram[(i, i)].max(0.0).sqrt()).collect();
    DMatrix::from_fn(n, n, |i, j| {
        let d = norms[i] * norms[j];
        if d > 0.0 {
            (gram[(i, j)] / d).abs().min(1.0)
        } else {
            0.0
        }
    })
}

/// `W = G_aa^{-1/2}` restricted to the numerically non-null directions, so
/// that `U_a W` is an orthonormal basis of span(U_a) even when stored
/// eigenvectors are only nearly orthonormal. Returns `W` and the rank.
fn whitener(gram: &DMatrix<f64>, a: &Range<usize>) -> (DMatrix<f64>, usize) {
    let block = gram
        .view((a.start, a.start), (a.len(), a.len()))
        .into_owned();
    let eig = SymmetricEigen::new(block);
    let top = eig.eigenvalues.iter().copied().fold(0.0f64, f64::max);
    let mut w = DMatrix::zeros(a.len(), a.len());
    let mut rank = 0;
    for (k, &l) in eig.eigenvalues.iter().enumerate() {
        if l > 1e-10 * top {
            rank += 1;
            let v = eig.eigenvectors.column(k);
            w += (&v * v.transpose()) / l.sqrt();
        }
    }
    (w, rank)
}

/// Subspace overlap of span(U_a) and span(U_b): the mean squared cosine of
/// their principal angles, `||Q_aᵀ Q_b||_F² / min(r_a, r_b)` with `Q` an
/// orthonormal basis of each. 1 for the same subspace, 0 for orthogonal
/// ones; a random pair of r-dimensional subspaces of R^d gives about r/d.
pub fn subspace_overlap(gram: &DMatrix<f64>, a: &Range<usize>, b: &Range<usize>) -> f64 {
    let (wa, ra) = whitener(gram, a);
    let (wb, rb) = whitener(gram, b);
    let r = ra.min(rb);
    if r == 0 {
        return 0.0;
    }
    let cross = gram.view((a.start, b.start), (a.len(), b.len()));
    let m = wa * cross * wb;
    (m.norm_squared() / r as f64).min(1.0)
}

/// Overlap of every pair of checkpoints (`blocks[i]` = rows of checkpoint `i`).
pub fn overlap_matrix(gram: &DMatrix<f64>, blocks: &[Range<usize>]) -> DMatrix<f64> {
    let n = blocks.len();
    let mut m = DMatrix::zeros(n, n);
    for i in 0..n {
        for j in i..n {
            let o = subspace_overlap(gram, &blocks[i], &blocks[j]);
            m[(i, j)] = o;
            m[(j, i)] = o;
        }
    }
    m
}

/// Overlap against step distance: for every distance between two distinct
/// checkpoints, `(distance, mean, min, max, number of pairs)`.
pub fn overlap_by_distance(
    steps: &[i64],
    overlap: &DMatrix<f64>,
) -> Vec<(i64, f64, f64, f64, usize)> {
    let mut groups: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for i in 0..steps.len() {
        for j in i + 1..steps.len() {
            groups
                .entry((steps[j] - steps[i]).abs())
                .or_default()
                .push(overlap[(i, j)]);
        }
    }
    groups
        .into_iter()
        .map(|(d, v)| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (d, mean, min, max, v.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows: an orthonormal basis e0, e1 (block 0), the same plane rotated by
    /// 0.7 rad with one sign flipped (block 1), and e2, e3 (block 2).
    fn fixture() -> DMatrix<f64> {
        let (c, s) = (0.7f64.cos(), 0.7f64.sin());
        DMatrix::from_row_slice(
            6,
            5,
            &[
                1.0, 0.0, 0.0, 0.0, 0.0, //
                0.0, 1.0, 0.0, 0.0, 0.0, //
                c, s, 0.0, 0.0, 0.0, //
                s, -c, 0.0, 0.0, 0.0, //
                0.0, 0.0, 1.0, 0.0, 0.0, //
                0.0, 0.0, 0.0, 1.0, 0.0,
            ],
        )
    }

    #[test]
    fn identical_rotated_and_orthogonal_subspaces() {
        let u = fixture();
        let g = &u * u.transpose();
        // Exact arithmetic gives 1, 1 and 0; f64 round-off in 2x2 eigen
        // solves is ~1e-15, so 1e-12 is a safe bound.
        assert!(
            (subspace_overlap(&g, &(0..2), &(0..2)) - 1.0).abs() < 1e-12,
            "identical"
        );
        assert!(
            (subspace_overlap(&g, &(0..2), &(2..4)) - 1.0).abs() < 1e-12,
            "rotated basis of the same plane"
        );
        assert!(
            subspace_overlap(&g, &(0..2), &(4..6)).abs() < 1e-12,
            "orthogonal"
        );
        // A plane sharing one direction with another: cos² of the principal
        // angles are 1 and 0, mean 1/2.
        let half =
            DMatrix::from_row_slice(2, 5, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let both = DMatrix::from_rows(&[
            u.row(0).into_owned(),
            u.row(1).into_owned(),
            half.row(0).into_owned(),
            half.row(1).into_owned(),
        ]);
        let g2 = &both * both.transpose();
        assert!((subspace_overlap(&g2, &(0..2), &(2..4)) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn overlap_ignores_basis_scaling() {
        // Non-unit, non-orthogonal basis of the same plane still gives 1.
        let u = DMatrix::from_row_slice(
            4,
            3,
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 1.0, -3.0, 0.0],
        );
        let g = &u * u.transpose();
        assert!((subspace_overlap(&g, &(0..2), &(2..4)) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn cosine_matrix_is_symmetric_with_unit_diagonal() {
        let u = fixture() * 3.0; // scaling must not matter
        let cos = abs_cosine_matrix(&(&u * u.transpose()));
        for i in 0..6 {
            assert!((cos[(i, i)] - 1.0).abs() < 1e-15);
            for j in 0..6 {
                assert_eq!(cos[(i, j)], cos[(j, i)]);
                assert!((0.0..=1.0).contains(&cos[(i, j)]));
            }
        }
        assert!(
            (cos[(0, 3)] - 0.7f64.sin()).abs() < 1e-12,
            "|cos| ignores the flipped sign"
        );
    }

    #[test]
    fn distance_curve_averages_pairs() {
        let m = DMatrix::from_row_slice(3, 3, &[1.0, 0.8, 0.5, 0.8, 1.0, 0.6, 0.5, 0.6, 1.0]);
        let curve = overlap_by_distance(&[0, 10, 20], &m);
        assert_eq!(curve.len(), 2);
        assert_eq!(curve[0].0, 10);
        assert!((curve[0].1 - 0.7).abs() < 1e-15 && curve[0].4 == 2);
        assert_eq!((curve[1].0, curve[1].1, curve[1].4), (20, 0.5, 1));
    }
}
