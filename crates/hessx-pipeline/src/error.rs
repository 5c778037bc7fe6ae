//! Errors of the pipeline glue. Each says what happened and, where there is
//! one, what to do about it; the lower crates' errors pass through unchanged.

use std::path::PathBuf;

/// What can go wrong training, or running a curvature stage over a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A table or file of hessx-store could not be read or written.
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// A dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] hessx_data::Error),
    /// Model weights could not be loaded or saved.
    #[error(transparent)]
    Model(#[from] hessx_models::Error),
    /// The curvature engine refused or failed.
    #[error(transparent)]
    Hessian(#[from] hessx_hessian::Error),
    /// The curvature engine failed on one checkpoint.
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What the engine said.
        source: hessx_hessian::Error,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A saved configuration could not be read or written.
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// An optimiser record could not be saved or loaded.
    #[error("{path}: optimiser record: {message}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// burn's message.
        message: String,
    },
    /// A setting (usually a flag) has a value that cannot work; the message names the flag.
    #[error("{0}")]
    Invalid(String),
    /// Training diverged or cannot go on; the message says why and what to change.
    #[error("{0}")]
    Training(String),
    /// `--backend` names a backend this binary was built without.
    #[error("{0}")]
    BackendNotBuilt(&'static str),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A setting with an unusable value; `message` names the flag.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }
}
