//! The one operator abstraction every algorithm is written against.
//!
//! An operator only implements the product `H v` (it is symmetric by contract) and counts how many it did;
//! the algorithms on top (Lanczos, power iteration, trace estimators, SLQ, the dense Hessian) know nothing
//! about models. [`DenseOp`] wraps a plain matrix so each algorithm can be tested against a known spectrum;
//! [`crate::HessianOp`] is the real thing.

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result};
use crate::vector::Vector;

/// A symmetric linear operator, such as a Hessian.
pub trait SymOp {
    /// The vectors it acts on.
    type V: Vector;
    /// Dimension (number of parameters).
    fn dim(&self) -> usize;
    /// The product `H v`. Counts one product.
    fn apply(&mut self, v: &Self::V) -> Result<Self::V>;
    /// Products done so far.
    fn hvps(&self) -> u64;
    /// Uploads a host vector of length [`SymOp::dim`].
    fn vector_from_host(&self, x: &[f64]) -> Self::V;
    /// Downloads a vector to the host.
    fn vector_to_host(&self, v: &Self::V) -> Vec<f64>;
}

/// A dense symmetric matrix as an operator, for tests and small problems.
///
/// ```
/// use hessx_hessian::{DenseOp, SymOp};
/// use nalgebra::DMatrix;
/// let mut op = DenseOp::new(DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 3.0])).unwrap();
/// assert_eq!(op.apply(&vec![1.0, 0.0]).unwrap(), vec![2.0, 1.0]);
/// assert_eq!(op.hvps(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct DenseOp {
    matrix: DMatrix<f64>,
    hvps: u64,
}

impl DenseOp {
    /// Wraps `matrix`, which must be square and symmetric to `1e-12` relative to its largest entry.
    pub fn new(matrix: DMatrix<f64>) -> Result<Self> {
        if matrix.nrows() != matrix.ncols() {
            return Err(Error::NotSymmetric {
                reason: format!("shape {}x{} is not square", matrix.nrows(), matrix.ncols()),
            });
        }
        let scale = matrix.amax();
        let asym = (&matrix - matrix.transpose()).amax();
        if asym > 1e-12 * scale {
            return Err(Error::NotSymmetric {
                reason: format!(
                    "max |A - A^T| = {asym:.3e} against max |A| = {scale:.3e}; symmetrise it with (A + A^T)/2"
                ),
            });
        }
        Ok(DenseOp { matrix, hvps: 0 })
    }

    /// The wrapped matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.matrix
    }
}

impl SymOp for DenseOp {
    type V = Vec<f64>;

    fn dim(&self) -> usize {
        self.matrix.nrows()
    }

    fn apply(&mut self, v: &Vec<f64>) -> Result<Vec<f64>> {
        if v.len() != self.dim() {
            return Err(Error::DimensionMismatch {
                expected: self.dim(),
                got: v.len(),
            });
        }
        self.hvps += 1;
        let y = &self.matrix * DVector::from_column_slice(v);
        Ok(y.as_slice().to_vec())
    }

    fn hvps(&self) -> u64 {
        self.hvps
    }

    fn vector_from_host(&self, x: &[f64]) -> Vec<f64> {
        x.to_vec()
    }

    fn vector_to_host(&self, v: &Vec<f64>) -> Vec<f64> {
        v.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_symmetric_and_wrong_lengths() {
        assert!(DenseOp::new(DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 0.0, 1.0])).is_err());
        assert!(DenseOp::new(DMatrix::zeros(2, 3)).is_err());
        let mut op = DenseOp::new(DMatrix::identity(3, 3)).unwrap();
        assert!(matches!(
            op.apply(&vec![1.0; 2]),
            Err(Error::DimensionMismatch {
                expected: 3,
                got: 2
            })
        ));
        assert_eq!(op.hvps(), 0);
    }
}
