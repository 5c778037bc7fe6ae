use std::path::PathBuf;

/// What can go wrong computing, merging or drawing a surface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag's value is malformed or inconsistent; the message names the flag.
    #[error("{0}")]
    Input(String),
    /// A file does not fit the surface (another model, other settings, a
    /// missing or overlapping shard); the message names the file.
    #[error("{path}: {message}")]
    Mismatch {
        /// The file concerned.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// Reading or writing a table.
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// Loading a checkpoint.
    #[error(transparent)]
    Model(#[from] hessx_models::Error),
    /// The curvature engine.
    #[error(transparent)]
    Hessian(#[from] hessx_hessian::Error),
    /// Drawing a figure.
    #[error(transparent)]
    Plot(#[from] hessx_plot::Error),
    /// Loading the run's data, configuration or checkpoints (hessx-pipeline names the file).
    #[error(transparent)]
    Pipeline(#[from] hessx_pipeline::Error),
}

impl Error {
    pub(crate) fn mismatch(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Mismatch { path: path.into(), message: message.into() }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
