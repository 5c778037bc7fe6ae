//! Loss-landscape files (`hx-landscape`): one folder per surface under a
//! run's `landscape/`, holding the grid's rows, the directions that span it,
//! the resolved settings, per-process shards, figures and VTK exports.
//!
//! A surface's folder is named after the surface, and every row carries the
//! fingerprint of the settings and directions it was computed with, so a
//! surface made with other settings lives beside the old one instead of
//! overwriting it, and shards made with other directions are recognised.

use std::fs;
use std::path::{Path, PathBuf};

use crate::layout::{RunDir, subdirs};
use crate::{Error, Result, row_type};

impl RunDir {
    /// The folder of the loss surface called `name` (under `landscape/`).
    pub fn landscape(&self, name: &str) -> LandscapeDir {
        LandscapeDir { root: self.landscape_dir().join(name) }
    }
    /// Every surface of the run (folders under `landscape/` with a
    /// `settings.toml`), ordered by name; empty when there are none.
    pub fn landscapes(&self) -> Result<Vec<LandscapeDir>> {
        // Folder names sort as the surfaces' names.
        Ok(subdirs(&self.landscape_dir())?.into_iter().map(|root| LandscapeDir { root }).filter(|s| s.settings().is_file()).collect())
    }
}

/// One surface's folder, `RUN/landscape/<name>/`.
#[derive(Debug, Clone)]
pub struct LandscapeDir {
    root: PathBuf,
}

impl LandscapeDir {
    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The surface's name (the folder's last component).
    pub fn name(&self) -> String {
        self.root.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
    /// Resolved settings the surface was computed with (TOML).
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.toml")
    }
    /// The grid: one [`SurfaceRow`] per point and split.
    pub fn surface(&self) -> PathBuf {
        self.root.join("surface.parquet")
    }
    /// The directions spanning the surface ([`DirectionRow`]).
    pub fn directions(&self) -> PathBuf {
        self.root.join("directions.parquet")
    }
    /// Folder of shard tables (`--shard i/n`), merged into [`LandscapeDir::surface`].
    pub fn shards_dir(&self) -> PathBuf {
        self.root.join("shards")
    }
    /// The rows of shard `index` of `count`.
    pub fn shard(&self, index: usize, count: usize) -> PathBuf {
        self.shards_dir().join(format!("shard-{index:04}-of-{count:04}.parquet"))
    }
    /// Parse a shard file name back into `(index, count)`.
    pub fn parse_shard_name(path: &Path) -> Option<(usize, usize)> {
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_prefix("shard-")?.strip_suffix(".parquet")?;
        let (i, n) = rest.split_once("-of-")?;
        Some((i.parse().ok()?, n.parse().ok()?))
    }
    /// Largest and smallest Hessian eigenvalue at each grid point ([`CurvatureRow`]).
    pub fn curvature(&self) -> PathBuf {
        self.root.join("curvature.parquet")
    }
    /// Projected checkpoints of a trajectory ([`TrajectoryRow`]).
    pub fn trajectory(&self) -> PathBuf {
        self.root.join("trajectory.parquet")
    }
    /// Figures of this surface.
    pub fn plots_dir(&self) -> PathBuf {
        self.root.join("plots")
    }
    /// The stems of the figures drawn so far (`plots/<stem>.png`), ordered by name.
    pub fn figure_stems(&self) -> Result<Vec<String>> {
        let dir = self.plots_dir();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            if path.extension().is_some_and(|e| e == "png")
                && let Some(stem) = path.file_stem()
            {
                out.push(stem.to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }
    /// A figure's PNG (`plots/<stem>.png`).
    pub fn figure_png(&self, stem: &str) -> PathBuf {
        self.plots_dir().join(format!("{stem}.png"))
    }
    /// This folder relative to the run directory (`landscape/<name>`), for reports.
    pub fn relative(&self) -> String {
        format!("landscape/{}", self.name())
    }
    /// The table behind the figure `stem`, relative to the run directory
    /// (`landscape/<name>/curvature.parquet` for the curvature maps, else
    /// the surface table), for report captions.
    pub fn figure_table_relative(&self, stem: &str) -> String {
        let table = if stem.starts_with("curvature") { self.curvature() } else { self.surface() };
        let file = table.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        format!("{}/{file}", self.relative())
    }
    /// VTK PolyData export of one column of the surface (`<column>.vtp`).
    pub fn vtp(&self, column: &str) -> PathBuf {
        self.root.join(format!("{column}.vtp"))
    }
}

row_type! {
    /// One grid point of a loss surface on one data split (`landscape/<name>/surface.parquet`).
    pub struct SurfaceRow {
        /// Step of the checkpoint at the surface's origin (-1 for a model file outside the run).
        pub step: i64,
        /// Index of the point in the grid (row-major, x fastest).
        pub point: i64,
        /// Coordinate along the x direction.
        pub x: f64,
        /// Coordinate along the y direction (0 for a 1D surface).
        pub y: f64,
        /// `train` or `test` (the run's held-out split).
        pub split: String,
        /// Mean loss over the split's examples.
        pub loss: f64,
        /// Accuracy over the same examples.
        pub accuracy: f64,
        /// Examples the loss is taken over.
        pub examples: i64,
        /// Fingerprint of the settings and directions (see `settings.toml`).
        pub fingerprint: String,
    }
}

row_type! {
    /// One direction of a surface (`landscape/<name>/directions.parquet`), one per row as the
    /// eigenvector tables: a vector over every float tensor of the model in visiting order
    /// (trainable parameters and batch-norm running statistics).
    pub struct DirectionRow {
        /// Step of the checkpoint at the surface's origin.
        pub step: i64,
        /// `x` or `y`.
        pub axis: String,
        /// How it was made, e.g. `random seed=1 norm=filter ignore=biasbn`, `eigenvector rank=0`.
        pub source: String,
        /// Its Euclidean norm.
        pub norm: f64,
        /// Fingerprint of the surface's settings and directions.
        pub fingerprint: String,
        /// The direction.
        pub vector: Vec<f32>,
    }
}

row_type! {
    /// One checkpoint of a training trajectory projected on a surface's axes
    /// (`landscape/<name>/trajectory.parquet`).
    pub struct TrajectoryRow {
        /// The checkpoint's step.
        pub step: i64,
        /// Coordinate along x.
        pub x: f64,
        /// Coordinate along y.
        pub y: f64,
        /// Share of the trajectory's variance the x axis explains (PCA axes; NaN otherwise).
        pub explained_x: f64,
        /// Share the y axis explains.
        pub explained_y: f64,
        /// Fingerprint of the surface's settings and directions.
        pub fingerprint: String,
    }
}

row_type! {
    /// The extreme Hessian eigenvalues at one grid point (`landscape/<name>/curvature.parquet`),
    /// as the seed's `plot_hessian_eigen.py`: a flatness map of the surface.
    pub struct CurvatureRow {
        /// Step of the checkpoint at the surface's origin.
        pub step: i64,
        /// Index of the point in the grid.
        pub point: i64,
        /// Coordinate along x.
        pub x: f64,
        /// Coordinate along y.
        pub y: f64,
        /// Largest (algebraic) Hessian eigenvalue.
        pub lambda_max: f64,
        /// Smallest (algebraic) Hessian eigenvalue.
        pub lambda_min: f64,
        /// `|lambda_min / lambda_max|`: near 0 where the surface is convex along every direction.
        pub ratio: f64,
        /// Whether both eigenvalues met the Lanczos tolerance.
        pub converged: bool,
        /// Hessian-vector products used at this point.
        pub hvps: i64,
        /// Examples the Hessian is taken over.
        pub examples: i64,
        /// Fingerprint of the surface's settings and directions.
        pub fingerprint: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_round_trip() {
        let dir = RunDir::new("runs/a").landscape("s");
        let p = dir.shard(3, 12);
        assert_eq!(LandscapeDir::parse_shard_name(&p), Some((3, 12)));
        assert_eq!(LandscapeDir::parse_shard_name(&dir.surface()), None);
        assert!(p.starts_with("runs/a/landscape/s/shards"));
        assert_eq!(dir.name(), "s");
        assert_eq!(dir.relative(), "landscape/s");
        assert_eq!(dir.figure_table_relative("curvature_lambda_max"), "landscape/s/curvature.parquet");
        assert_eq!(dir.figure_table_relative("2d_contour_train_loss"), "landscape/s/surface.parquet");
    }

    #[test]
    fn surfaces_and_their_figures_are_listed_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path());
        assert!(run.landscapes().unwrap().is_empty());
        for name in ["b", "a"] {
            let s = run.landscape(name);
            crate::write_bytes_atomic(&s.settings(), b"x").unwrap();
            crate::write_bytes_atomic(&s.figure_png("2d_contour_train_loss"), b"png").unwrap();
            crate::write_bytes_atomic(&s.plots_dir().join("2d_contour_train_loss.svg"), b"svg").unwrap();
        }
        crate::write_bytes_atomic(&run.landscape("a").figure_png("1d_loss"), b"png").unwrap();
        // A folder without settings.toml (an interrupted first write) is not a surface.
        std::fs::create_dir_all(run.landscape_dir().join("c")).unwrap();
        let names: Vec<String> = run.landscapes().unwrap().iter().map(LandscapeDir::name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(run.landscape("a").figure_stems().unwrap(), ["1d_loss", "2d_contour_train_loss"]);
        assert!(run.landscape("c").figure_stems().unwrap().is_empty());
    }
}
