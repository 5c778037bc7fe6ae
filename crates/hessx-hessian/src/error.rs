//! The crate's error type.
//!
//! A solver that has not converged is a *result* (see the `converged` flags), not an error. Errors are
//! reserved for calls that cannot produce a meaningful answer: mismatched sizes, empty inputs, non-finite
//! products, a backend failure or an operator that is not deterministic.

use thiserror::Error;

/// Everything that can go wrong in the curvature engine.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector handed to an operator has the wrong length.
    #[error(
        "vector of length {got} passed to an operator of dimension {expected}; build vectors with the operator's `vector_from_host` or `ParamLayout::flatten`"
    )]
    DimensionMismatch {
        /// The operator's dimension.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// An argument is out of its documented range.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument (config field) name.
        name: &'static str,
        /// What was expected and what to try.
        reason: String,
    },
    /// A matrix given to [`crate::DenseOp`] is not square or not symmetric.
    #[error("matrix is not a symmetric operator: {reason}")]
    NotSymmetric {
        /// What was found.
        reason: String,
    },
    /// A product returned NaN or infinity.
    #[error(
        "{what} is not finite (NaN or infinity); the loss is probably not finite at these parameters (check the checkpoint and the input data) or the model uses an op without a second derivative"
    )]
    NonFinite {
        /// Which quantity.
        what: &'static str,
    },
    /// Two products with the same vector differ.
    #[error(
        "the Hessian operator is not deterministic: two products with the same vector differ by {rel_diff:.3e} (relative), more than {tol:.1e}; the loss closure probably uses dropout or batch norm in train mode (use eval mode), or the batches change between calls"
    )]
    NotDeterministic {
        /// `||Hv - Hv'|| / ||Hv||`.
        rel_diff: f64,
        /// The tolerance it was checked against.
        tol: f64,
    },
    /// The model has no parameter that the layout keeps.
    #[error(
        "no trainable parameter matched the layout filter; check the parameter paths (e.g. `fc.weight`) and that the model was built on `Autodiff<B>` so its parameters require gradients"
    )]
    NoParameters,
    /// No batches were given to a Hessian operator, or a batch has size 0.
    #[error("invalid batches: {reason}")]
    InvalidBatches {
        /// What was found.
        reason: String,
    },
    /// The backend reported an error (e.g. while synchronising the device).
    #[error("backend error: {0}")]
    Backend(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Returns [`Error::NonFinite`] when `x` is NaN or infinite.
pub(crate) fn finite(x: f64, what: &'static str) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::NonFinite { what })
    }
}
