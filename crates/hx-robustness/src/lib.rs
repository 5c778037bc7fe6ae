//! `hx-robustness`: can the Hessian of a trained network explain how robust
//! it is to common corruptions? For one checkpoint, every cell of clean plus
//! corruption x severity gets the accuracy and loss on its images and the
//! top eigenvalues, trace and spectral density of that loss at the same
//! weights ([`sweep::run_sweep`]); a finished sweep is drawn as rank
//! correlations, scatter plots, heatmaps and densities ([`page::draw`]).
//!
//! Files live in `RUN/robustness/<name>/` (see `hessx_store::robustness`).
#![deny(missing_docs)]

pub mod cells;
mod error;
pub mod page;
pub mod settings;
pub mod stats;
pub mod sweep;

pub use error::{Error, Result};
