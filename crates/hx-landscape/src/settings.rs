//! The resolved settings of a surface and their fingerprint.
//!
//! Everything that changes a number of the surface is here (the origin's
//! file and checksum, how each direction was made, the grid, the data, the
//! loss); the fingerprint hashes these settings together with the
//! directions' values and is written in every row. A re-run with the same
//! settings resumes; one with other settings under the same name is refused
//! (and by default gets another name), so no result is silently replaced.

use std::path::{Path, PathBuf};

use hessx_store::landscape::LandscapeDir;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directions::{DirType, Norm};
use crate::error::{Error, Result};
use crate::eval::{LossKind, Split};
use crate::grid::Grid;

/// The model at the surface's origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// Its checkpoint file.
    pub file: PathBuf,
    /// SHA-256 of that file.
    pub sha256: String,
    /// Its step in the run (-1 for a file outside the run's checkpoint table).
    pub step: i64,
    /// The model's name (`ModelSpec::name`).
    pub model: String,
}

/// How one axis's direction was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DirectionSource {
    /// N(0, 1) entries from a seeded stream, then normalised.
    Random {
        /// Seed of the stream.
        seed: u64,
        /// Normalisation against the weights.
        norm: Norm,
        /// Zero biases and batch-norm parameters.
        ignore_biasbn: bool,
    },
    /// The x direction again (`--same-dir`).
    SameAsX,
    /// A Hessian eigenvector saved by hx-eigen.
    Eigenvector {
        /// The eigenvector table.
        table: PathBuf,
        /// SHA-256 of the table.
        sha256: String,
        /// 0 for the largest eigenvalue.
        rank: u32,
        /// Its eigenvalue.
        eigenvalue: f64,
        /// Normalisation against the weights (`none` keeps the unit vector).
        norm: Norm,
        /// Zero biases and batch-norm parameters.
        ignore_biasbn: bool,
    },
    /// From the origin to a second model (`--model-file2`): x = 1 is that model.
    Interpolation {
        /// The second model's file.
        target: PathBuf,
        /// Its SHA-256.
        sha256: String,
    },
    /// A principal direction of the run's checkpoints minus the origin (`plot_trajectory.py`).
    Pca {
        /// 0 for the first component.
        component: usize,
        /// Steps of the checkpoints used.
        steps: Vec<i64>,
        /// Zero biases and batch-norm parameters before the PCA.
        ignore_biasbn: bool,
    },
}

impl DirectionSource {
    /// One line for the `source` column of the directions table.
    pub fn describe(&self) -> String {
        match self {
            DirectionSource::Random { seed, norm, ignore_biasbn } => {
                format!("random seed={seed} norm={}{}", norm.name(), if *ignore_biasbn { " ignore=biasbn" } else { "" })
            }
            DirectionSource::SameAsX => "same as x".into(),
            DirectionSource::Eigenvector { rank, eigenvalue, norm, .. } => {
                format!("hessian eigenvector rank={rank} eigenvalue={eigenvalue:.6} norm={}", norm.name())
            }
            DirectionSource::Interpolation { target, .. } => format!("interpolation to {}", target.display()),
            DirectionSource::Pca { component, steps, .. } => format!("pca component {component} of {} checkpoints", steps.len()),
        }
    }
}

/// Which examples the loss is taken over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSettings {
    /// Dataset name.
    pub dataset: String,
    /// Corruption (`none` for clean data).
    pub corruption: String,
    /// Corruption severity.
    pub severity: u8,
    /// Splits evaluated at every point.
    pub splits: Vec<Split>,
    /// Examples per split (a seeded subset), 0 for the whole split.
    pub examples: usize,
    /// Seed of the subset.
    pub seed: u64,
    /// Examples per forward pass.
    pub batch_size: usize,
}

/// Everything that determines the numbers of a surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurfaceSettings {
    /// The model at (0, 0).
    pub origin: Origin,
    /// Which tensors the directions span.
    pub dir_type: DirType,
    /// The x direction.
    pub x: DirectionSource,
    /// The y direction of a 2D surface.
    pub y: Option<DirectionSource>,
    /// The grid.
    pub grid: Grid,
    /// The data.
    pub data: DataSettings,
    /// The loss.
    pub loss: LossKind,
    /// Settings of the curvature map, when one is computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curvature: Option<crate::curvature::CurvatureConfig>,
}

/// The settings file: settings, fingerprint, and how the run was made
/// (backend: not part of the fingerprint).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSettings {
    /// Hash of the settings and the directions' values.
    pub fingerprint: String,
    /// Backend of the first process that computed points.
    pub backend: String,
    /// The settings.
    pub settings: SurfaceSettings,
}

/// The fingerprint of `settings` with directions `directions`: 16 hex digits of SHA-256.
pub fn fingerprint(settings: &SurfaceSettings, directions: &[&[f32]]) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(settings).expect("settings serialise to JSON"));
    for d in directions {
        for v in d.iter() {
            h.update(v.to_le_bytes());
        }
    }
    hex::encode(h.finalize())[..16].to_owned()
}

/// Record `saved` in `dir`, or check it against what is there: the same
/// fingerprint resumes; anything else is refused with the differences.
pub fn record_or_check(dir: &LandscapeDir, saved: &SavedSettings) -> Result<()> {
    let path = dir.settings();
    if path.exists() {
        let old = read_settings(&path)?;
        if old.fingerprint == saved.fingerprint {
            return Ok(());
        }
        let diff = differences(&old.settings, &saved.settings);
        return Err(Error::mismatch(
            &path,
            format!(
                "surface `{}` was computed with other settings or directions (fingerprint {} here, {} now; differs in: {}); \
                 leave out --name to get a new surface beside it, or delete {} to recompute",
                dir.name(),
                old.fingerprint,
                saved.fingerprint,
                if diff.is_empty() { "the directions' values".into() } else { diff.join(", ") },
                dir.root().display()
            ),
        ));
    }
    let text = toml::to_string_pretty(saved).map_err(|e| Error::Input(format!("cannot serialise the settings: {e}")))?;
    hessx_store::write_bytes_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// Read a surface's settings file.
pub fn read_settings(path: &Path) -> Result<SavedSettings> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::mismatch(path, format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| Error::mismatch(path, format!("not a surface settings file this version understands: {e}")))
}

/// Top-level settings fields whose values differ.
fn differences(a: &SurfaceSettings, b: &SurfaceSettings) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a).expect("json"), serde_json::to_value(b).expect("json"));
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return Vec::new() };
    a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))).filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}
