//! Vectors the algorithms work on.
//!
//! The algorithms only need inner products and `y += a x`, so they are written once against [`Vector`] and
//! run both on host `Vec<f64>` (dense test matrices, small problems) and on flat burn tensors that never
//! leave the device (the real Hessian). Every reduction comes back to the host as `f64`, so the small
//! dense problems built from them (tridiagonal matrices, Gram matrices) are always solved in double precision.

use burn::tensor::{Tensor, backend::Backend};

/// A vector in the parameter space of an operator.
pub trait Vector: Clone {
    /// Number of entries.
    fn len(&self) -> usize;
    /// Whether the vector has no entries.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Inner product `self . other`.
    fn dot(&self, other: &Self) -> f64;
    /// `self += a * x`.
    fn axpy(&mut self, a: f64, x: &Self);
    /// `self *= a`.
    fn scale(&mut self, a: f64);
    /// Euclidean norm.
    fn norm(&self) -> f64 {
        self.dot(self).max(0.0).sqrt()
    }
}

impl Vector for Vec<f64> {
    fn len(&self) -> usize {
        <[f64]>::len(self)
    }
    fn dot(&self, other: &Self) -> f64 {
        self.iter().zip(other).map(|(a, b)| a * b).sum()
    }
    fn axpy(&mut self, a: f64, x: &Self) {
        for (y, x) in self.iter_mut().zip(x) {
            *y += a * x;
        }
    }
    fn scale(&mut self, a: f64) {
        for y in self.iter_mut() {
            *y *= a;
        }
    }
}

/// A flat parameter vector that stays on the device. Reductions are read back as one `f64` each.
impl<B: Backend> Vector for Tensor<B, 1> {
    fn len(&self) -> usize {
        self.dims()[0]
    }
    fn dot(&self, other: &Self) -> f64 {
        scalar_to_f64((self.clone() * other.clone()).sum())
    }
    fn axpy(&mut self, a: f64, x: &Self) {
        *self = self.clone() + x.clone().mul_scalar(a);
    }
    fn scale(&mut self, a: f64) {
        *self = self.clone().mul_scalar(a);
    }
}

/// Reads a one-element tensor as `f64`. Goes through `TensorData` rather than `into_scalar`, because the
/// latter returns the backend's nominal element type (`f32` on Flex) even when the runtime dtype is `f64`.
pub(crate) fn scalar_to_f64<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .iter::<f64>()
        .next()
        .expect("a reduction should have exactly one element")
}

/// `w -= sum_i (q_i . w) q_i`, twice (classical Gram-Schmidt with one re-orthogonalisation, "twice is
/// enough"), against an orthonormal `basis`.
pub(crate) fn orthogonalize<V: Vector>(w: &mut V, basis: &[V]) {
    for _ in 0..2 {
        let coefs: Vec<f64> = basis.iter().map(|q| q.dot(w)).collect();
        for (q, c) in basis.iter().zip(coefs) {
            w.axpy(-c, q);
        }
    }
}

/// Scales `v` to unit norm and returns the norm it had.
pub(crate) fn normalize<V: Vector>(v: &mut V) -> f64 {
    let n = v.norm();
    if n > 0.0 {
        v.scale(1.0 / n);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_vector_ops() {
        let mut y = vec![1.0, 2.0, 2.0];
        assert_eq!(y.norm(), 3.0);
        y.axpy(2.0, &vec![1.0, 0.0, -1.0]);
        assert_eq!(y, vec![3.0, 2.0, 0.0]);
        y.scale(0.5);
        assert_eq!(y.dot(&vec![2.0, 1.0, 5.0]), 4.0);
    }

    #[test]
    fn orthogonalize_removes_the_basis_components() {
        let basis = vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]];
        let mut w = vec![3.0, 1.0, 2.0];
        orthogonalize(&mut w, &basis);
        for q in &basis {
            // Exact arithmetic gives 0; 1e-15 allows for rounding of O(1) numbers.
            assert!(q.dot(&w).abs() < 1e-15);
        }
        assert!((normalize(&mut w) - 0.4).abs() < 1e-15);
    }
}
