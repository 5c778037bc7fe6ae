//! The Lanczos recurrence with full reorthogonalisation, shared by the eigensolver, SLQ and the one-pass mode.
//!
//! After `m` steps from a unit `q_0`, `H Q_m = Q_m T_m + beta_m q_m e_m^T` with `Q_m` orthonormal and `T_m`
//! tridiagonal (`alphas` on the diagonal, `betas[..m-1]` off it). Every new vector is re-orthogonalised
//! against all previous ones (twice), which costs `O(m)` inner products per step but keeps the Ritz values
//! free of the spurious copies plain Lanczos produces, and makes the Ritz vectors usable as eigenvectors.
//! When the Krylov space becomes invariant (`beta` at rounding level) the recurrence continues from a fresh
//! random vector orthogonal to the basis with a zero coupling, exactly as PyHessian does; `T` is then block
//! diagonal and the Ritz values of the first block are exact eigenvalues.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::error::{Result, finite};
use crate::op::SymOp;
use crate::probes::{ProbeKind, ProbeStream};
use crate::vector::{Vector, normalize, orthogonalize};

/// `beta <= BREAKDOWN * ||T||` counts as an invariant subspace. In f64 a truly invariant space leaves a
/// `beta` of ~1e-16 relative; 1e-10 leaves a wide margin while never triggering on a genuine direction.
const BREAKDOWN: f64 = 1e-10;

/// State of a Lanczos run.
pub(crate) struct Krylov<V> {
    /// `q_0 .. q_m` (the last one is the next direction, present while the space can still grow).
    pub basis: Vec<V>,
    /// Diagonal of `T`.
    pub alphas: Vec<f64>,
    /// `betas[j]` couples `q_j` and `q_{j+1}`; `betas[m-1]` is the residual norm `beta_m`.
    pub betas: Vec<f64>,
    /// Running estimate of `||T||` for the breakdown test.
    anorm: f64,
    /// Source of restart vectors after a breakdown.
    restarts: ProbeStream,
}

/// Ritz pairs of `T`, sorted by descending value.
pub(crate) struct Ritz {
    /// Ritz values.
    pub values: Vec<f64>,
    /// Eigenvectors of `T`, as columns in the order of `values`.
    pub s: DMatrix<f64>,
}

impl Ritz {
    /// Eigen-decomposition of the symmetric `t` (nalgebra's symmetric QR), sorted by descending value.
    pub fn of(t: DMatrix<f64>) -> Self {
        let n = t.nrows();
        let eig = SymmetricEigen::new(t);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let values = order.iter().map(|&i| eig.eigenvalues[i]).collect();
        let s = DMatrix::from_fn(n, n, |r, c| eig.eigenvectors[(r, order[c])]);
        Ritz { values, s }
    }

    /// The Gauss quadrature weights of the values: each eigenvector's first component squared (the mass
    /// the start vector's spectral measure puts there).
    pub fn quadrature_weights(&self) -> Vec<f64> {
        (0..self.values.len()).map(|i| self.s[(0, i)].powi(2)).collect()
    }
}

/// The `n x n` symmetric tridiagonal matrix with diagonal `diag(i)` and off-diagonal `betas[..n - 1]`.
pub(crate) fn tridiagonal(n: usize, diag: impl Fn(usize) -> f64, betas: &[f64]) -> DMatrix<f64> {
    DMatrix::from_fn(n, n, |i, j| {
        if i == j {
            diag(i)
        } else if i + 1 == j {
            betas[i]
        } else if j + 1 == i {
            betas[j]
        } else {
            0.0
        }
    })
}

impl<V: Vector> Krylov<V> {
    /// Starts from `start` (normalised here).
    pub fn new(mut start: V, seed: u64) -> Self {
        normalize(&mut start);
        Krylov {
            basis: vec![start],
            alphas: Vec::new(),
            betas: Vec::new(),
            anorm: 0.0,
            restarts: ProbeStream::new(seed ^ 0x5eed_1a2c_0000_0001),
        }
    }

    /// Steps done (`m`).
    pub fn steps(&self) -> usize {
        self.alphas.len()
    }

    /// One Lanczos step: one product.
    pub fn step<O: SymOp<V = V>>(&mut self, op: &mut O) -> Result<()> {
        let j = self.alphas.len();
        let q = &self.basis[j];
        let mut w = op.apply(q)?;
        let alpha = finite(q.dot(&w), "Lanczos coefficient alpha (v^T H v)")?;
        w.axpy(-alpha, q);
        if j > 0 {
            w.axpy(-self.betas[j - 1], &self.basis[j - 1]);
        }
        orthogonalize(&mut w, &self.basis);
        let beta = finite(w.norm(), "Lanczos coefficient beta")?;
        self.alphas.push(alpha);
        self.anorm = self
            .anorm
            .max(alpha.abs() + beta + if j > 0 { self.betas[j - 1] } else { 0.0 });
        let dim = op.dim();
        if self.basis.len() >= dim {
            // The basis spans the whole space: H Q = Q T exactly.
            self.betas.push(0.0);
            return Ok(());
        }
        if beta <= BREAKDOWN * self.anorm {
            // Invariant subspace: continue from a random direction orthogonal to it.
            let mut r = op.vector_from_host(&self.restarts.draw(ProbeKind::Gaussian, dim));
            orthogonalize(&mut r, &self.basis);
            normalize(&mut r);
            self.basis.push(r);
            self.betas.push(0.0);
        } else {
            w.scale(1.0 / beta);
            self.basis.push(w);
            self.betas.push(beta);
        }
        Ok(())
    }

    /// Eigen-decomposition of `T_m` (nalgebra's symmetric QR), sorted by descending Ritz value.
    pub fn ritz(&self) -> Ritz {
        Ritz::of(tridiagonal(self.steps(), |i| self.alphas[i], &self.betas))
    }

    /// `|beta_m * s_{m,i}|` for Ritz pair `i`: the residual norm `||H y_i - theta_i y_i||`.
    pub fn residual_estimate(&self, ritz: &Ritz, i: usize) -> f64 {
        let m = self.steps();
        (self.betas[m - 1] * ritz.s[(m - 1, i)]).abs()
    }

    /// Whether Ritz pair `i` has converged by its Lanczos estimate: `residual <= tol * |theta_i|` (no product).
    pub fn converged(&self, ritz: &Ritz, i: usize, tol: f64) -> bool {
        self.residual_estimate(ritz, i) <= tol * ritz.values[i].abs()
    }

    /// The Ritz vector `y_i = Q_m s_i`, normalised.
    pub fn ritz_vector(&self, ritz: &Ritz, i: usize) -> V {
        let mut y = self.basis[0].clone();
        y.scale(ritz.s[(0, i)]);
        for j in 1..self.steps() {
            y.axpy(ritz.s[(j, i)], &self.basis[j]);
        }
        normalize(&mut y);
        y
    }
}
