//! Reading a run directory: every table the analysis can use, each one
//! optional, so a run with eigenvectors but no trace (or the reverse) still
//! gets a report that says what is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hessx_store::tables::{
    CheckpointRow, DensityRow, EigenvalueRow, EigenvectorRow, Row, TraceRow, TrainLogRow,
    read_rows_with_identity,
};
use hessx_store::{RunDir, RunIdentity};
use tracing::info;

use crate::{Error, Result};

/// The eigenvectors of one checkpoint, ordered by rank.
#[derive(Debug, Clone)]
pub struct EigenBlock {
    /// Checkpoint step.
    pub step: i64,
    /// Rank of each vector (0 = largest eigenvalue).
    pub ranks: Vec<u32>,
    /// Eigenvalue of each vector.
    pub eigenvalues: Vec<f64>,
    /// Unit vectors over all parameters.
    pub vectors: Vec<Vec<f32>>,
}

/// Everything the analysis reads from a run directory.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// The identifying columns of the first table read.
    pub identity: Option<RunIdentity>,
    /// Eigenvectors per checkpoint, ordered by step.
    pub blocks: Vec<EigenBlock>,
    /// `eigenvalues.parquet`.
    pub eigenvalues: Option<Vec<EigenvalueRow>>,
    /// `trace.parquet`.
    pub trace: Option<Vec<TraceRow>>,
    /// `density.parquet`.
    pub density: Option<Vec<DensityRow>>,
    /// `checkpoints.parquet`.
    pub checkpoints: Option<Vec<CheckpointRow>>,
    /// `train_log.parquet`.
    pub train_log: Option<Vec<TrainLogRow>>,
    /// `config/*.toml` as `(file name, text)`, ordered by name.
    pub configs: Vec<(String, String)>,
    /// Tables that were absent, as sentences for the report.
    pub missing: Vec<String>,
}

impl RunData {
    /// Total number of eigenvectors over all checkpoints.
    pub fn num_vectors(&self) -> usize {
        self.blocks.iter().map(|b| b.vectors.len()).sum()
    }
    /// Length of the eigenvectors (number of parameters), if any were read.
    pub fn dim(&self) -> Option<usize> {
        self.blocks
            .iter()
            .flat_map(|b| b.vectors.first())
            .map(Vec::len)
            .next()
    }
}

fn optional<R: Row>(
    path: &Path,
    what: &str,
    missing: &mut Vec<String>,
    id: &mut Option<RunIdentity>,
) -> Result<Option<Vec<R>>> {
    if !path.exists() {
        missing.push(format!(
            "{} is absent: {what}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        return Ok(None);
    }
    let (table_id, rows) = read_rows_with_identity::<R>(path)?;
    if id.is_none() {
        *id = table_id;
    }
    info!(table = %path.display(), rows = rows.len(), "read");
    Ok(Some(rows))
}

/// The `eigenvectors/step-*.parquet` files of `run`, in file-name (= step) order.
fn eigenvector_files(run: &RunDir) -> Result<Vec<PathBuf>> {
    let dir = run.eigenvectors_dir();
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("step-") && name.ends_with(".parquet")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Read every table of `run` that exists.
pub fn load(run: &RunDir) -> Result<RunData> {
    if !run.root().is_dir() {
        return Err(Error::NoRunDir(run.root().to_owned()));
    }
    let mut data = RunData::default();
    let mut dim: Option<usize> = None;
    // Rows grouped by step: a file normally holds one checkpoint, but
    // grouping by the step column keeps a merged file working too.
    let mut by_step: BTreeMap<i64, Vec<EigenvectorRow>> = BTreeMap::new();
    let files = eigenvector_files(run)?;
    for path in &files {
        let (id, rows) = read_rows_with_identity::<EigenvectorRow>(path)?;
        if data.identity.is_none() {
            data.identity = id;
        }
        for row in rows {
            let expected = *dim.get_or_insert(row.vector.len());
            if row.vector.len() != expected {
                return Err(Error::VectorLength {
                    path: path.clone(),
                    expected,
                    found: row.vector.len(),
                });
            }
            by_step.entry(row.step).or_default().push(row);
        }
    }
    data.blocks = by_step
        .into_iter()
        .map(|(step, mut rows)| {
            rows.sort_by_key(|r| r.rank);
            EigenBlock {
                step,
                ranks: rows.iter().map(|r| r.rank).collect(),
                eigenvalues: rows.iter().map(|r| r.eigenvalue).collect(),
                vectors: rows.into_iter().map(|r| r.vector).collect(),
            }
        })
        .collect();
    if data.blocks.is_empty() {
        data.missing.push("eigenvectors/step-*.parquet are absent: no PCA, cosine similarity, subspace overlap or tracking".into());
    } else {
        info!(
            files = files.len(),
            checkpoints = data.blocks.len(),
            vectors = data.num_vectors(),
            dim = dim.unwrap_or(0),
            "eigenvectors read"
        );
    }
    let (m, id) = (&mut data.missing, &mut data.identity);
    data.eigenvalues = optional(
        &run.eigenvalues(),
        "eigenvalue curves use the eigenvector tables' eigenvalues",
        m,
        id,
    )?;
    data.trace = optional(&run.trace(), "no trace figure (run hx-spectrum)", m, id)?;
    data.density = optional(
        &run.density(),
        "no spectral density figure (run hx-spectrum)",
        m,
        id,
    )?;
    data.checkpoints = optional(
        &run.checkpoints(),
        "no per-checkpoint loss or accuracy",
        m,
        id,
    )?;
    data.train_log = optional(&run.train_log(), "no per-batch loss or accuracy", m, id)?;
    data.configs = read_configs(run)?;
    let nothing_else = [
        data.eigenvalues.is_none(),
        data.trace.is_none(),
        data.density.is_none(),
        data.checkpoints.is_none(),
        data.train_log.is_none(),
    ]
    .iter()
    .all(|&absent| absent);
    if data.blocks.is_empty() && nothing_else {
        return Err(Error::NothingToAnalyze(run.root().to_owned()));
    }
    Ok(data)
}

/// The resolved stage configurations saved beside the run's outputs.
fn read_configs(run: &RunDir) -> Result<Vec<(String, String)>> {
    let dir = run.root().join("config");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let path = entry.map_err(|e| Error::io(&dir, e))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            out.push((
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                text,
            ));
        }
    }
    out.sort();
    Ok(out)
}
