//! The schemas of every table a run writes. Each table is the identifying
//! columns of [`RunIdentity`] followed by the columns of one row type.
//!
//! # Canonical schema
//!
//! Writers always write this schema, every column non-nullable, in this
//! order: `run` Utf8, `model` Utf8, `dataset` Utf8, `corruption` Utf8,
//! `severity` UInt8, then the table's own columns (a vector is a
//! `FixedSizeList` of `n` Float32 items named `item`). Readers are more
//! lenient: a table rewritten by polars, pandas or pyarrow, with other
//! string, integer or list types, extra columns or another column order,
//! reads back the same (see [`crate::conform`]).
//!
//! | file | columns after the identity columns |
//! |---|---|
//! | `checkpoints.parquet` | `step` Int64, `epoch` Int64, `batch` Int64, `lr` Float64, `train_loss` Float64, `train_accuracy` Float64, `heldout_loss` Float64, `heldout_accuracy` Float64, `file` Utf8, `sha256` Utf8, `heldout_auc` Float64 |
//! | `train_log.parquet` | `step` Int64, `epoch` Int64, `batch` Int64, `lr` Float64, `loss` Float64, `accuracy` Float64, `seconds` Float64, `sharpness` Float64, `sharpness_residual` Float64, `sharpness_hvps` Int64, `sharpness_seconds` Float64 |
//! | `eigenvalues.parquet` | `settings_id` Utf8, `step` Int64, `rank` UInt32, `eigenvalue` Float64, `residual` Float64, `residual_kind` Utf8, `converged` Boolean, `iterations` Int64, `hvps` Int64, `method` Utf8, `seconds` Float64, `num_params` Int64, `spectrum_end` Utf8 |
//! | `eigenvectors/<settings_id>/step-NNNNNNNN.parquet` | `settings_id` Utf8, `step` Int64, `rank` UInt32, `eigenvalue` Float64, `vector` FixedSizeList of Float32 |
//! | `eigenvectors/<settings_id>/bottom/step-NNNNNNNN.parquet` | `settings_id` Utf8, `step` Int64, `rank` UInt32, `eigenvalue` Float64, `vector` FixedSizeList of Float32 |
//! | `trace.parquet` | `settings_id` Utf8, `step` Int64, `method` Utf8, `estimate` Float64, `std_error` Float64, `probes` Int64, `converged` Boolean, `hvps` Int64, `seconds` Float64, `half_width_95` Float64 |
//! | `density.parquet` | `settings_id` Utf8, `step` Int64, `lambda` Float64, `density` Float64, `sigma` Float64 |
//! | `lanczos_nodes.parquet` | `settings_id` Utf8, `step` Int64, `probe` UInt32, `node` Float64, `weight` Float64, `residual` Float64 |
//!
//! The row types below ([`CheckpointRow`] ...) say what each column means;
//! `tests/suite/canonical_schema.rs` keeps this table and the README's equal
//! to what the writers write.

use std::path::Path;

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::column::{Column, batch_from_columns, read_column, read_parquet, write_parquet};
use crate::vocab::{EigenMethod, ResidualKind, SpectrumEnd, Stage, TraceMethod};
use crate::{Error, Result, row_type};

/// Columns that say which experiment a row belongs to, so that tables of
/// several runs concatenate cleanly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// The run directory's name.
    pub run: String,
    /// Model name, e.g. `resnet20`.
    pub model: String,
    /// Dataset name, e.g. `cifar10`.
    pub dataset: String,
    /// Corruption applied to the data (`none` for clean data).
    pub corruption: String,
    /// Corruption severity 1..=5 (0 for clean data).
    pub severity: u8,
}

impl RunIdentity {
    /// Build an identity from its parts.
    pub fn new(run: &str, model: &str, dataset: &str, corruption: &str, severity: u8) -> Self {
        RunIdentity {
            run: run.into(),
            model: model.into(),
            dataset: dataset.into(),
            corruption: corruption.into(),
            severity,
        }
    }

    fn columns(&self, n: usize) -> Vec<(&'static str, ArrayRef)> {
        let s = |v: &String| String::to_array(vec![v; n]);
        vec![
            ("run", s(&self.run)),
            ("model", s(&self.model)),
            ("dataset", s(&self.dataset)),
            ("corruption", s(&self.corruption)),
            ("severity", u8::to_array(vec![&self.severity; n])),
        ]
    }

    /// The identity of the first row of a table (tables hold one run each).
    pub fn from_batch(batch: &RecordBatch, path: &Path) -> Result<Self> {
        let first = |name| -> Result<String> {
            read_column::<String>(batch, name, path)?
                .into_iter()
                .next()
                .ok_or_else(|| Error::schema(path, "table is empty"))
        };
        Ok(RunIdentity {
            run: first("run")?,
            model: first("model")?,
            dataset: first("dataset")?,
            corruption: first("corruption")?,
            severity: read_column::<u8>(batch, "severity", path)?.first().copied().unwrap_or(0),
        })
    }
}

/// A row type that converts to and from Arrow columns; implemented by [`row_type!`].
pub trait Row: Sized {
    /// The named columns holding `rows`.
    fn columns(rows: &[Self]) -> Vec<(&'static str, ArrayRef)>;
    /// Read rows back from a batch read from `path`.
    fn from_batch(batch: &RecordBatch, path: &Path) -> Result<Vec<Self>>;
}

/// Write `rows` to the Parquet file `path` (atomically), identity columns first.
pub fn write_rows<R: Row>(path: &Path, id: &RunIdentity, rows: &[R]) -> Result<()> {
    let mut columns = id.columns(rows.len());
    columns.extend(R::columns(rows));
    let batch = batch_from_columns(columns).map_err(|source| Error::Arrow { path: path.to_owned(), source })?;
    write_parquet(path, &[batch])
}

/// Read all rows of the Parquet file `path`.
pub fn read_rows<R: Row>(path: &Path) -> Result<Vec<R>> {
    R::from_batch(&read_parquet(path)?, path)
}

/// Read all rows of `path` together with the identity of its run (`None`
/// when the table is empty).
pub fn read_rows_with_identity<R: Row>(path: &Path) -> Result<(Option<RunIdentity>, Vec<R>)> {
    let batch = read_parquet(path)?;
    let id = if batch.num_rows() == 0 { None } else { Some(RunIdentity::from_batch(&batch, path)?) };
    Ok((id, R::from_batch(&batch, path)?))
}

row_type! {
    /// One saved checkpoint of a training run (`checkpoints.parquet`).
    pub struct CheckpointRow {
        /// Optimiser steps taken before this checkpoint (0 = before any update).
        pub step: i64,
        /// Epoch (0-based) in which the checkpoint was taken.
        pub epoch: i64,
        /// Batch index within the epoch.
        pub batch: i64,
        /// Learning rate in force at this step.
        pub lr: f64,
        /// Mean training loss over the batches since the previous checkpoint (NaN at step 0).
        pub train_loss: f64,
        /// Training accuracy over the same batches (NaN at step 0).
        pub train_accuracy: f64,
        /// Loss on the held-out split. NaN or infinite marks a checkpoint
        /// that diverged: the curvature stages skip it with a warning.
        pub heldout_loss: f64,
        /// Accuracy on the held-out split.
        pub heldout_accuracy: f64,
        /// Model record file, relative to the run directory.
        pub file: String,
        /// SHA-256 of the model record file.
        pub sha256: String,
        /// Area under the ROC curve on the held-out split, for a binary
        /// (single-logit) model such as a click-through one; NaN otherwise,
        /// and in tables written before the column existed.
        pub heldout_auc: f64 = f64::NAN,
    }
}

row_type! {
    /// One training batch (`train_log.parquet`).
    pub struct TrainLogRow {
        /// Optimiser step after this batch.
        pub step: i64,
        /// Epoch (0-based).
        pub epoch: i64,
        /// Batch index within the epoch.
        pub batch: i64,
        /// Learning rate used for this batch.
        pub lr: f64,
        /// Mean cross-entropy of the batch.
        pub loss: f64,
        /// Accuracy on the batch.
        pub accuracy: f64,
        /// Seconds this step took (forward, backward, update; the sharpness estimate not included).
        pub seconds: f64,
        /// `hx-train --track-sharpness`: estimate of the largest Hessian eigenvalue of this batch's loss at
        /// the weights the step started from (BN in eval mode); NaN on steps without one (and in tables
        /// written before the column existed).
        pub sharpness: f64 = f64::NAN,
        /// `||H v - sharpness v||` of the returned unit vector; NaN when not computed.
        pub sharpness_residual: f64 = f64::NAN,
        /// Hessian-vector products the estimate used (residual included); 0 without an estimate.
        pub sharpness_hvps: i64 = 0,
        /// Seconds the estimate took (not part of `seconds`); 0 without an estimate.
        pub sharpness_seconds: f64 = 0.0,
    }
}

row_type! {
    /// One Hessian eigenpair's value (`eigenvalues.parquet`).
    pub struct EigenvalueRow {
        /// Fingerprint of the settings that computed it (a row of `settings.parquet`).
        pub settings_id: String,
        /// Checkpoint step.
        pub step: i64,
        /// 0 for the first eigenvalue of its `spectrum_end` (the largest for `top`), then on inward.
        pub rank: u32,
        /// The eigenvalue estimate (Ritz value).
        pub eigenvalue: f64,
        /// `||H v - lambda v||` for the returned unit vector.
        pub residual: f64,
        /// How `residual` was obtained.
        pub residual_kind: ResidualKind,
        /// Whether `residual <= tol * |eigenvalue|` was reached.
        pub converged: bool,
        /// Solver iterations of the whole solve (Lanczos steps, or power iterations over all pairs).
        pub iterations: i64,
        /// Hessian-vector products the whole solve used.
        pub hvps: i64,
        /// The solver.
        pub method: EigenMethod,
        /// Wall-clock seconds of the whole solve.
        pub seconds: f64,
        /// Number of parameters the Hessian is taken over.
        pub num_params: i64,
        /// The end of the spectrum (`hx-eigen --which`): `top`, `bottom` (rank 0 = most negative) or
        /// `magnitude` (rank 0 = largest |eigenvalue|). Absent in tables written before issue 18: `top`.
        pub spectrum_end: SpectrumEnd = SpectrumEnd::Top,
    }
}

row_type! {
    /// One Hessian eigenvector (`eigenvectors/<settings_id>/step-NNNNNNNN.parquet`: the top end, or the
    /// largest-magnitude pairs; `eigenvectors/<settings_id>/bottom/step-NNNNNNNN.parquet`: the bottom end).
    pub struct EigenvectorRow {
        /// Fingerprint of the settings that computed it.
        pub settings_id: String,
        /// Checkpoint step.
        pub step: i64,
        /// Rank within its end, as in `eigenvalues.parquet`: 0 for the largest eigenvalue in the top file,
        /// for the most negative one in the bottom file.
        pub rank: u32,
        /// Its eigenvalue.
        pub eigenvalue: f64,
        /// The unit eigenvector over the flattened parameters.
        pub vector: Vec<f32>,
    }
}

row_type! {
    /// One trace estimate (`trace.parquet`).
    pub struct TraceRow {
        /// Fingerprint of the settings that computed it.
        pub settings_id: String,
        /// Checkpoint step.
        pub step: i64,
        /// The estimator.
        pub method: TraceMethod,
        /// Estimate of tr(H).
        pub estimate: f64,
        /// Its standard error.
        pub std_error: f64,
        /// Random probes used.
        pub probes: i64,
        /// Whether the stopping rule was met within the budget (always true for fixed budgets).
        pub converged: bool,
        /// Hessian-vector products used.
        pub hvps: i64,
        /// Wall-clock seconds.
        pub seconds: f64,
        /// Half-width of the 95 % interval `estimate +- half_width_95`: Student's t for `probes - 1`
        /// degrees of freedom times `std_error` (0: exact; NaN: no error bar). Absent in tables written
        /// before it: NaN.
        pub half_width_95: f64 = f64::NAN,
    }
}

row_type! {
    /// One point of a smoothed spectral density (`density.parquet`).
    pub struct DensityRow {
        /// Fingerprint of the settings that computed it.
        pub settings_id: String,
        /// Checkpoint step.
        pub step: i64,
        /// Eigenvalue axis.
        pub lambda: f64,
        /// Density at `lambda` (integrates to 1 over the grid).
        pub density: f64,
        /// Gaussian kernel width.
        pub sigma: f64,
    }
}

row_type! {
    /// One Gauss quadrature node of a stochastic Lanczos run (`lanczos_nodes.parquet`):
    /// the density can be redrawn from these without new products.
    pub struct QuadratureRow {
        /// Fingerprint of the settings that computed it.
        pub settings_id: String,
        /// Checkpoint step.
        pub step: i64,
        /// Which random probe (0-based).
        pub probe: u32,
        /// Ritz value.
        pub node: f64,
        /// Squared first component of its Ritz vector (the probe's weight, whatever `--density-weights`
        /// drew the density with).
        pub weight: f64,
        /// Residual norm of its Ritz pair from the Lanczos relation, which tells the eigenvalues a run
        /// resolved (`--density-weights deflated`). Absent in tables written before it: NaN.
        pub residual: f64 = f64::NAN,
    }
}

row_type! {
    /// The resolved settings of one curvature computation (`settings.parquet`),
    /// one row per fingerprint: join it on `settings_id` to any curvature table.
    /// The columns people filter on most are spelled out; `settings` holds all
    /// of them (TOML), including the stage's own budgets and tolerances.
    pub struct SettingsRow {
        /// The fingerprint: the first 12 hex digits of the SHA-256 of the settings' canonical JSON.
        pub settings_id: String,
        /// The stage that ran with these settings.
        pub stage: Stage,
        /// The methods, e.g. `lanczos` or `slq+hutchinson`.
        pub methods: String,
        /// Parameter groups the Hessian is restricted to (`all`, or comma-separated path prefixes).
        pub params: String,
        /// Whether biases and batch-norm parameters were left out.
        pub ignore_biasbn: bool,
        /// Examples in the Hessian's batch as asked for (`--hessian-batch-size`; 0 with the whole split).
        pub hessian_batch_size: i64,
        /// Whether the Hessian is that of the whole training split.
        pub full_dataset: bool,
        /// Examples the Hessian's loss was actually averaged over.
        pub examples: i64,
        /// Examples per forward pass when the loss is summed over mini-batches.
        pub mini_hessian_batch_size: i64,
        /// Batch-norm mode of the loss (`eval` or `train`).
        pub bn_mode: String,
        /// Seed of the batch and of the random vectors.
        pub seed: i64,
        /// Compute backend.
        pub backend: String,
        /// Floating-point type of the products.
        pub dtype: String,
        /// The full settings, as TOML.
        pub settings: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ev.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let rows: Vec<EigenvectorRow> = (0..3)
            .map(|r| EigenvectorRow {
                settings_id: "abc".into(),
                step: 7,
                rank: r,
                eigenvalue: 1.5 - r as f64,
                vector: vec![r as f32, 0.5, -1.0],
            })
            .collect();
        write_rows(&path, &id, &rows).unwrap();
        let (back_id, back) = read_rows_with_identity::<EigenvectorRow>(&path).unwrap();
        assert_eq!(back, rows);
        assert_eq!(back_id, Some(id));
    }

    row_type! {
        /// `eigenvalues.parquet` as written before issue 18: no `spectrum_end`.
        pub struct EigenvalueRowBefore18 {
            /// As in [`EigenvalueRow`].
            pub settings_id: String,
            /// As in [`EigenvalueRow`].
            pub step: i64,
            /// As in [`EigenvalueRow`].
            pub rank: u32,
            /// As in [`EigenvalueRow`].
            pub eigenvalue: f64,
            /// As in [`EigenvalueRow`].
            pub residual: f64,
            /// As in [`EigenvalueRow`].
            pub residual_kind: ResidualKind,
            /// As in [`EigenvalueRow`].
            pub converged: bool,
            /// As in [`EigenvalueRow`].
            pub iterations: i64,
            /// As in [`EigenvalueRow`].
            pub hvps: i64,
            /// As in [`EigenvalueRow`].
            pub method: EigenMethod,
            /// As in [`EigenvalueRow`].
            pub seconds: f64,
            /// As in [`EigenvalueRow`].
            pub num_params: i64,
        }
    }

    #[test]
    fn eigenvalue_tables_without_spectrum_end_read_as_the_top() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eigenvalues.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let old: Vec<EigenvalueRowBefore18> = (0..2)
            .map(|rank| EigenvalueRowBefore18 {
                settings_id: "abc".into(),
                step: 3,
                rank,
                eigenvalue: 2.0 - rank as f64,
                residual: 1e-4,
                residual_kind: ResidualKind::Explicit,
                converged: true,
                iterations: 20,
                hvps: 22,
                method: EigenMethod::Lanczos,
                seconds: 0.5,
                num_params: 100,
            })
            .collect();
        write_rows(&path, &id, &old).unwrap();
        let back = read_rows::<EigenvalueRow>(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert!(back.iter().all(|r| r.spectrum_end == SpectrumEnd::Top));
        assert_eq!((back[1].rank, back[1].eigenvalue, back[1].hvps), (1, 1.0, 22));
        // Written back, the column is there and round-trips.
        let mut rows = back.clone();
        rows[1].spectrum_end = SpectrumEnd::Bottom;
        write_rows(&path, &id, &rows).unwrap();
        assert_eq!(read_rows::<EigenvalueRow>(&path).unwrap(), rows);
        // A column without a default is still required.
        let err = read_rows::<TraceRow>(&path).unwrap_err().to_string();
        assert!(err.contains("has no column `method`") || err.contains("`method`"), "{err}");
    }

    row_type! {
        /// `train_log.parquet` as written before issue 18 part 2: no sharpness columns.
        pub struct TrainLogRowBefore18 {
            /// As in [`TrainLogRow`].
            pub step: i64,
            /// As in [`TrainLogRow`].
            pub epoch: i64,
            /// As in [`TrainLogRow`].
            pub batch: i64,
            /// As in [`TrainLogRow`].
            pub lr: f64,
            /// As in [`TrainLogRow`].
            pub loss: f64,
            /// As in [`TrainLogRow`].
            pub accuracy: f64,
            /// As in [`TrainLogRow`].
            pub seconds: f64,
        }
    }

    #[test]
    fn train_logs_without_sharpness_columns_read_as_not_estimated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train_log.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let old: Vec<TrainLogRowBefore18> = (1..4)
            .map(|step| TrainLogRowBefore18 {
                step,
                epoch: 0,
                batch: step - 1,
                lr: 0.1,
                loss: 2.0 / step as f64,
                accuracy: 0.5,
                seconds: 0.25,
            })
            .collect();
        write_rows(&path, &id, &old).unwrap();
        let back = read_rows::<TrainLogRow>(&path).unwrap();
        assert_eq!(back.len(), 3);
        assert!(back.iter().all(|r| r.sharpness.is_nan() && r.sharpness_residual.is_nan()));
        assert!(back.iter().all(|r| r.sharpness_hvps == 0 && r.sharpness_seconds == 0.0));
        assert_eq!((back[2].step, back[2].loss, back[2].seconds), (3, 2.0 / 3.0, 0.25));
        // Written back with an estimate, the columns are there and round-trip.
        let mut rows = back.clone();
        for r in &mut rows {
            (r.sharpness, r.sharpness_residual, r.sharpness_hvps, r.sharpness_seconds) = (12.5, 0.3, 10, 0.02);
        }
        write_rows(&path, &id, &rows).unwrap();
        assert_eq!(read_rows::<TrainLogRow>(&path).unwrap(), rows);
    }

    #[test]
    fn wrong_table_names_the_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let rows = vec![DensityRow { settings_id: "abc".into(), step: 0, lambda: 0.0, density: 1.0, sigma: 0.1 }];
        write_rows(&path, &id, &rows).unwrap();
        let err = read_rows::<TraceRow>(&path).unwrap_err().to_string();
        assert!(err.contains("trace.parquet") && err.contains("`method`"), "{err}");
    }

    #[test]
    fn method_columns_are_read_back_as_enums_and_unknown_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let row = |method| TraceRow {
            settings_id: "abc".into(),
            step: 0,
            method,
            estimate: 1.0,
            std_error: 0.1,
            probes: 3,
            converged: false,
            hvps: 3,
            seconds: 0.0,
            half_width_95: 0.43,
        };
        let rows = vec![row(TraceMethod::Slq), row(TraceMethod::Hutchpp)];
        write_rows(&path, &id, &rows).unwrap();
        assert_eq!(read_rows::<TraceRow>(&path).unwrap(), rows);
    }

    row_type! {
        /// A method column as plain text.
        pub struct TextMethod {
            /// The name.
            pub method: String,
        }
    }
    row_type! {
        /// The same column read as the vocabulary.
        pub struct EnumMethod {
            /// The name.
            pub method: TraceMethod,
        }
    }

    #[test]
    fn unknown_method_names_are_refused_with_the_expected_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        write_rows(&path, &id, &[TextMethod { method: "hutchpp".into() }]).unwrap();
        assert_eq!(read_rows::<EnumMethod>(&path).unwrap(), [EnumMethod { method: TraceMethod::Hutchpp }]);
        write_rows(&path, &id, &[TextMethod { method: "girard".into() }]).unwrap();
        let err = read_rows::<EnumMethod>(&path).unwrap_err().to_string();
        assert!(err.contains("`method`") && err.contains("hutchinson"), "{err}");
    }

    #[test]
    fn truncated_file_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let rows = vec![TraceRow {
            settings_id: "abc".into(),
            step: 0,
            method: TraceMethod::Hutchinson,
            estimate: 1.0,
            std_error: 0.1,
            probes: 3,
            converged: true,
            hvps: 3,
            seconds: 0.0,
            half_width_95: 0.43,
        }];
        write_rows(&path, &id, &rows).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_rows::<TraceRow>(&path).unwrap_err().to_string();
        assert!(err.contains("t.parquet") && err.contains("truncated"), "{err}");
    }
}
