//! The schemas of every table a run writes. Each table is the identifying
//! columns of [`RunIdentity`] followed by the columns of one row type.

use std::path::Path;

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::column::{Column, batch_from_columns, read_column, read_parquet, write_parquet};
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
        /// Loss on the held-out split.
        pub heldout_loss: f64,
        /// Accuracy on the held-out split.
        pub heldout_accuracy: f64,
        /// Model record file, relative to the run directory.
        pub file: String,
        /// SHA-256 of the model record file.
        pub sha256: String,
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
        /// Seconds this step took (forward, backward, update).
        pub seconds: f64,
    }
}

row_type! {
    /// One Hessian eigenpair's value (`eigenvalues.parquet`).
    pub struct EigenvalueRow {
        /// Checkpoint step.
        pub step: i64,
        /// 0 for the largest eigenvalue, then descending.
        pub rank: u32,
        /// The eigenvalue estimate (Ritz value).
        pub eigenvalue: f64,
        /// `||H v - lambda v||` for the returned unit vector.
        pub residual: f64,
        /// Whether `residual <= tol * |eigenvalue|` was reached.
        pub converged: bool,
        /// Hessian-vector products the whole solve used.
        pub hvps: i64,
        /// `lanczos` or `power`.
        pub method: String,
        /// Wall-clock seconds of the whole solve.
        pub seconds: f64,
        /// Number of parameters the Hessian is taken over.
        pub num_params: i64,
    }
}

row_type! {
    /// One Hessian eigenvector (`eigenvectors/step-NNNNNNNN.parquet`).
    pub struct EigenvectorRow {
        /// Checkpoint step.
        pub step: i64,
        /// 0 for the largest eigenvalue, then descending.
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
        /// Checkpoint step.
        pub step: i64,
        /// `hutchinson`, `hutchpp` or `slq`.
        pub method: String,
        /// Estimate of tr(H).
        pub estimate: f64,
        /// Its standard error.
        pub std_error: f64,
        /// Random probes used.
        pub probes: i64,
        /// Hessian-vector products used.
        pub hvps: i64,
        /// Wall-clock seconds.
        pub seconds: f64,
    }
}

row_type! {
    /// One point of a smoothed spectral density (`density.parquet`).
    pub struct DensityRow {
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
        /// Checkpoint step.
        pub step: i64,
        /// Which random probe (0-based).
        pub probe: u32,
        /// Ritz value.
        pub node: f64,
        /// Squared first component of its Ritz vector.
        pub weight: f64,
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
            .map(|r| EigenvectorRow { step: 7, rank: r, eigenvalue: 1.5 - r as f64, vector: vec![r as f32, 0.5, -1.0] })
            .collect();
        write_rows(&path, &id, &rows).unwrap();
        let (back_id, back) = read_rows_with_identity::<EigenvectorRow>(&path).unwrap();
        assert_eq!(back, rows);
        assert_eq!(back_id, Some(id));
    }

    #[test]
    fn wrong_table_names_the_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let rows = vec![DensityRow { step: 0, lambda: 0.0, density: 1.0, sigma: 0.1 }];
        write_rows(&path, &id, &rows).unwrap();
        let err = read_rows::<TraceRow>(&path).unwrap_err().to_string();
        assert!(err.contains("trace.parquet") && err.contains("`method`"), "{err}");
    }

    #[test]
    fn truncated_file_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let id = RunIdentity::new("r", "mlp", "digits", "none", 0);
        let rows = vec![TraceRow { step: 0, method: "hutchinson".into(), estimate: 1.0, std_error: 0.1, probes: 3, hvps: 3, seconds: 0.0 }];
        write_rows(&path, &id, &rows).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_rows::<TraceRow>(&path).unwrap_err().to_string();
        assert!(err.contains("t.parquet") && err.contains("truncated"), "{err}");
    }
}
