//! File names: the layout of a run directory and of the data directory. No
//! other crate builds these paths.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A run directory: checkpoints, curvature tables, analysis, plots, report.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (not created until something is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The run's name: the directory's last component.
    pub fn name(&self) -> String {
        self.root.file_name().map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned())
    }
    /// Directory of model (and optimiser) records.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// Model record of the checkpoint at `step` (burn's named MessagePack format).
    pub fn checkpoint_model(&self, step: i64) -> PathBuf {
        self.checkpoints_dir().join(format!("step-{step:08}.mpk"))
    }
    /// Optimiser record of the checkpoint at `step`, for resuming.
    pub fn checkpoint_optimizer(&self, step: i64) -> PathBuf {
        self.checkpoints_dir().join(format!("step-{step:08}.optim.mpk"))
    }
    /// Trainer state (step, epoch, RNG position) of the checkpoint at `step`, for resuming.
    pub fn checkpoint_state(&self, step: i64) -> PathBuf {
        self.checkpoints_dir().join(format!("step-{step:08}.state.json"))
    }
    /// Index of all checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints.parquet")
    }
    /// Per-batch training log.
    pub fn train_log(&self) -> PathBuf {
        self.root.join("train_log.parquet")
    }
    /// Top Hessian eigenvalues per checkpoint.
    pub fn eigenvalues(&self) -> PathBuf {
        self.root.join("eigenvalues.parquet")
    }
    /// Directory of eigenvector tables: one folder per settings fingerprint,
    /// one table per checkpoint in it.
    pub fn eigenvectors_dir(&self) -> PathBuf {
        self.root.join("eigenvectors")
    }
    /// Eigenvectors of the checkpoint at `step` computed with the settings
    /// `settings_id`. Kept apart per settings so that, say, Lanczos and
    /// power-iteration vectors of one checkpoint never overwrite each other.
    pub fn eigenvectors(&self, settings_id: &str, step: i64) -> PathBuf {
        self.eigenvectors_dir().join(settings_id).join(format!("step-{step:08}.parquet"))
    }
    /// Bottom-end eigenvectors (`hx-eigen --which smallest|both`) of the
    /// checkpoint at `step`: in a folder of their own under the settings'
    /// folder, so [`RunDir::eigenvector_tables`] (the top vectors every
    /// analysis uses) never lists them.
    pub fn bottom_eigenvectors(&self, settings_id: &str, step: i64) -> PathBuf {
        self.eigenvectors_dir().join(settings_id).join("bottom").join(format!("step-{step:08}.parquet"))
    }
    /// Every bottom-end eigenvector table of the run as `(settings id, step,
    /// path)`, ordered as [`RunDir::eigenvector_tables`].
    pub fn bottom_eigenvector_tables(&self) -> Result<Vec<(String, i64, PathBuf)>> {
        let mut out = Vec::new();
        for dir in subdirs(&self.eigenvectors_dir())? {
            let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.extend(step_tables(&dir.join("bottom"))?.into_iter().map(|(step, path)| (id.clone(), step, path)));
        }
        out.sort();
        Ok(out)
    }
    /// Every eigenvector table of the run as `(settings id, step, path)`,
    /// ordered by settings id then step; empty when there are none. Files of
    /// interrupted writes (`.*.tmp`) are not listed.
    pub fn eigenvector_tables(&self) -> Result<Vec<(String, i64, PathBuf)>> {
        let mut out = Vec::new();
        for dir in subdirs(&self.eigenvectors_dir())? {
            let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.extend(step_tables(&dir)?.into_iter().map(|(step, path)| (id.clone(), step, path)));
        }
        out.sort();
        Ok(out)
    }
    /// The resolved settings of every curvature computation, keyed by fingerprint.
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.parquet")
    }
    /// Hessian trace estimates per checkpoint.
    pub fn trace(&self) -> PathBuf {
        self.root.join("trace.parquet")
    }
    /// Smoothed spectral density per checkpoint.
    pub fn density(&self) -> PathBuf {
        self.root.join("density.parquet")
    }
    /// Gauss quadrature nodes and weights of the stochastic Lanczos runs.
    pub fn quadrature(&self) -> PathBuf {
        self.root.join("lanczos_nodes.parquet")
    }
    /// Tables behind the analysis figures.
    pub fn analysis_dir(&self) -> PathBuf {
        self.root.join("analysis")
    }
    /// One table behind the analysis figures, e.g. `pca_variance`.
    pub fn analysis_table(&self, name: &str) -> PathBuf {
        self.analysis_dir().join(format!("{name}.parquet"))
    }
    /// `analysis_table(name)` relative to the run directory, for reports.
    pub fn analysis_table_relative(name: &str) -> String {
        format!("analysis/{name}.parquet")
    }
    /// Figures (PNG and SVG).
    pub fn plots_dir(&self) -> PathBuf {
        self.root.join("plots")
    }
    /// The self-contained HTML report.
    pub fn report(&self) -> PathBuf {
        self.root.join("report.html")
    }
    /// Loss-landscape tables and figures.
    pub fn landscape_dir(&self) -> PathBuf {
        self.root.join("landscape")
    }
    /// Folder of the resolved configurations saved beside the outputs.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }
    /// The resolved configuration a stage ran with, saved beside its outputs
    /// (`hx-train`'s, which a run has one of).
    pub fn stage_config(&self, stage: &str) -> PathBuf {
        self.config_dir().join(format!("{stage}.toml"))
    }
    /// The resolved settings of one curvature computation, by fingerprint
    /// (a stage may run with many settings over one run).
    pub fn settings_config(&self, stage: &str, settings_id: &str) -> PathBuf {
        self.config_dir().join(format!("{stage}-{settings_id}.toml"))
    }
    /// The saved configurations (`config/*.toml`), ordered by name.
    pub fn configs(&self) -> Result<Vec<PathBuf>> {
        let dir = self.config_dir();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }
    /// The run directory a checkpoint file of it lives in
    /// (`RUN/checkpoints/step-N.mpk` -> `RUN`); `None` for a path not shaped so.
    pub fn of_checkpoint(path: &Path) -> Option<RunDir> {
        let dir = path.parent()?;
        if dir.file_name()? != "checkpoints" {
            return None;
        }
        Some(RunDir::new(dir.parent()?))
    }
}

/// The `step-N.parquet` files directly in `dir` (none when it does not
/// exist) as `(step, path)`; folders and `.*.tmp` leftovers are not tables.
fn step_tables(dir: &Path) -> Result<Vec<(i64, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let step = name.strip_prefix("step-").and_then(|n| n.strip_suffix(".parquet")).and_then(|n| n.parse().ok());
        if let Some(step) = step.filter(|_| path.is_file()) {
            out.push((step, path));
        }
    }
    Ok(out)
}

/// Sub-folders of `dir` (none when it does not exist), ordered by name.
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The data directory: one folder per dataset with Parquet tables and a manifest.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (usually `data/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Folder of one dataset.
    pub fn dataset(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    /// A split of a dataset: `train`/`test` of the clean data, or of a
    /// corrupted variant when `corruption` is given with its severity.
    pub fn table(&self, name: &str, split: &str, corruption: Option<(&str, u8)>) -> PathBuf {
        let file = match corruption {
            None => format!("{split}.parquet"),
            Some((c, s)) => format!("{split}-{c}-{s}.parquet"),
        };
        self.dataset(name).join(file)
    }
    /// The dataset's manifest (row counts and checksums of its tables).
    pub fn manifest(&self, name: &str) -> PathBuf {
        self.dataset(name).join("manifest.json")
    }
    /// Where downloaded archives are kept (git-ignored).
    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvector_tables_are_listed_per_settings_and_step() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        for (id, step) in [("bbb", 20), ("aaa", 10), ("aaa", 0)] {
            crate::write_bytes_atomic(&run.eigenvectors(id, step), b"x").unwrap();
        }
        // Leftovers of an interrupted write are not tables.
        std::fs::write(run.eigenvectors_dir().join("aaa").join(".step-00000030.parquet.7.tmp"), b"x").unwrap();
        let listed: Vec<(String, i64)> = run.eigenvector_tables().unwrap().into_iter().map(|(id, s, _)| (id, s)).collect();
        assert_eq!(listed, [("aaa".into(), 0), ("aaa".into(), 10), ("bbb".into(), 20)]);
        assert!(RunDir::new(dir.path().join("none")).eigenvector_tables().unwrap().is_empty());
    }

    #[test]
    fn bottom_eigenvectors_are_listed_apart_from_the_top() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        crate::write_bytes_atomic(&run.eigenvectors("aaa", 10), b"x").unwrap();
        crate::write_bytes_atomic(&run.bottom_eigenvectors("aaa", 10), b"x").unwrap();
        crate::write_bytes_atomic(&run.bottom_eigenvectors("bbb", 0), b"x").unwrap();
        assert!(run.bottom_eigenvectors("aaa", 10).ends_with("eigenvectors/aaa/bottom/step-00000010.parquet"));
        let top: Vec<(String, i64)> = run.eigenvector_tables().unwrap().into_iter().map(|(id, s, _)| (id, s)).collect();
        assert_eq!(top, [("aaa".into(), 10)], "the top listing never holds bottom vectors");
        let bottom: Vec<(String, i64)> =
            run.bottom_eigenvector_tables().unwrap().into_iter().map(|(id, s, _)| (id, s)).collect();
        assert_eq!(bottom, [("aaa".into(), 10), ("bbb".into(), 0)]);
    }

    #[test]
    fn a_checkpoint_file_names_its_run() {
        let run = RunDir::new("runs/a");
        assert_eq!(RunDir::of_checkpoint(&run.checkpoint_model(4)).unwrap().root(), Path::new("runs/a"));
        assert!(RunDir::of_checkpoint(Path::new("weights/resnet20.mpk")).is_none());
    }
}
