//! Where hessx keeps what it computes: Parquet tables with fixed schemas, the
//! layout of a run directory and of the data directory, and atomic writes.
//!
//! Only this crate knows file names and schemas. Every stage reads and writes
//! through it, so tables from several runs concatenate cleanly: each carries
//! the identifying columns of [`RunIdentity`] ahead of its own.
//!
//! ```no_run
//! use hessx_store::{RunDir, RunIdentity, TraceMethod, tables::TraceRow};
//! let run = RunDir::new("runs/digits");
//! let id = RunIdentity::new("digits", "mlp", "digits", "gaussian_noise", 5);
//! let rows = vec![TraceRow { settings_id: "3f2a9c41d0b7".into(), step: 0, method: TraceMethod::Hutchinson,
//!     estimate: 12.5, std_error: 0.3, probes: 50, converged: true, hvps: 50, seconds: 1.2, half_width_95: 0.6 }];
//! hessx_store::tables::write_rows(&run.trace(), &id, &rows).unwrap();
//! ```
#![deny(missing_docs)]

pub mod atomic;
pub mod column;
pub mod conform;
mod error;
pub mod landscape;
pub mod layout;
pub mod robustness;
pub mod tables;
pub mod vocab;

/// The arrow-rs version the schemas are written with (for [`row_type!`] users).
pub use arrow;
pub use atomic::{OutputTarget, remove_stale_temps, write_atomic, write_bytes_atomic, write_output};
pub use error::{Error, Result};
pub use layout::{DataDir, RunDir};
pub use tables::RunIdentity;
pub use vocab::{DensityRule, DensityWeights, EigenMethod, ResidualKind, SpectrumEnd, Stage, TraceMethod, Which};
