//! hx-analyze: do the top Hessian eigenvectors stay in a stable subspace
//! while a model is fine-tuned?
//!
//! Reads the eigenvectors that `hx-eigen` saved for every checkpoint of a
//! run (plus, where present, eigenvalues, trace, density and the training
//! log), and answers with PCA of all eigenvectors stacked, cosine
//! similarities, subspace overlaps and eigenvectors tracked by direction.
//! Needs no model, dataset or burn: re-running it on saved eigenvectors
//! takes seconds, because everything is computed from the `n x n` Gram
//! matrix of the `n` eigenvectors ([`gram`]), never from `d x d` matrices.
//!
//! ```no_run
//! use hessx_store::RunDir;
//! let summary = hx_analyze::analyze(&RunDir::new("runs/resnet20-gauss5"), &hx_analyze::Options::default()).unwrap();
//! println!("report at {}", summary.report.display());
//! ```
#![deny(missing_docs)]

mod analyze;
mod error;
pub mod figures;
pub mod gram;
pub mod load;
pub mod numbers;
pub mod pca;
pub mod report;
pub mod similarity;
pub mod tables;
pub mod tracking;

pub use analyze::{Options, Summary, analyze};
pub use error::{Error, Result};
