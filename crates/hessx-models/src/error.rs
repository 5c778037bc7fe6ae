//! Errors of checkpoint and PyTorch loading; each names the file.

use std::path::PathBuf;

/// What went wrong loading or saving model weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist.
    #[error(
        "{path}: no such file; check the path (checkpoints are written by hx-train under <run>/checkpoints/)"
    )]
    Missing {
        /// The file asked for.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a complete hessx checkpoint.
    #[error(
        "{path}: not a valid hessx checkpoint ({reason}); it may be truncated or from an interrupted write: delete it and re-run the stage that wrote it"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint was saved for another model.
    #[error(
        "{path}: checkpoint is for model {found} ({found_spec}), but {expected} ({expected_spec}) was asked for; pass the matching model settings or another checkpoint"
    )]
    WrongModel {
        /// The file.
        path: PathBuf,
        /// Name of the model that was expected.
        expected: String,
        /// Name of the model in the file.
        found: String,
        /// Full spec expected, as JSON.
        expected_spec: String,
        /// Full spec in the file, as JSON.
        found_spec: String,
    },
    /// The weights in the file do not have the model's shapes.
    #[error("{path}: weights do not fit model {model}: {details}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The model's name.
        model: String,
        /// Each mismatch, `name: expected [..], found [..]`.
        details: String,
    },
    /// A PyTorch file could not be read.
    #[error("{path}: cannot read as a PyTorch state_dict: {reason}")]
    Pytorch {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        reason: String,
    },
    /// A PyTorch state_dict does not match the model.
    #[error(
        "{path}: state_dict does not match model {model}:{listing}\n(was it saved for this architecture, depth, width, input channels or cardinalities, vocabulary and number of classes?)"
    )]
    StateDictMismatch {
        /// The file.
        path: PathBuf,
        /// The model's name.
        model: String,
        /// Missing keys, unexpected keys and shape mismatches, one per line.
        listing: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
