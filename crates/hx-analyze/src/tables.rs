//! The tables behind the figures, written to `analysis/` so every number in
//! a plot can be re-read with Polars (`hx-query`) without re-running the
//! analysis. Each table carries the run's identity columns first, like the
//! run tables, so analyses of several runs concatenate.

use hessx_store::row_type;

row_type! {
    /// One principal component (`analysis/pca_variance.parquet`).
    pub struct PcaVarianceRow {
        /// Whether the mean eigenvector was removed first.
        pub centered: bool,
        /// Component number, 1 = most variance.
        pub component: u32,
        /// Variance along the component (sklearn's `explained_variance_`).
        pub explained_variance: f64,
        /// Fraction of the total variance.
        pub explained_variance_ratio: f64,
        /// Running total of the ratio.
        pub cumulative_ratio: f64,
    }
}

row_type! {
    /// One eigenvector projected on the first two components (`analysis/pca_projection.parquet`).
    pub struct PcaProjectionRow {
        /// Whether the mean eigenvector was removed first.
        pub centered: bool,
        /// Checkpoint step.
        pub step: i64,
        /// Eigenvector rank at that step.
        pub rank: u32,
        /// Its eigenvalue.
        pub eigenvalue: f64,
        /// Score on component 1.
        pub pc1: f64,
        /// Score on component 2 (0 when there is only one component).
        pub pc2: f64,
    }
}

row_type! {
    /// `|cos|` of one pair of eigenvectors (`analysis/cosine_similarity.parquet`).
    pub struct CosineRow {
        /// Step of the first vector.
        pub step_a: i64,
        /// Rank of the first vector.
        pub rank_a: u32,
        /// Step of the second vector.
        pub step_b: i64,
        /// Rank of the second vector.
        pub rank_b: u32,
        /// Absolute cosine similarity.
        pub abs_cosine: f64,
    }
}

row_type! {
    /// Overlap of the top-r subspaces of two checkpoints (`analysis/subspace_overlap.parquet`).
    pub struct OverlapRow {
        /// First checkpoint.
        pub step_a: i64,
        /// Second checkpoint.
        pub step_b: i64,
        /// `|step_b - step_a|`.
        pub step_distance: i64,
        /// Vectors of the first checkpoint used.
        pub r_a: u32,
        /// Vectors of the second checkpoint used.
        pub r_b: u32,
        /// Mean squared cosine of the principal angles, in [0, 1].
        pub overlap: f64,
    }
}

row_type! {
    /// Overlap against step distance (`analysis/overlap_vs_distance.parquet`).
    pub struct OverlapDistanceRow {
        /// Steps between the two checkpoints.
        pub step_distance: i64,
        /// Mean overlap over all pairs at this distance.
        pub mean_overlap: f64,
        /// Smallest overlap at this distance.
        pub min_overlap: f64,
        /// Largest overlap at this distance.
        pub max_overlap: f64,
        /// Number of checkpoint pairs.
        pub pairs: i64,
    }
}

row_type! {
    /// One point of a tracked eigenvector (`analysis/eigenvalues_tracked.parquet`).
    pub struct TrackedRow {
        /// Checkpoint step.
        pub step: i64,
        /// Track id (the rank where the direction was first seen).
        pub track: u32,
        /// Rank of the matched vector at this step.
        pub rank: u32,
        /// Its eigenvalue.
        pub eigenvalue: f64,
        /// `|cos|` with the track's previous vector (NaN at the track's start).
        pub abs_cosine_prev: f64,
        /// Whether the stored vector points opposite to its track's orientation
        /// (that of the track's first vector, carried along by continuity).
        pub flipped: bool,
    }
}

row_type! {
    /// One plotted point of a figure drawn straight from a run table
    /// (`analysis/figure_series.parquet`: eigenvalues, trace, loss, accuracy, density).
    pub struct FigureSeriesRow {
        /// Figure file stem, e.g. `trace`.
        pub figure: String,
        /// Series (legend entry), e.g. `hutchinson`.
        pub series: String,
        /// What x is, e.g. `step`.
        pub x_name: String,
        /// x value.
        pub x: f64,
        /// What y is, e.g. `trace`.
        pub y_name: String,
        /// y value.
        pub y: f64,
        /// Error bar half-length (NaN when the figure has none).
        pub y_err: f64,
    }
}

row_type! {
    /// One cell of the spectral-density heatmap (`analysis/density_heatmap.parquet`):
    /// every checkpoint's density resampled on one shared eigenvalue grid.
    pub struct DensityGridRow {
        /// Checkpoint step (a heatmap row).
        pub step: i64,
        /// Eigenvalue at the centre of the cell (a heatmap column).
        pub lambda: f64,
        /// log10 of the density there, interpolated linearly between the
        /// checkpoint's own grid points and floored ten decades below the
        /// peak (outside a checkpoint's range: the floor).
        pub log10_density: f64,
    }
}

row_type! {
    /// Both ends of the spectrum at one checkpoint (`analysis/negative_curvature.parquet`), written when
    /// `hx-eigen --which smallest|both` computed the bottom end.
    pub struct NegativeCurvatureRow {
        /// Checkpoint step.
        pub step: i64,
        /// Largest eigenvalue (top rank 0; NaN when only the bottom end was computed).
        pub lambda_max: f64,
        /// Smallest eigenvalue (bottom rank 0): negative where the loss curves down.
        pub lambda_min: f64,
        /// `|lambda_min| / lambda_max`: how strong the negative curvature is against the sharpest direction.
        pub ratio: f64,
    }
}
