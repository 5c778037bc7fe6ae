use std::path::PathBuf;

/// What can stop an analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run directory does not exist.
    #[error(
        "{0}: no such run directory; pass the directory that hx-train / hx-eigen wrote (it holds eigenvectors/ and *.parquet)"
    )]
    NoRunDir(PathBuf),
    /// Nothing at all to analyse.
    #[error(
        "{0}: nothing to analyse: no eigenvectors and none of eigenvalues, trace, density, checkpoints or \
         train_log .parquet; run hx-eigen (eigenvectors), hx-spectrum (trace, density) or hx-train first"
    )]
    NothingToAnalyze(PathBuf),
    /// Eigenvectors of different checkpoints live in different parameter spaces.
    #[error(
        "{path}: eigenvectors have {found} entries but earlier checkpoints have {expected}; all checkpoints of a run \
         must share one model, re-run hx-eigen for this run"
    )]
    VectorLength {
        /// The offending eigenvector table.
        path: PathBuf,
        /// Length of the vectors read first.
        expected: usize,
        /// Length found in `path`.
        found: usize,
    },
    /// `--settings` names a fingerprint no table of the run holds.
    #[error("--settings {asked}: no curvature table of this run was computed with these settings; present: {}", .known.join(", "))]
    UnknownSettings {
        /// The fingerprint asked for.
        asked: String,
        /// The fingerprints present.
        known: Vec<String>,
    },
    /// `--rank` asks for more eigenvectors than some checkpoint has.
    #[error(
        "--rank {asked}: the subspace rank must be between 1 and {available}, the number of eigenvectors every \
         analysed checkpoint has (step {step} has {available}); pass a smaller --rank or re-run hx-eigen with a larger --top-k"
    )]
    RankTooLarge {
        /// The rank asked for.
        asked: usize,
        /// The fewest eigenvectors any checkpoint has.
        available: usize,
        /// A checkpoint with that few.
        step: i64,
    },
    /// A table or figure could not be read or written.
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] hessx_plot::Error),
    /// A directory could not be listed or a config file read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
