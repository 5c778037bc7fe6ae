//! Products must be deterministic: every solver assumes that `H v` is the same matrix at every call.
//!
//! Train-mode batch norm or dropout in a loss closure break that (the Hessian drifts from product to
//! product by 1e-2 or more), and nothing downstream would notice: Lanczos would return plausible numbers
//! for no matrix. Two products with the same vector tell: [`check_deterministic`] takes two of its own;
//! [`FirstProductChecked`] takes the solver's first product twice, one extra product instead of two.

use std::ops::{Deref, DerefMut};

use crate::error::{Error, Result};
use crate::op::SymOp;
use crate::probes::{ProbeKind, ProbeStream};
use crate::vector::Vector;

/// Relative difference two products with the same vector may show and still count as deterministic. CPU
/// backends repeat results bit for bit; GPU reductions with atomics may reorder sums (a few f32 ulps,
/// ~1e-7 relative); dropout or train-mode batch norm change products by O(1e-2) or more.
pub const DEFAULT_DETERMINISM_TOL: f64 = 1e-5;

/// Applies `op` twice to the same seeded Rademacher vector and fails with [`Error::NotDeterministic`] if
/// `||Hv - Hv'|| > tol * ||Hv||` (e.g. [`DEFAULT_DETERMINISM_TOL`]). Costs 2 products; returns the
/// relative difference.
pub fn check_deterministic<O: SymOp>(op: &mut O, tol: f64) -> Result<f64> {
    let v = op.vector_from_host(&ProbeStream::new(0xde7e_4411).draw(ProbeKind::Rademacher, op.dim()));
    let a = op.apply(&v)?;
    let b = op.apply(&v)?;
    products_agree(&a, b, tol)
}

/// Whether `a` and `b`, two products with the same vector, agree: `||b - a|| <= tol * ||a||`, else
/// [`Error::NotDeterministic`]. Returns the relative difference. The test of [`check_deterministic`] and
/// [`FirstProductChecked`].
pub fn products_agree<V: Vector>(a: &V, mut b: V, tol: f64) -> Result<f64> {
    let scale = a.norm();
    b.axpy(-1.0, a);
    let rel_diff = if scale > 0.0 { b.norm() / scale } else { b.norm() };
    if rel_diff.is_finite() && rel_diff <= tol {
        Ok(rel_diff)
    } else {
        Err(Error::NotDeterministic { rel_diff, tol })
    }
}

/// `O` with its first product taken twice and failed with [`Error::NotDeterministic`] unless the two
/// agree to `tol` ([`products_agree`]): the determinism test on the solver's own first vector, one extra
/// product where [`check_deterministic`] takes two (at 20 Lanczos steps, 1 of 21 products instead of 2 of
/// 22). The extra product is left out of [`SymOp::hvps`], so solvers count what they asked for; a failure
/// comes out of the first solver that uses the operator. Wrapped around an operator shared over MPI
/// ranks, it compares the combined products, so every rank decides alike.
pub struct FirstProductChecked<O> {
    inner: O,
    /// The tolerance while the first product is still to be checked.
    tol: Option<f64>,
    /// Products of `inner` taken only for the check.
    check_hvps: u64,
}

impl<O: SymOp> FirstProductChecked<O> {
    /// `inner`, whose next product is checked with tolerance `tol` (e.g. [`DEFAULT_DETERMINISM_TOL`]).
    pub fn new(inner: O, tol: f64) -> Self {
        FirstProductChecked { inner, tol: Some(tol), check_hvps: 0 }
    }

    /// The wrapped operator (its [`SymOp::hvps`] counts the check's product).
    pub fn inner(&self) -> &O {
        &self.inner
    }
}

impl<O> Deref for FirstProductChecked<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.inner
    }
}

impl<O> DerefMut for FirstProductChecked<O> {
    fn deref_mut(&mut self) -> &mut O {
        &mut self.inner
    }
}

impl<O: SymOp> SymOp for FirstProductChecked<O> {
    type V = O::V;

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn apply(&mut self, v: &O::V) -> Result<O::V> {
        let product = self.inner.apply(v)?;
        if let Some(tol) = self.tol.take() {
            let before = self.inner.hvps();
            let again = self.inner.apply(v)?;
            self.check_hvps += self.inner.hvps() - before;
            products_agree(&product, again, tol)?;
        }
        Ok(product)
    }

    fn hvps(&self) -> u64 {
        self.inner.hvps() - self.check_hvps
    }

    fn vector_from_host(&self, x: &[f64]) -> O::V {
        self.inner.vector_from_host(x)
    }

    fn vector_to_host(&self, v: &O::V) -> Vec<f64> {
        self.inner.vector_to_host(v)
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;

    use super::*;
    use crate::op::DenseOp;

    /// A matrix that drifts by `drift` (relative) at every product, as train-mode batch norm or dropout
    /// make a Hessian drift.
    struct Drifting {
        dense: DenseOp,
        drift: f64,
        calls: u32,
    }

    impl SymOp for Drifting {
        type V = Vec<f64>;
        fn dim(&self) -> usize {
            self.dense.dim()
        }
        fn apply(&mut self, v: &Vec<f64>) -> Result<Vec<f64>> {
            self.calls += 1;
            let scale = 1.0 + self.drift * f64::from(self.calls);
            Ok(self.dense.apply(v)?.into_iter().map(|x| x * scale).collect())
        }
        fn hvps(&self) -> u64 {
            self.dense.hvps()
        }
        fn vector_from_host(&self, x: &[f64]) -> Vec<f64> {
            x.to_vec()
        }
        fn vector_to_host(&self, v: &Vec<f64>) -> Vec<f64> {
            v.clone()
        }
    }

    fn drifting(drift: f64) -> Drifting {
        let matrix = DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 3.0]);
        Drifting { dense: DenseOp::new(matrix).unwrap(), drift, calls: 0 }
    }

    #[test]
    fn the_first_product_is_checked_once_at_the_cost_of_one_product() {
        // Deterministic: the product is H v, the solver sees its own count, the operator did one more.
        let mut steady = FirstProductChecked::new(drifting(0.0), 1e-5);
        assert_eq!(steady.apply(&vec![1.0, 0.0]).unwrap(), [2.0, 1.0]);
        assert_eq!(steady.apply(&vec![0.0, 1.0]).unwrap(), [1.0, 3.0]);
        assert_eq!((steady.hvps(), steady.inner().hvps()), (2, 3), "the check's product is left out of the count");
        // A drift of 1e-3 a product (above the 1e-5 tolerance) fails the first product, naming the
        // difference: the second product is 1.002 H v against 1.001 H v.
        let mut moving = FirstProductChecked::new(drifting(1e-3), 1e-5);
        match moving.apply(&vec![1.0, 0.0]) {
            Err(Error::NotDeterministic { rel_diff, tol }) => {
                assert!((rel_diff - 1e-3 / 1.001).abs() < 1e-9, "{rel_diff}");
                assert_eq!(tol, 1e-5);
            }
            other => panic!("expected NotDeterministic, got {other:?}"),
        }
        // Within the tolerance it passes; later products are not compared again, however far they drift.
        let mut slight = FirstProductChecked::new(drifting(1e-7), 1e-5);
        slight.apply(&vec![1.0, 0.0]).unwrap();
        slight.drift = 1.0;
        slight.apply(&vec![1.0, 0.0]).unwrap();
        assert_eq!(slight.inner().hvps(), 3);
    }

    #[test]
    fn the_two_product_check_catches_the_same_drift() {
        // Products 1.001 H v and 1.002 H v: relative difference 1e-3 / 1.001.
        let err = check_deterministic(&mut drifting(1e-3), 1e-5).unwrap_err();
        assert!(matches!(err, Error::NotDeterministic { rel_diff, .. } if (rel_diff - 1e-3 / 1.001).abs() < 1e-9));
        assert_eq!(check_deterministic(&mut drifting(0.0), 1e-5).unwrap(), 0.0);
    }
}
