//! Errors of the robustness sweep: the lower crates' pass through unchanged;
//! a bad setting names its flag.

use std::path::PathBuf;

/// What can go wrong in a sweep.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The run, its checkpoint or the curvature engine.
    #[error(transparent)]
    Pipeline(#[from] hessx_pipeline::Error),
    /// A table could not be read or written.
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// A dataset could not be loaded or corrupted.
    #[error(transparent)]
    Data(#[from] hessx_data::Error),
    /// The checkpoint could not be loaded.
    #[error(transparent)]
    Model(#[from] hessx_models::Error),
    /// The curvature engine refused or failed.
    #[error(transparent)]
    Hessian(#[from] hessx_hessian::Error),
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] hessx_plot::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A flag or a saved file does not fit; the message says which and what was expected.
    #[error("{0}")]
    Input(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
