//! Robustness-sweep files (`hx-robustness`): one folder per sweep under a
//! run's `robustness/`, named after the fingerprint of its settings (or
//! `--name`), holding one table per cell (corruption x severity, plus clean)
//! in each of `cells/`, `eigenvalues/` and `density/`, the correlations
//! between accuracy and curvature, figures and a page.
//!
//! A cell's three tables carry the cell's corruption and severity in the
//! identity columns, so the tables of every cell (and of every sweep)
//! concatenate into one: `hx-query` registers them as `robustness_cells`,
//! `robustness_eigenvalues` and `robustness_density`. A cell is finished
//! when its `cells/` table exists (written last), which is what makes a
//! killed sweep resume cell by cell and lets processes (`--shard i/n`)
//! share a sweep without writing to the same file.

use std::fs;
use std::path::{Path, PathBuf};

use crate::layout::{RunDir, subdirs};
use crate::{Error, Result, row_type};

impl RunDir {
    /// The folder of robustness sweeps, `robustness/`.
    pub fn robustness_dir(&self) -> PathBuf {
        self.root().join("robustness")
    }
    /// The folder of the sweep called `name`.
    pub fn robustness(&self, name: &str) -> SweepDir {
        SweepDir { root: self.robustness_dir().join(name) }
    }
    /// Every sweep of the run (folders under `robustness/` with a
    /// `settings.toml`), ordered by name; empty when there are none.
    pub fn robustness_sweeps(&self) -> Result<Vec<SweepDir>> {
        Ok(subdirs(&self.robustness_dir())?.into_iter().map(|root| SweepDir { root }).filter(|s| s.settings().is_file()).collect())
    }
}

/// One sweep's folder, `RUN/robustness/<name>/`.
#[derive(Debug, Clone)]
pub struct SweepDir {
    root: PathBuf,
}

impl SweepDir {
    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The sweep's name (the folder's last component).
    pub fn name(&self) -> String {
        self.root.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
    /// Resolved settings of the sweep (TOML).
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.toml")
    }
    /// The file stem of a cell: `clean`, or `<corruption>-s<severity>`.
    pub fn cell_stem(corruption: &str, severity: u8) -> String {
        if corruption == "none" { "clean".to_owned() } else { format!("{corruption}-s{severity}") }
    }
    /// Folder of the per-cell [`CellRow`] tables.
    pub fn cells_dir(&self) -> PathBuf {
        self.root.join("cells")
    }
    /// Folder of the per-cell [`CellEigenvalueRow`] tables.
    pub fn eigenvalues_dir(&self) -> PathBuf {
        self.root.join("eigenvalues")
    }
    /// Folder of the per-cell [`CellDensityRow`] tables.
    pub fn density_dir(&self) -> PathBuf {
        self.root.join("density")
    }
    /// Accuracy, loss and curvature summary of one cell (written last: it marks the cell done).
    pub fn cell(&self, corruption: &str, severity: u8) -> PathBuf {
        self.cells_dir().join(format!("{}.parquet", Self::cell_stem(corruption, severity)))
    }
    /// The top eigenpairs' values of one cell.
    pub fn cell_eigenvalues(&self, corruption: &str, severity: u8) -> PathBuf {
        self.eigenvalues_dir().join(format!("{}.parquet", Self::cell_stem(corruption, severity)))
    }
    /// The smoothed spectral density of one cell.
    pub fn cell_density(&self, corruption: &str, severity: u8) -> PathBuf {
        self.density_dir().join(format!("{}.parquet", Self::cell_stem(corruption, severity)))
    }
    /// Every table in `dir` (one of the three folders), ordered by name.
    pub fn tables_in(dir: &Path) -> Result<Vec<PathBuf>> {
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }
    /// Rank correlations between accuracy drop and each curvature measure ([`CorrelationRow`]).
    pub fn correlations(&self) -> PathBuf {
        self.root.join("correlations.parquet")
    }
    /// Figures of the sweep.
    pub fn plots_dir(&self) -> PathBuf {
        self.root.join("plots")
    }
    /// The sweep's page: figures, captions and the correlation table.
    pub fn page(&self) -> PathBuf {
        self.root.join("robustness.html")
    }
}

row_type! {
    /// One cell of a sweep (`robustness/<name>/cells/<cell>.parquet`): the model's accuracy and loss on
    /// the corrupted data and the curvature of that loss at the same weights. The corruption and severity
    /// are the identity columns (`none`, 0 for the clean cell).
    pub struct CellRow {
        /// Fingerprint of the sweep's settings.
        pub settings_id: String,
        /// Step of the checkpoint evaluated.
        pub step: i64,
        /// Where the cell's images came from: `clean`, `computed` (hessx's corruption) or `archive` (CIFAR-10-C).
        pub source: String,
        /// Optimiser steps of fine-tuning on the cell's data before it was measured (0: the trained weights).
        pub finetune_steps: i64,
        /// Examples accuracy and loss are taken over.
        pub examples: i64,
        /// Fraction of them classified correctly.
        pub accuracy: f64,
        /// Mean cross-entropy over them.
        pub loss: f64,
        /// Examples the Hessian is taken over (a seeded subset of the same images, the same in every cell).
        pub hessian_examples: i64,
        /// Parameters the Hessian is taken over.
        pub num_params: i64,
        /// Largest Hessian eigenvalue.
        pub lambda_max: f64,
        /// Its explicit residual `||H v - lambda v||`.
        pub lambda_max_residual: f64,
        /// Trace estimate (one-pass: Krylov-space trace plus Hutchinson on the complement).
        pub trace: f64,
        /// Its standard error.
        pub trace_std_error: f64,
        /// Hutchinson probes behind the standard error.
        pub trace_probes: i64,
        /// Half-width of the trace's 95 % interval `trace +- trace_half_width_95` (Student's t for
        /// `trace_probes - 1` degrees of freedom times the standard error). Absent in cells written
        /// before it: NaN.
        pub trace_half_width_95: f64 = f64::NAN,
        /// Share of the smoothed spectral density's mass on negative eigenvalues.
        pub negative_mass: f64,
        /// Hessian-vector products the cell used.
        pub hvps: i64,
        /// Wall-clock seconds of the cell (data, evaluation and curvature).
        pub seconds: f64,
    }
}

row_type! {
    /// One of a cell's top Hessian eigenvalues (`robustness/<name>/eigenvalues/<cell>.parquet`).
    pub struct CellEigenvalueRow {
        /// Fingerprint of the sweep's settings.
        pub settings_id: String,
        /// 0 for the largest.
        pub rank: u32,
        /// The eigenvalue.
        pub eigenvalue: f64,
        /// Explicit residual `||H v - lambda v||`.
        pub residual: f64,
        /// Whether `residual <= tol * |eigenvalue|`.
        pub converged: bool,
    }
}

row_type! {
    /// One point of a cell's smoothed spectral density (`robustness/<name>/density/<cell>.parquet`).
    pub struct CellDensityRow {
        /// Fingerprint of the sweep's settings.
        pub settings_id: String,
        /// Eigenvalue axis.
        pub lambda: f64,
        /// Density at `lambda` (integrates to 1 over the grid).
        pub density: f64,
        /// Gaussian kernel width.
        pub sigma: f64,
    }
}

row_type! {
    /// Spearman's rank correlation between a cell's accuracy drop (clean accuracy minus the cell's) and
    /// one curvature measure over the corrupted cells (`robustness/<name>/correlations.parquet`).
    pub struct CorrelationRow {
        /// Fingerprint of the sweep's settings.
        pub settings_id: String,
        /// `lambda_max`, `trace` or `negative_mass`, each as the change from the clean cell.
        pub measure: String,
        /// Corrupted cells in the correlation.
        pub cells: i64,
        /// Spearman's rho.
        pub spearman: f64,
        /// Lower end of its 95% interval (Fisher z with the Bonett-Wright variance).
        pub ci_low: f64,
        /// Upper end of its 95% interval.
        pub ci_high: f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_files_are_named_by_corruption_and_severity() {
        let sweep = RunDir::new("runs/a").robustness("abc");
        assert_eq!(sweep.cell("none", 0), Path::new("runs/a/robustness/abc/cells/clean.parquet"));
        assert_eq!(sweep.cell_density("fog", 3), Path::new("runs/a/robustness/abc/density/fog-s3.parquet"));
        assert_eq!(sweep.cell_eigenvalues("fog", 3), Path::new("runs/a/robustness/abc/eigenvalues/fog-s3.parquet"));
        assert!(SweepDir::tables_in(Path::new("/nonexistent")).unwrap().is_empty());
    }
}
