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
    /// `self -= sum_i (q_i . self) q_i`, twice (classical Gram-Schmidt with one re-orthogonalisation,
    /// "twice is enough"), against an orthonormal `basis`. Device vectors override this with two
    /// matrix-vector products per pass and no read-back to the host.
    fn orthogonalize_against(&mut self, basis: &[Self]) {
        for _ in 0..2 {
            let coefs: Vec<f64> = basis.iter().map(|q| q.dot(self)).collect();
            for (q, c) in basis.iter().zip(coefs) {
                self.axpy(-c, q);
            }
        }
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
    /// The basis stacked once as a `[k, n]` matrix `Q`; each pass is `w -= Q^T (Q w)`, two
    /// matrix-vector products that stay on the device. Per-vector dots would read back one scalar
    /// per basis vector and step (`O(k)` device syncs), which dominated the bookkeeping of long runs.
    fn orthogonalize_against(&mut self, basis: &[Self]) {
        if basis.is_empty() {
            return;
        }
        let n = self.len();
        let q: Tensor<B, 2> = Tensor::stack(basis.to_vec(), 0);
        let qt = q.clone().transpose();
        let mut w = self.clone().reshape([n, 1]);
        for _ in 0..2 {
            let coefs = q.clone().matmul(w.clone());
            w = w - qt.clone().matmul(coefs);
        }
        *self = w.reshape([n]);
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

/// `w -= sum_i (q_i . w) q_i`, twice, against an orthonormal `basis` ([`Vector::orthogonalize_against`]).
pub(crate) fn orthogonalize<V: Vector>(w: &mut V, basis: &[V]) {
    w.orthogonalize_against(basis);
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

    #[test]
    fn device_orthogonalization_matches_the_host_one() {
        use crate::probes::{ProbeKind, ProbeStream};
        type B = burn::backend::Flex;
        let device = Default::default();
        let n = 50;
        let mut probes = ProbeStream::new(3);
        let mut basis: Vec<Vec<f64>> = Vec::new();
        for _ in 0..7 {
            let mut q = probes.draw(ProbeKind::Gaussian, n);
            orthogonalize(&mut q, &basis);
            normalize(&mut q);
            basis.push(q);
        }
        let w = probes.draw(ProbeKind::Gaussian, n);
        let mut host = w.clone();
        orthogonalize(&mut host, &basis);
        let to_device = |x: &Vec<f64>| Tensor::<B, 1>::from_data(burn::tensor::TensorData::new(x.clone(), [n]), &device);
        let dev_basis: Vec<Tensor<B, 1>> = basis.iter().map(to_device).collect();
        let mut dev = to_device(&w);
        dev.orthogonalize_against(&dev_basis);
        let dev: Vec<f64> = dev.into_data().iter::<f64>().collect();
        // f32 on the device: entries of O(1) agree to a few ulps of f32 (1e-5 leaves a margin), and the
        // result is orthogonal to the basis to the same level.
        for (a, b) in dev.iter().zip(&host) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        for q in &basis {
            assert!(q.dot(&dev).abs() < 1e-5);
        }
    }
}
