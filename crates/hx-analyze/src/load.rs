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
    if let Some(rows) = data.eigenvalues.take() {
        let (kept, dropped) = one_method_per_step(rows);
        if !dropped.is_empty() {
            m.push(format!("eigenvalues.parquet also holds {} (one method per checkpoint is shown)", dropped.join(", ")));
        }
        data.eigenvalues = Some(kept);
    }
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

/// Several solvers may have written eigenvalues for the same checkpoint
/// (`hx-eigen --method lanczos|power`, `hx-spectrum --one-pass`). Curves
/// show one per checkpoint: the most accurate available (Lanczos, then power
/// iteration, then the one-pass Ritz values). Returns the rows kept and the
/// names of the methods left out somewhere.
fn one_method_per_step(rows: Vec<EigenvalueRow>) -> (Vec<EigenvalueRow>, Vec<String>) {
    let preference = |m: &str| match m {
        "lanczos" => 0,
        "power" => 1,
        "one-pass" => 2,
        _ => 3,
    };
    let mut best: BTreeMap<i64, &str> = BTreeMap::new();
    for r in &rows {
        let slot = best.entry(r.step).or_insert(r.method.as_str());
        if preference(&r.method) < preference(slot) {
            *slot = r.method.as_str();
        }
    }
    let best: BTreeMap<i64, String> = best.into_iter().map(|(s, m)| (s, m.to_owned())).collect();
    let mut dropped: Vec<String> = Vec::new();
    let kept = rows
        .into_iter()
        .filter(|r| {
            let keep = best[&r.step] == r.method;
            if !keep && !dropped.contains(&r.method) {
                dropped.push(r.method.clone());
            }
            keep
        })
        .collect();
    (kept, dropped)
}

#[cfg(test)]
mod method_tests {
    use super::*;

    fn row(step: i64, rank: u32, method: &str) -> EigenvalueRow {
        EigenvalueRow {
            step,
            rank,
            eigenvalue: 1.0,
            residual: 0.0,
            converged: true,
            hvps: 1,
            method: method.into(),
            seconds: 0.0,
            num_params: 3,
        }
    }

    #[test]
    fn keeps_the_best_method_of_each_step() {
        let rows = vec![row(0, 0, "one-pass"), row(0, 0, "lanczos"), row(1, 0, "one-pass"), row(1, 1, "one-pass")];
        let (kept, dropped) = one_method_per_step(rows);
        let got: Vec<(i64, &str)> = kept.iter().map(|r| (r.step, r.method.as_str())).collect();
        assert_eq!(got, [(0, "lanczos"), (1, "one-pass"), (1, "one-pass")]);
        assert_eq!(dropped, ["one-pass"]);
    }
}
