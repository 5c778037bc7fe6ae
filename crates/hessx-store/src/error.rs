use std::path::PathBuf;

/// What can go wrong reading or writing hessx's files; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, read, written or renamed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file exists but is not a readable Parquet table.
    #[error("{path}: not a readable Parquet table ({source}); it may be truncated or from an interrupted write: delete it and re-run the stage that writes it")]
    Parquet {
        /// The table file.
        path: PathBuf,
        /// The decoder's message.
        source: parquet::errors::ParquetError,
    },
    /// Arrow refused to build or convert a batch.
    #[error("{path}: {source}")]
    Arrow {
        /// The table file.
        path: PathBuf,
        /// Arrow's message.
        source: arrow::error::ArrowError,
    },
    /// The table is readable but does not have the expected shape.
    #[error("{path}: {message}")]
    Schema {
        /// The table file.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn schema(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Schema { path: path.into(), message: message.into() }
    }
}
