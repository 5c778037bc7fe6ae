//! PCA of the stacked eigenvectors through their Gram matrix.
//!
//! With `U` the `n x d` matrix of eigenvectors (one per row) and `J = I -
//! 11ᵀ/n` the centring matrix, sklearn's PCA diagonalises the covariance
//! `C = (JU)ᵀ(JU) / (n-1)` (`d x d`). Its non-zero eigenvalues are those of
//! the `n x n` matrix `K = J G J / (n-1)` with `G = U Uᵀ`, and if `K a = μ a`
//! with `|a| = 1`, the scores (projections on the component) are
//! `(JU) v = a sqrt(μ (n-1))`. So PCA costs `O(n³)` after the Gram matrix,
//! whatever the number of parameters.
//!
//! The default is uncentred, `K = G / n`, because it is the one that does not
//! depend on eigenvector signs. A Ritz vector's sign is arbitrary, so `v` at
//! one checkpoint and `-v` at the next are the same eigenvector; centred PCA
//! sees them as far apart (their mean moves, spurious variance appears) and
//! "components for 90 %" can come from sign flips alone. The uncentred second
//! moment `(1/n) sum_i v_i v_iᵀ` is a mean of projectors, unchanged by any
//! flip, and equals the centred covariance of the sign-symmetrised set
//! `{+v_i, -v_i}` (whose mean is 0); for vectors in a `k`-dimensional subspace
//! it has exactly `k` components. Flipping `v_i` negates row `i` of the
//! scores, so in uncentred mode each row is given the sign that makes its
//! first non-zero score (normally PC1's) positive: every number and figure is
//! then invariant under flips, as long as the spectrum of `K` is simple and no
//! vector is orthogonal to PC1 (otherwise the axes themselves are not unique).
//! Centred PCA (sklearn's default, `--centered`) stays available and is
//! labelled as sign-dependent.
//!
//! Column signs then follow sklearn's `svd_flip`: each score column's entry of
//! largest magnitude is positive.

use nalgebra::{DMatrix, SymmetricEigen};

/// Result of PCA on `n` vectors.
#[derive(Debug, Clone)]
pub struct Pca {
    /// Whether the mean vector was removed first.
    pub centered: bool,
    /// Variance along each component (sklearn's `explained_variance_`), descending.
    pub explained_variance: Vec<f64>,
    /// Fraction of the total variance per component (sums to 1).
    pub ratio: Vec<f64>,
    /// Running total of `ratio`.
    pub cumulative: Vec<f64>,
    /// Projection of every vector on every component (`n x k`).
    pub scores: DMatrix<f64>,
}

impl Pca {
    /// Smallest number of components whose cumulative ratio reaches `fraction`.
    pub fn components_for(&self, fraction: f64) -> Option<usize> {
        // A tolerance so 0.9 reached as 0.8999999999999 still counts.
        self.cumulative
            .iter()
            .position(|&c| c >= fraction - 1e-12)
            .map(|i| i + 1)
    }
}

/// PCA of the vectors whose Gram matrix is `gram`, keeping `min(n, dim)`
/// components (`dim` is the vectors' length).
pub fn pca_from_gram(gram: &DMatrix<f64>, dim: usize, centered: bool) -> Pca {
    let n = gram.nrows();
    let mut k = gram.clone();
    if centered && n > 0 {
        // J G J: subtract row and column means, add back the grand mean.
        let row_means: Vec<f64> = (0..n).map(|i| gram.row(i).sum() / n as f64).collect();
        let grand = row_means.iter().sum::<f64>() / n as f64;
        for i in 0..n {
            for j in 0..n {
                k[(i, j)] = gram[(i, j)] - row_means[i] - row_means[j] + grand;
            }
        }
    }
    // sklearn divides by n - 1 (unbiased); the second moment divides by n.
    let denom = if centered {
        (n.max(2) - 1) as f64
    } else {
        n.max(1) as f64
    };
    let eig = SymmetricEigen::new(k);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let keep = n.min(dim);
    let mut scores = DMatrix::zeros(n, keep);
    let mut explained_variance = Vec::with_capacity(keep);
    for (c, &e) in order.iter().take(keep).enumerate() {
        // Round-off can leave tiny negative eigenvalues of a PSD matrix.
        let mu = eig.eigenvalues[e].max(0.0);
        explained_variance.push(mu / denom);
        scores
            .column_mut(c)
            .copy_from(&(eig.eigenvectors.column(e) * mu.sqrt()));
    }
    if !centered {
        orient_rows(&mut scores);
    }
    for mut col in scores.column_iter_mut() {
        let largest = col
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if largest < 0.0 {
            col.neg_mut();
        }
    }
    // The total is the trace of K (all n eigenvalues), which equals the sum of
    // the kept ones because rank(K) <= min(n, dim).
    let total: f64 = explained_variance.iter().sum();
    let ratio: Vec<f64> = explained_variance
        .iter()
        .map(|v| if total > 0.0 { v / total } else { 0.0 })
        .collect();
    let cumulative = ratio
        .iter()
        .scan(0.0, |acc, r| {
            *acc += r;
            Some(*acc)
        })
        .collect();
    Pca {
        centered,
        explained_variance,
        ratio,
        cumulative,
        scores,
    }
}

/// Give each row (one vector's scores) the sign that makes its first score
/// that is not zero to rounding positive: `v` and `-v` then score alike.
fn orient_rows(scores: &mut DMatrix<f64>) {
    for mut row in scores.row_iter_mut() {
        let norm = row.norm();
        let first = row.iter().copied().find(|x| x.abs() > 1e-9 * norm);
        if first.is_some_and(|x| x < 0.0) {
            row.neg_mut();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_rows(n: usize, d: usize, seed: u64) -> DMatrix<f64> {
        // A small LCG: deterministic, no dependency, distinct spectra.
        let mut s = seed;
        DMatrix::from_fn(n, d, |_, _| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
    }

    /// Reference PCA: eigendecomposition of the explicit d x d covariance.
    fn pca_by_covariance(u: &DMatrix<f64>, centered: bool) -> (Vec<f64>, DMatrix<f64>) {
        let n = u.nrows();
        let mut x = u.clone();
        if centered {
            let mean = u.row_mean();
            for mut row in x.row_iter_mut() {
                row -= &mean;
            }
        }
        let denom = if centered { (n - 1) as f64 } else { n as f64 };
        let cov = x.transpose() * &x / denom;
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let values = order.iter().map(|&i| eig.eigenvalues[i]).collect();
        let axes = DMatrix::from_columns(
            &order
                .iter()
                .map(|&i| eig.eigenvectors.column(i).into_owned())
                .collect::<Vec<_>>(),
        );
        (values, x * axes)
    }

    #[test]
    fn gram_route_equals_covariance_route() {
        for (n, d) in [(6, 10), (12, 5)] {
            let u = random_rows(n, d, 42 + n as u64);
            let g = &u * u.transpose();
            for centered in [true, false] {
                let pca = pca_from_gram(&g, d, centered);
                let (values, mut scores) = pca_by_covariance(&u, centered);
                if !centered {
                    // The same sign convention per vector (row); columns are
                    // compared up to sign below.
                    orient_rows(&mut scores);
                }
                assert_eq!(pca.explained_variance.len(), n.min(d));
                for (c, v) in pca.explained_variance.iter().enumerate() {
                    // Both are f64 eigensolvers on O(1) matrices: agreement
                    // to 1e-10 leaves ~5 digits of margin over round-off.
                    assert!(
                        (v - values[c]).abs() < 1e-10,
                        "n={n} centered={centered} component {c}: {v} vs {}",
                        values[c]
                    );
                    if values[c] < 1e-8 {
                        continue; // null directions have arbitrary axes
                    }
                    // Axes are defined up to sign: compare after aligning.
                    let (a, b) = (pca.scores.column(c), scores.column(c));
                    let sign = if a.dot(&b) < 0.0 { -1.0 } else { 1.0 };
                    assert!(
                        (a - b * sign).amax() < 1e-10,
                        "n={n} centered={centered} scores of component {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn ratios_sum_to_one_and_cumulative_ends_at_one() {
        let u = random_rows(9, 40, 7);
        let pca = pca_from_gram(&(&u * u.transpose()), 40, true);
        assert!((pca.ratio.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((pca.cumulative.last().unwrap() - 1.0).abs() < 1e-12);
        assert!(pca.ratio.windows(2).all(|w| w[0] >= w[1]), "descending");
        // Centred data of 9 points spans at most 8 dimensions.
        assert!(pca.ratio[8] < 1e-12);
        assert_eq!(pca.components_for(1.0), Some(8));
    }

    #[test]
    fn uncentred_pca_ignores_eigenvector_signs() {
        let (n, d) = (9, 30);
        let u = random_rows(n, d, 11);
        let flips = [1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0];
        let flipped = DMatrix::from_fn(n, d, |i, k| flips[i] * u[(i, k)]);
        let a = pca_from_gram(&(&u * u.transpose()), d, false);
        let b = pca_from_gram(&(&flipped * flipped.transpose()), d, false);
        // The same f64 eigenproblem up to a diagonal sign change: agreement to
        // round-off of O(1) numbers; 1e-10 leaves a wide margin.
        for (x, y) in a.explained_variance.iter().zip(&b.explained_variance) {
            assert!((x - y).abs() < 1e-10);
        }
        assert!(
            (&a.scores - &b.scores).amax() < 1e-10,
            "scores changed:\n{}\n{}",
            a.scores,
            b.scores
        );
        // Centred PCA is not sign-invariant, which is why it is not the default.
        let ca = pca_from_gram(&(&u * u.transpose()), d, true);
        let cb = pca_from_gram(&(&flipped * flipped.transpose()), d, true);
        assert!((ca.ratio[0] - cb.ratio[0]).abs() > 1e-3);
    }

    #[test]
    fn vectors_in_one_plane_need_two_components() {
        // Unit vectors in the plane spanned by e0 and e1 of R^30.
        let d = 30;
        let u = DMatrix::from_fn(8, d, |i, k| {
            let t = i as f64 * 0.4;
            match k {
                0 => t.cos(),
                1 => t.sin(),
                _ => 0.0,
            }
        });
        let pca = pca_from_gram(&(&u * u.transpose()), d, false);
        assert_eq!(pca.components_for(0.999_999), Some(2));
        assert!(
            pca.scores
                .column(0)
                .iter()
                .map(|x| x.abs())
                .fold(0.0, f64::max)
                > 0.5
        );
    }
}
