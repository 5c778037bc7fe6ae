//! File names: the layout of a run directory and of the data directory. No
//! other crate builds these paths.

use std::path::{Path, PathBuf};

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
    /// Directory of eigenvector tables, one per checkpoint.
    pub fn eigenvectors_dir(&self) -> PathBuf {
        self.root.join("eigenvectors")
    }
    /// Eigenvectors of the checkpoint at `step`.
    pub fn eigenvectors(&self, step: i64) -> PathBuf {
        self.eigenvectors_dir().join(format!("step-{step:08}.parquet"))
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
    /// The resolved configuration a stage ran with, saved beside its outputs.
    pub fn stage_config(&self, stage: &str) -> PathBuf {
        self.root.join("config").join(format!("{stage}.toml"))
    }
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
