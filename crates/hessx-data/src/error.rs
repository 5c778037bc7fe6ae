//! The one error type of hessx-data. Every variant names the file, URL or
//! flag concerned and, where there is one, the command that fixes it.

use std::path::PathBuf;

/// What can go wrong fetching, converting, corrupting or loading a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a Parquet table failed (the store's message names the file).
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// A file or directory could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file exists but its contents are not in the expected format.
    #[error("{path}: {message}")]
    Format {
        /// The file concerned (for tar members: `archive!member`).
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// An archive has the wrong size or checksum: truncated, corrupted or a different file.
    #[error("{path}: {what} is {found}, expected {expected}; {hint}")]
    Verify {
        /// The archive.
        path: PathBuf,
        /// `size`, `SHA-256` or `MD5`.
        what: &'static str,
        /// The published value.
        expected: String,
        /// What the file has.
        found: String,
        /// What to do about it.
        hint: String,
    },
    /// A table that should exist does not.
    #[error("{path} does not exist; create it with `{command}`{note}")]
    MissingTable {
        /// The table expected.
        path: PathBuf,
        /// The `hx-fetch ...` command that writes it.
        command: String,
        /// Anything else worth knowing (may be empty).
        note: String,
    },
    /// A table's bytes do not match the checksum its manifest recorded.
    #[error(
        "{path}: SHA-256 is {found}, but {manifest} recorded {expected}; the table is corrupt or was changed by hand: rebuild it with `{command}`"
    )]
    CorruptTable {
        /// The table.
        path: PathBuf,
        /// The manifest that recorded it.
        manifest: PathBuf,
        /// The recorded checksum.
        expected: String,
        /// The checksum of the file now.
        found: String,
        /// The `hx-fetch ...` command that rebuilds it.
        command: String,
    },
    /// A download failed; the message says where to get the file by hand.
    #[error(
        "could not download {url}: {message}\n  download it by hand from {url}\n  and put it at {dest} (or pass `--from PATH` with the file you downloaded)"
    )]
    Download {
        /// The URL tried.
        url: String,
        /// Where the file should go.
        dest: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A corruption name that hessx (or CIFAR-10-C) does not know.
    #[error("--corruption {name}: unknown corruption; valid names: {valid}")]
    UnknownCorruption {
        /// The name given.
        name: String,
        /// The names accepted, space-separated.
        valid: String,
    },
    /// A severity outside 1..=5.
    #[error("--severity {0}: severity must be between 1 and 5 (the five CIFAR-10-C levels)")]
    Severity(u8),
    /// An argument that cannot be used as given.
    #[error("{flag}: {message}")]
    Invalid {
        /// The flag or parameter concerned.
        flag: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A manifest that cannot be read or parsed.
    #[error("{path}: not a readable dataset manifest ({message}); delete it and re-run `hx-fetch`")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format { path: path.into(), message: message.into() }
    }
    pub(crate) fn invalid(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { flag: flag.into(), message: message.into() }
    }
}
