use std::path::PathBuf;

/// What can go wrong drawing or saving a figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chart holds nothing that can be drawn (no finite points, empty matrix).
    #[error("figure `{title}`: {message}")]
    NothingToDraw {
        /// The chart's title.
        title: String,
        /// What was missing.
        message: String,
    },
    /// plotters refused to draw (a bug or an impossible layout, e.g. a tiny canvas).
    #[error("figure `{title}`: drawing failed: {message}")]
    Draw {
        /// The chart's title.
        title: String,
        /// plotters' message.
        message: String,
    },
    /// The embedded font could not be parsed (the asset is damaged).
    #[error(
        "the embedded DejaVuSans.ttf could not be registered with plotters; the crate's assets/ folder may be damaged"
    )]
    Font,
    /// Writing or reading a figure file failed.
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// Reading the PNG back failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
