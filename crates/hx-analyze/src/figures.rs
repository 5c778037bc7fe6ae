//! Each figure of the report as a [`Chart`] plus the sentence that tells a
//! reader how to read it. Pure functions of the analysed data; drawing and
//! writing happen in [`crate::analyze`].

use std::collections::BTreeMap;

use hessx_plot::color::categorical;
use hessx_plot::{
    BarChart, Chart, Heatmap, LegendAt, LineChart, Mark, RGBColor, Scatter, ScatterPoint, Series,
    fmt_num,
};
use hessx_store::tables::{CheckpointRow, DensityRow, TraceRow, TrainLogRow};
use nalgebra::DMatrix;

use crate::load::BlockCurvature;
use crate::pca::Pca;
use crate::tracking::TrackPoint;

/// A chart and its one-sentence reading guide.
pub struct Figure {
    /// File stem under `plots/`.
    pub stem: &'static str,
    /// The chart.
    pub chart: Chart,
    /// How to read it.
    pub caption: String,
}

const STEP_AXIS: &str = "training step (optimiser updates since the start of fine-tuning)";
/// The most bars a variance chart shows; later components are in the table.
const MAX_BARS: usize = 40;

fn centring(pca: &Pca) -> &'static str {
    if pca.centered {
        "centred, depends on eigenvector signs"
    } else {
        "uncentred, sign-invariant"
    }
}

/// Explained variance ratio per principal component.
pub fn pca_variance(pca: &Pca) -> Figure {
    let shown = pca.ratio.len().min(MAX_BARS);
    let chart = Chart::Bar(BarChart {
        title: format!(
            "PCA of all Hessian eigenvectors ({}): variance per component",
            centring(pca)
        ),
        x_label: "principal component".into(),
        y_label: "fraction of variance explained".into(),
        bars: pca
            .ratio
            .iter()
            .take(shown)
            .enumerate()
            .map(|(i, &r)| ((i + 1) as f64, r))
            .collect(),
        color: categorical(0),
        bar_name: if shown < pca.ratio.len() {
            format!("first {shown} of {} components", pca.ratio.len())
        } else {
            "explained variance ratio".into()
        },
    });
    Figure {
        stem: "pca_variance",
        chart,
        caption: "Each bar is the share of the spread of all saved eigenvectors along one principal direction: a few tall \
                  bars mean the eigenvectors of all checkpoints live in a low-dimensional subspace."
            .into(),
    }
}

/// Cumulative explained variance with the 90 % line.
pub fn pca_cumulative(pca: &Pca) -> Figure {
    let mut c = LineChart::new(
        format!(
            "PCA of all Hessian eigenvectors ({}): cumulative variance",
            centring(pca)
        ),
        "number of principal components",
        "cumulative fraction of variance explained",
    );
    let pts = pca
        .cumulative
        .iter()
        .enumerate()
        .map(|(i, &v)| ((i + 1) as f64, v))
        .collect();
    c.series.push(Series::new(
        "cumulative explained variance",
        pts,
        categorical(0),
    ));
    c.hlines.push((0.9, "90 % of the variance".into()));
    c.legend = LegendAt::LowerRight;
    c.y_range = Some((0.0, 1.03));
    let n90 = pca
        .components_for(0.9)
        .map_or("-".into(), |k| k.to_string());
    Figure {
        stem: "pca_cumulative_variance",
        chart: Chart::Line(c),
        caption: format!(
            "Where the curve crosses the dashed line is how many directions hold 90 % of the eigenvectors' variance \
             (here {n90} of {}); compare it with the number of eigenvectors per checkpoint.",
            pca.ratio.len()
        ),
    }
}

/// Every eigenvector's projection on the first two components.
pub fn pca_projection(pca: &Pca, steps: &[i64], ranks: &[u32]) -> Figure {
    let pc2 = pca.scores.ncols() > 1;
    let points = (0..pca.scores.nrows())
        .map(|i| ScatterPoint {
            x: pca.scores[(i, 0)],
            y: if pc2 { pca.scores[(i, 1)] } else { 0.0 },
            value: steps[i] as f64,
            group: ranks[i] as usize,
        })
        .collect();
    let max_rank = ranks.iter().copied().max().unwrap_or(0) as usize;
    let pct = |c: usize| {
        pca.ratio.get(c).map_or(String::new(), |r| {
            format!(" ({:.1} % of variance)", 100.0 * r)
        })
    };
    let chart = Chart::Scatter(Scatter {
        title: format!(
            "Eigenvectors projected on the first two principal components ({})",
            centring(pca)
        ),
        x_label: format!("PC1 score{}", pct(0)),
        y_label: format!("PC2 score{}", pct(1)),
        points,
        groups: (0..=max_rank)
            .map(|r| format!("eigenvector rank {r}"))
            .collect(),
        colorbar_label: "training step".into(),
    });
    Figure {
        stem: "pca_projection",
        chart,
        caption: format!(
            "One marker per saved eigenvector, shaped by its rank and coloured by the step it was computed at: \
             markers of one rank that stay together across colours are directions that did not move during \
             fine-tuning.{}",
            if pca.centered {
                ""
            } else {
                " v and -v are the same eigenvector, so each is drawn with the sign that makes its PC1 score positive."
            }
        ),
    }
}

/// Labels `step:rank` for the rows of the cosine matrix.
fn vector_labels(steps: &[i64], ranks: &[u32]) -> Vec<String> {
    steps
        .iter()
        .zip(ranks)
        .map(|(s, r)| format!("{s}:{r}"))
        .collect()
}

/// |cos| between all eigenvectors as a heatmap.
pub fn cosine_similarity(cos: &DMatrix<f64>, steps: &[i64], ranks: &[u32]) -> Figure {
    let labels = vector_labels(steps, ranks);
    let separators = (1..steps.len())
        .filter(|&i| steps[i] != steps[i - 1])
        .collect();
    let chart = Chart::Heatmap(Heatmap {
        title: "|cosine similarity| between all Hessian eigenvectors".into(),
        x_label: "eigenvector (step:rank), ordered by step then rank".into(),
        y_label: "eigenvector (step:rank)".into(),
        values: (0..cos.nrows())
            .map(|i| cos.row(i).iter().copied().collect())
            .collect(),
        range: (0.0, 1.0),
        col_labels: labels.clone(),
        row_labels: labels,
        colorbar_label: "|cos| (1 = same direction)".into(),
        separators,
    });
    Figure {
        stem: "cosine_similarity",
        chart,
        caption: "Cell (i, j) is |cos| between eigenvectors i and j (sign is arbitrary); white lines separate \
                  checkpoints, so bright cells off the diagonal blocks mean a direction reappears at another step."
            .into(),
    }
}

/// Subspace overlap between every pair of checkpoints as a heatmap.
pub fn subspace_overlap(overlap: &DMatrix<f64>, steps: &[i64], r: usize) -> Figure {
    let labels: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    let chart = Chart::Heatmap(Heatmap {
        title: format!("Overlap of the top-{r} eigenvector subspaces between checkpoints"),
        x_label: "checkpoint step".into(),
        y_label: "checkpoint step".into(),
        values: (0..overlap.nrows())
            .map(|i| overlap.row(i).iter().copied().collect())
            .collect(),
        range: (0.0, 1.0),
        col_labels: labels.clone(),
        row_labels: labels,
        colorbar_label: "mean cos² of principal angles".into(),
        separators: Vec::new(),
    });
    Figure {
        stem: "subspace_overlap",
        chart,
        caption: format!(
            "Cell (i, j) is ||U_iᵀU_j||²_F / {r}, the mean squared cosine of the principal angles between the top-{r} \
             subspaces of two checkpoints: 1 = the same subspace (however its vectors are ordered or rotated), 0 = \
             orthogonal."
        ),
    }
}

/// Mean overlap against the step distance between checkpoints.
pub fn overlap_vs_distance(curve: &[(i64, f64, f64, f64, usize)], r: usize) -> Figure {
    let mut c = LineChart::new(
        format!("Top-{r} subspace overlap against the distance between checkpoints"),
        "steps between the two checkpoints",
        "subspace overlap (mean cos² of principal angles)",
    );
    c.series.push(Series::new(
        "mean over checkpoint pairs",
        curve.iter().map(|p| (p.0 as f64, p.1)).collect(),
        categorical(0),
    ));
    c.series.push(
        Series::new(
            "min",
            curve.iter().map(|p| (p.0 as f64, p.2)).collect(),
            categorical(0),
        )
        .mark(Mark::Line)
        .faint(1, 0.45),
    );
    c.series.push(
        Series::new(
            "max",
            curve.iter().map(|p| (p.0 as f64, p.3)).collect(),
            categorical(0),
        )
        .mark(Mark::Line)
        .faint(1, 0.45),
    );
    c.y_range = Some((0.0, 1.03));
    c.legend = LegendAt::LowerLeft;
    Figure {
        stem: "overlap_vs_distance",
        chart: Chart::Line(c),
        caption: "How fast the top subspace drifts: a flat curve near 1 means the subspace is stable over the whole run, \
                  a decaying one gives the number of steps over which it is replaced."
            .into(),
    }
}

/// Eigenvalue trajectories by rank; `points` are `(step, rank, eigenvalue)`.
pub fn eigenvalues_by_rank(points: &[(i64, u32, f64)]) -> Figure {
    let mut by_rank: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    for &(s, r, v) in points {
        by_rank.entry(r).or_default().push((s as f64, v));
    }
    let mut c = LineChart::new(
        "Top Hessian eigenvalues by rank",
        STEP_AXIS,
        "eigenvalue (curvature, loss units per unit parameter²)",
    );
    for (r, mut pts) in by_rank {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        c.series.push(Series::new(
            format!("rank {r}"),
            pts,
            categorical(r as usize),
        ));
    }
    Figure {
        stem: "eigenvalues",
        chart: Chart::Line(c),
        caption: "The k-th largest eigenvalue at each checkpoint: the sharpness of the loss along its stiffest \
                  directions; a curve following rank k may switch direction where two eigenvalues cross (see the \
                  tracked version)."
            .into(),
    }
}

/// The most negative eigenvalue over training; `points` are `(step, lambda_min)`.
pub fn lambda_min(points: &[(i64, f64)]) -> Figure {
    let mut c = LineChart::new(
        "Smallest Hessian eigenvalue",
        STEP_AXIS,
        "λ_min (most negative curvature)",
    );
    c.series.push(Series::new("λ_min", points.iter().map(|&(s, v)| (s as f64, v)).collect(), categorical(0)));
    Figure {
        stem: "lambda_min",
        chart: Chart::Line(c),
        caption: "The algebraically smallest eigenvalue at each checkpoint (bottom end of one Lanczos run): below \
                  zero the loss curves downward along its eigenvector, i.e. the checkpoint is not at a local minimum."
            .into(),
    }
}

/// `|lambda_min| / lambda_max` over training; `points` are `(step, ratio)`.
pub fn negative_curvature_ratio(points: &[(i64, f64)]) -> Figure {
    let mut c = LineChart::new(
        "Negative curvature relative to the sharpest direction",
        STEP_AXIS,
        "|λ_min| / λ_max",
    );
    c.series.push(Series::new(
        "|λ_min| / λ_max",
        points.iter().filter(|p| p.1.is_finite()).map(|&(s, v)| (s as f64, v)).collect(),
        categorical(1),
    ));
    Figure {
        stem: "negative_curvature_ratio",
        chart: Chart::Line(c),
        caption: "How large the most negative eigenvalue is against the largest: near 0 the landscape is locally \
                  almost convex; a ratio that shrinks during training means the negative curvature fades as the \
                  model settles."
            .into(),
    }
}

/// Eigenvalue trajectories that follow one direction.
pub fn eigenvalues_tracked(points: &[TrackPoint]) -> Figure {
    let mut by_track: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    for p in points {
        by_track
            .entry(p.track)
            .or_default()
            .push((p.step as f64, p.eigenvalue));
    }
    let mut c = LineChart::new(
        "Top Hessian eigenvalues tracked by direction",
        STEP_AXIS,
        "eigenvalue (curvature, loss units per unit parameter²)",
    );
    for (t, pts) in by_track {
        c.series.push(Series::new(
            format!("direction {t}"),
            pts,
            categorical(t as usize),
        ));
    }
    Figure {
        stem: "eigenvalues_tracked",
        chart: Chart::Line(c),
        caption: "Each curve follows one direction: at every checkpoint it continues with the eigenvector that overlaps \
                  most with its previous one (optimal assignment of |cos|, Hungarian algorithm), so crossings of \
                  eigenvalues show up as crossing curves."
            .into(),
    }
}

/// Trace estimates per method with ±1 standard error.
pub fn trace(rows: &[TraceRow]) -> Figure {
    let mut by_method: BTreeMap<&str, Vec<&TraceRow>> = BTreeMap::new();
    for r in rows {
        by_method.entry(r.method.name()).or_default().push(r);
    }
    let mut c = LineChart::new("Hessian trace", STEP_AXIS, "tr(H) (sum of all eigenvalues)");
    for (k, (method, mut rs)) in by_method.into_iter().enumerate() {
        rs.sort_by_key(|r| r.step);
        let pts = rs.iter().map(|r| (r.step as f64, r.estimate)).collect();
        let err = rs.iter().map(|r| r.std_error).collect();
        c.series.push(
            Series::new(format!("{method} (±1 standard error)"), pts, categorical(k)).errors(err),
        );
    }
    Figure {
        stem: "trace",
        chart: Chart::Line(c),
        caption: "The trace is the total curvature over all parameters; bars are ±1 standard error of the stochastic \
                  estimate. Each method draws its own probes (an independent stream per method and checkpoint), so \
                  methods that agree within their bars are independent evidence for the value."
            .into(),
    }
}

/// The largest eigenvalue of each parameter block over training, side by side with the whole model's.
pub fn block_top_eigenvalue(blocks: &[BlockCurvature]) -> Figure {
    let mut c = LineChart::new("Top eigenvalue per parameter block", STEP_AXIS, "λ_max of the block's Hessian");
    for (k, b) in blocks.iter().filter(|b| !b.top.is_empty()).enumerate() {
        let pts = b.top.iter().map(|&(s, v)| (s as f64, v)).collect();
        c.series.push(Series::new(block_label(b), pts, categorical(k)));
    }
    Figure {
        stem: "blocks_top_eigenvalue",
        chart: Chart::Line(c),
        caption: "Each block's curve is the largest eigenvalue of the Hessian restricted to that block's parameters \
                  (its diagonal block of the full Hessian): which part of the model is sharpest. A block's value is at \
                  most the whole model's, which also counts the curvature between blocks."
            .into(),
    }
}

/// The trace of each parameter block over training, with ±1 standard error.
pub fn block_trace(blocks: &[BlockCurvature]) -> Figure {
    let mut c = LineChart::new("Trace per parameter block", STEP_AXIS, "tr(H) of the block's Hessian");
    for (k, b) in blocks.iter().filter(|b| !b.trace.is_empty()).enumerate() {
        let pts = b.trace.iter().map(|&(s, v, _)| (s as f64, v)).collect();
        let err = b.trace.iter().map(|&(_, _, e)| e).collect();
        c.series.push(Series::new(format!("{} ({})", block_label(b), b.trace_method), pts, categorical(k)).errors(err));
    }
    Figure {
        stem: "blocks_trace",
        chart: Chart::Line(c),
        caption: "The trace of each block's Hessian is the sum of the whole Hessian's diagonal over that block, so \
                  the blocks' traces add up to the whole model's (within their error bars) when the blocks cover \
                  every parameter once."
            .into(),
    }
}

fn block_label(b: &BlockCurvature) -> String {
    if b.num_params > 0 { format!("{} ({} parameters)", b.params, b.num_params) } else { b.params.clone() }
}

/// Which of loss or accuracy a training-curve figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Cross-entropy.
    Loss,
    /// Fraction correct.
    Accuracy,
}

/// Loss or accuracy over training from the checkpoints and the per-batch log.
pub fn training_curve(
    metric: Metric,
    checkpoints: Option<&[CheckpointRow]>,
    log: Option<&[TrainLogRow]>,
) -> Figure {
    let (stem, title, y) = match metric {
        Metric::Loss => (
            "loss",
            "Loss during fine-tuning",
            "cross-entropy loss (nats per example)",
        ),
        Metric::Accuracy => (
            "accuracy",
            "Accuracy during fine-tuning",
            "accuracy (fraction of examples correct)",
        ),
    };
    let mut c = LineChart::new(title, STEP_AXIS, y);
    if let Some(log) = log {
        let mut rows: Vec<&TrainLogRow> = log.iter().collect();
        rows.sort_by_key(|r| r.step);
        let pts = rows
            .iter()
            .map(|r| {
                (
                    r.step as f64,
                    if metric == Metric::Loss {
                        r.loss
                    } else {
                        r.accuracy
                    },
                )
            })
            .collect();
        c.series.push(
            Series::new("train, per batch", pts, GREY)
                .mark(Mark::Line)
                .faint(1, 0.6),
        );
    }
    if let Some(cps) = checkpoints {
        let mut rows: Vec<&CheckpointRow> = cps.iter().collect();
        rows.sort_by_key(|r| r.step);
        let pick = |r: &CheckpointRow, held: bool| match (metric, held) {
            (Metric::Loss, false) => r.train_loss,
            (Metric::Loss, true) => r.heldout_loss,
            (Metric::Accuracy, false) => r.train_accuracy,
            (Metric::Accuracy, true) => r.heldout_accuracy,
        };
        c.series.push(Series::new(
            "train, mean since previous checkpoint",
            rows.iter()
                .map(|r| (r.step as f64, pick(r, false)))
                .collect(),
            categorical(0),
        ));
        c.series.push(Series::new(
            "held-out",
            rows.iter()
                .map(|r| (r.step as f64, pick(r, true)))
                .collect(),
            categorical(1),
        ));
    }
    if metric == Metric::Accuracy {
        c.legend = LegendAt::LowerRight;
    }
    Figure {
        stem,
        chart: Chart::Line(c),
        caption: match metric {
            Metric::Loss => "Grey: loss of each training batch; coloured: mean training loss between checkpoints and the \
                             loss on held-out data at each checkpoint. A widening gap means over-fitting."
                .into(),
            Metric::Accuracy => "Grey: accuracy of each training batch; coloured: at each checkpoint, mean training \
                                 accuracy and held-out accuracy."
                .into(),
        },
    }
}

/// Neutral colour for noisy per-batch curves.
const GREY: RGBColor = RGBColor(120, 120, 120);

/// Kernel tails underflow to 0, which a log axis cannot show: densities are
/// floored ten decades below the peak (PyHessian's plots clip similarly).
fn density_floor(rows: &[DensityRow]) -> f64 {
    hessx_plot::log_floor(rows.iter().map(|r| r.density).filter(|d| d.is_finite()).fold(0.0f64, f64::max))
}

fn density_by_step(rows: &[DensityRow]) -> BTreeMap<i64, Vec<(f64, f64)>> {
    let mut by_step: BTreeMap<i64, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.lambda.is_finite() && r.density.is_finite()) {
        by_step.entry(r.step).or_default().push((r.lambda, r.density));
    }
    for pts in by_step.values_mut() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    by_step
}

fn sigmas(rows: &[DensityRow]) -> String {
    let set: std::collections::BTreeSet<String> = rows.iter().map(|r| fmt_num(r.sigma)).collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

/// Spectral density of the first and the last checkpoint on a log axis: two
/// spiky curves can be compared, seven overlaid cannot (the heatmap shows
/// every checkpoint).
pub fn density(rows: &[DensityRow]) -> Figure {
    let floor = density_floor(rows);
    let by_step = density_by_step(rows);
    let mut c = LineChart::new("Hessian eigenvalue spectral density, first and last checkpoint", "eigenvalue λ", "density (log scale)");
    c.log_y = true;
    let first = by_step.iter().next();
    let last = by_step.iter().next_back().filter(|_| by_step.len() > 1);
    for (k, (step, pts)) in first.into_iter().chain(last).enumerate() {
        let pts = pts.iter().map(|&(l, d)| (l, d.max(floor))).collect();
        let label = if k == 0 { format!("first checkpoint, step {step}") } else { format!("last checkpoint, step {step}") };
        c.series.push(Series::new(label, pts, categorical(k)).mark(Mark::Line));
    }
    Figure {
        stem: "density",
        chart: Chart::Line(c),
        caption: format!(
            "Smoothed eigenvalue density (Gaussian kernel, σ = {}) of the first and the last checkpoint: the bulk \
             near 0 and the isolated outliers on the right are the few directions the top eigenvectors describe. \
             Values below 1e-10 of the peak are drawn at that floor; the heatmap below shows every checkpoint.",
            sigmas(rows)
        ),
    }
}

/// Every checkpoint's density resampled on `columns` shared eigenvalue cells
/// spanning all checkpoints' grids, as (step, λ, log10 density) rows in row
/// order (step, then λ).
pub fn density_grid(rows: &[DensityRow], columns: usize) -> Vec<(i64, f64, f64)> {
    let floor = density_floor(rows);
    let by_step = density_by_step(rows);
    let (lo, hi) = by_step
        .values()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(l, _)| (lo.min(l), hi.max(l)));
    if !lo.is_finite() || !hi.is_finite() || hi <= lo || columns == 0 {
        return Vec::new();
    }
    let width = (hi - lo) / columns as f64;
    let mut grid = Vec::with_capacity(by_step.len() * columns);
    for (&step, pts) in &by_step {
        for c in 0..columns {
            let lambda = lo + (c as f64 + 0.5) * width;
            grid.push((step, lambda, interpolate(pts, lambda).max(floor).log10()));
        }
    }
    grid
}

/// Linear interpolation of sorted `(x, y)` at `x`; 0 outside their range.
fn interpolate(pts: &[(f64, f64)], x: f64) -> f64 {
    let i = pts.partition_point(|p| p.0 < x);
    match (i.checked_sub(1).and_then(|j| pts.get(j)), pts.get(i)) {
        (_, Some(&(x1, y1))) if x1 == x => y1,
        (Some(&(x0, y0)), Some(&(x1, y1))) => y0 + (y1 - y0) * (x - x0) / (x1 - x0),
        _ => 0.0,
    }
}

/// Log density over eigenvalue (columns) and checkpoint (rows, first at the
/// top), from [`density_grid`]'s rows.
pub fn density_heatmap(grid: &[(i64, f64, f64)]) -> Figure {
    let mut steps: Vec<i64> = grid.iter().map(|g| g.0).collect();
    steps.dedup();
    let columns = grid.len() / steps.len().max(1);
    let values: Vec<Vec<f64>> = grid.chunks(columns.max(1)).map(|row| row.iter().map(|g| g.2).collect()).collect();
    let (lo, hi) = grid.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), g| (lo.min(g.2), hi.max(g.2)));
    let chart = Chart::Heatmap(Heatmap {
        title: "Hessian eigenvalue spectral density over training".into(),
        x_label: "eigenvalue λ".into(),
        y_label: "checkpoint step".into(),
        values,
        range: (lo, hi),
        col_labels: grid.iter().take(columns).map(|g| fmt_num(g.1)).collect(),
        row_labels: steps.iter().map(|s| s.to_string()).collect(),
        colorbar_label: "log10 density".into(),
        separators: Vec::new(),
    });
    Figure {
        stem: "density_heatmap",
        chart,
        caption: "Each row is one checkpoint's smoothed eigenvalue density on a shared eigenvalue axis, colour = \
                  log10 density (floored ten decades below the peak): outliers moving right or left over the rows \
                  are the top eigenvalues growing or shrinking, a widening bulk is curvature spreading."
            .into(),
    }
}

/// The optimiser a run trained with, as far as the edge-of-stability threshold needs it (from
/// `config/train.toml`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StabilityRule {
    /// (Heavy-ball) SGD with momentum `beta` (0: plain SGD): threshold `(2 + 2 beta) / lr`.
    Sgd {
        /// Momentum.
        beta: f64,
        /// Whether `beta` was recorded (else 0 is assumed).
        recorded: bool,
    },
    /// An adaptive optimiser (Adam): no threshold of the form `c / lr`.
    Adaptive,
}

impl StabilityRule {
    /// The rule for a run's `config/train.toml` text (None: no such file, plain SGD assumed).
    pub fn from_train_config(text: Option<&str>) -> StabilityRule {
        let table: Option<toml::Table> = text.and_then(|t| toml::from_str(t).ok());
        let get = |k: &str| table.as_ref().and_then(|v| v.get(k).cloned());
        if get("optimizer").and_then(|o| o.as_str().map(str::to_owned)).is_some_and(|o| o != "sgd") {
            return StabilityRule::Adaptive;
        }
        match get("momentum").and_then(|m| m.as_float()) {
            Some(beta) => StabilityRule::Sgd { beta, recorded: true },
            None => StabilityRule::Sgd { beta: 0.0, recorded: false },
        }
    }

    /// The threshold at learning rate `lr` (None for an adaptive optimiser or a non-positive `lr`).
    pub fn threshold(self, lr: f64) -> Option<f64> {
        match self {
            StabilityRule::Sgd { beta, .. } if lr > 0.0 => Some((2.0 + 2.0 * beta) / lr),
            _ => None,
        }
    }
}

/// Steps of the log with a sharpness estimate, sorted by step.
pub fn sharpness_rows(log: &[TrainLogRow]) -> Vec<&TrainLogRow> {
    let mut rows: Vec<&TrainLogRow> = log.iter().filter(|r| r.sharpness.is_finite()).collect();
    rows.sort_by_key(|r| r.step);
    rows
}

/// Sharpness (`hx-train --track-sharpness`) against the edge-of-stability threshold; None when the
/// log has no estimate.
pub fn sharpness(log: &[TrainLogRow], rule: StabilityRule) -> Option<Figure> {
    let rows = sharpness_rows(log);
    if rows.is_empty() {
        return None;
    }
    let mut c = LineChart::new(
        "Sharpness during training: top Hessian eigenvalue of the batch loss",
        STEP_AXIS,
        "largest Hessian eigenvalue",
    );
    c.series.push(Series::new(
        "sharpness estimate (current batch)",
        rows.iter().map(|r| (r.step as f64, r.sharpness)).collect(),
        categorical(0),
    ));
    let mut all: Vec<&TrainLogRow> = log.iter().collect();
    all.sort_by_key(|r| r.step);
    let line: Vec<(f64, f64)> =
        all.iter().filter_map(|r| rule.threshold(r.lr).map(|t| (r.step as f64, t))).collect();
    let rule_text = match rule {
        StabilityRule::Sgd { beta, .. } if beta == 0.0 => "2/lr".to_string(),
        StabilityRule::Sgd { beta, .. } => format!("(2 + 2·{})/lr", fmt_num(beta)),
        StabilityRule::Adaptive => String::new(),
    };
    if !line.is_empty() {
        c.series.push(
            Series::new(format!("edge of stability {rule_text}"), line, categorical(1)).mark(Mark::Line),
        );
    }
    c.legend = LegendAt::LowerRight;
    let caption = match rule {
        StabilityRule::Sgd { beta, recorded } => format!(
            "Dots: the largest eigenvalue of the Hessian of each tracked step's mini-batch loss (Lanczos, batch norm \
             with running statistics). Line: {rule_text} with the learning rate of each step{}, the largest \
             curvature at which gradient descent{} on a quadratic is stable; estimates at or above it mean training \
             is at the edge of stability (Cohen et al. 2021).",
            if recorded { format!(" and momentum {} from config/train.toml", fmt_num(beta)) } else {
                " (momentum not recorded in config/train.toml: 0 assumed)".to_string()
            },
            if beta > 0.0 { " with heavy-ball momentum" } else { "" }
        ),
        StabilityRule::Adaptive => "Dots: the largest eigenvalue of the Hessian of each tracked step's mini-batch \
             loss (Lanczos, batch norm with running statistics). No stability line: for an adaptive optimiser \
             (Adam) the threshold depends on the preconditioner, not on 2/lr."
            .into(),
    };
    Some(Figure { stem: "sharpness", chart: Chart::Line(c), caption })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_row(step: i64, lr: f64, sharpness: f64) -> TrainLogRow {
        TrainLogRow {
            step,
            epoch: 0,
            batch: step - 1,
            lr,
            loss: 1.0,
            accuracy: 0.5,
            seconds: 0.1,
            sharpness,
            sharpness_residual: if sharpness.is_nan() { f64::NAN } else { 0.01 },
            sharpness_hvps: if sharpness.is_nan() { 0 } else { 10 },
            sharpness_seconds: if sharpness.is_nan() { 0.0 } else { 0.05 },
        }
    }

    #[test]
    fn stability_rule_from_the_training_config() {
        let sgd = StabilityRule::from_train_config(Some("optimizer = \"sgd\"\nmomentum = 0.9\nlr = 0.1\n"));
        assert_eq!(sgd, StabilityRule::Sgd { beta: 0.9, recorded: true });
        assert!((sgd.threshold(0.1).unwrap() - 38.0).abs() < 1e-12);
        let plain = StabilityRule::from_train_config(Some("optimizer = \"sgd\"\nmomentum = 0.0\n"));
        assert_eq!(plain.threshold(0.5), Some(4.0));
        assert_eq!(StabilityRule::from_train_config(None), StabilityRule::Sgd { beta: 0.0, recorded: false });
        let adam = StabilityRule::from_train_config(Some("optimizer = \"adam\"\nmomentum = 0.9\n"));
        assert_eq!((adam, adam.threshold(0.1)), (StabilityRule::Adaptive, None));
    }

    #[test]
    fn sharpness_figure_draws_the_estimates_and_the_threshold_per_step() {
        // Estimates every other step; the learning rate halves at step 5.
        let log: Vec<TrainLogRow> = (1..=8)
            .map(|s| log_row(s, if s < 5 { 0.1 } else { 0.05 }, if s % 2 == 1 { 10.0 * s as f64 } else { f64::NAN }))
            .collect();
        assert!(sharpness(&log[..0], StabilityRule::Adaptive).is_none());
        let no_estimates: Vec<TrainLogRow> = (1..=3).map(|s| log_row(s, 0.1, f64::NAN)).collect();
        assert!(sharpness(&no_estimates, StabilityRule::Sgd { beta: 0.0, recorded: true }).is_none());
        let fig = sharpness(&log, StabilityRule::Sgd { beta: 0.0, recorded: true }).unwrap();
        assert_eq!(fig.stem, "sharpness");
        assert!(fig.caption.contains("2/lr") && fig.caption.contains("edge of stability"), "{}", fig.caption);
        let Chart::Line(c) = &fig.chart else { panic!("a line chart") };
        assert_eq!(c.series[0].points, [(1.0, 10.0), (3.0, 30.0), (5.0, 50.0), (7.0, 70.0)]);
        let line = &c.series[1];
        assert!(line.name.as_deref().unwrap().contains("2/lr"));
        assert_eq!(line.points.len(), 8);
        assert_eq!((line.points[0], line.points[7]), ((1.0, 20.0), (8.0, 40.0)));
        // With momentum the line is (2 + 2 beta)/lr; Adam has none and says why.
        let fig = sharpness(&log, StabilityRule::Sgd { beta: 0.5, recorded: true }).unwrap();
        let Chart::Line(c) = &fig.chart else { panic!("a line chart") };
        assert_eq!(c.series[1].points[0], (1.0, 30.0));
        let fig = sharpness(&log, StabilityRule::Adaptive).unwrap();
        let Chart::Line(c) = &fig.chart else { panic!("a line chart") };
        assert_eq!(c.series.len(), 1);
        assert!(fig.caption.contains("Adam"));
    }
}
