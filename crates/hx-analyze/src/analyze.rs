//! The whole analysis of one run directory: read, compute, draw, write the
//! tables and the report. Only this module touches the file system (through
//! `hessx-store` and `hessx-plot`); the numerics live in their own modules.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use hessx_plot::fmt_num;
use hessx_store::tables::{Row, write_rows};
use hessx_store::{RunDir, RunIdentity, SpectrumEnd};
use tracing::info;

use crate::figures::{self, Figure, Metric};
use crate::load::{RunData, load};
use crate::pca::{Pca, pca_from_gram};
use crate::numbers::{eigenvalue_table, trace_table};
use crate::report::{Report, ReportFigure, ReportTable, render};
use crate::similarity::{abs_cosine_matrix, overlap_by_distance, overlap_matrix};
use crate::tables::{
    CosineRow, DensityGridRow, FigureSeriesRow, NegativeCurvatureRow, OverlapDistanceRow, OverlapRow,
    PcaProjectionRow, PcaVarianceRow, TrackedRow,
};
use crate::tracking::{Checkpoint, track};
use crate::{Result, gram};

/// How to analyse.
#[derive(Debug, Clone)]
pub struct Options {
    /// Remove the mean eigenvector before PCA (sklearn's default). Default
    /// false: uncentred PCA is the one that does not depend on eigenvector
    /// signs (see [`crate::pca`]).
    pub centered: bool,
    /// Use only the top `r` eigenvectors of each checkpoint for the subspace
    /// overlap (default: as many as every checkpoint has).
    pub overlap_rank: Option<usize>,
    /// Threads for the Gram matrix.
    pub threads: usize,
    /// Settings fingerprints to show where a run's tables hold several
    /// (default: see [`load`](crate::load::load)).
    pub settings: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            centered: false,
            overlap_rank: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            settings: Vec::new(),
        }
    }
}

/// What an analysis produced.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Figure stems written under `plots/` (each as .png and .svg).
    pub figures: Vec<String>,
    /// Tables written under `analysis/`.
    pub tables: Vec<PathBuf>,
    /// The report.
    pub report: PathBuf,
    /// `(quantity, value)` rows of the report's key-number table.
    pub key_numbers: Vec<(String, String)>,
    /// What could not be shown and why.
    pub notes: Vec<String>,
}

/// Collects figures, tables and numbers while the analysis runs.
struct Out<'a> {
    run: &'a RunDir,
    id: RunIdentity,
    figures: Vec<ReportFigure>,
    tables: Vec<PathBuf>,
    report_tables: Vec<ReportTable>,
    series: Vec<FigureSeriesRow>,
    key: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Out<'_> {
    fn figure(&mut self, fig: Figure, table: &str) -> Result<()> {
        let t = Instant::now();
        let saved = hessx_plot::save(&fig.chart, &self.run.plots_dir(), fig.stem)?;
        info!(
            figure = fig.stem,
            ms = t.elapsed().as_millis() as u64,
            "drawn"
        );
        self.figures.push(ReportFigure {
            stem: fig.stem.into(),
            title: fig.chart.title().into(),
            caption: fig.caption,
            png: saved.png,
            table: RunDir::analysis_table_relative(table),
            folder: "plots".into(),
        });
        Ok(())
    }

    /// A figure drawn straight from run tables: its plotted points go to
    /// `analysis/figure_series.parquet`.
    fn series_figure(&mut self, fig: Figure, x_name: &str, y_name: &str) -> Result<()> {
        if let hessx_plot::Chart::Line(c) = &fig.chart {
            for s in &c.series {
                for (i, &(x, y)) in s.points.iter().enumerate() {
                    self.series.push(FigureSeriesRow {
                        figure: fig.stem.into(),
                        series: s.name.clone().unwrap_or_default(),
                        x_name: x_name.into(),
                        x,
                        y_name: y_name.into(),
                        y,
                        y_err: s
                            .y_err
                            .as_ref()
                            .and_then(|e| e.get(i))
                            .copied()
                            .unwrap_or(f64::NAN),
                    });
                }
            }
        }
        self.figure(fig, "figure_series")
    }

    fn table<R: Row>(&mut self, name: &str, rows: &[R]) -> Result<()> {
        let path = self.run.analysis_table(name);
        write_rows(&path, &self.id, rows)?;
        info!(table = %path.display(), rows = rows.len(), "written");
        self.tables.push(path);
        Ok(())
    }

    fn key(&mut self, k: impl Into<String>, v: impl Into<String>) {
        self.key.push((k.into(), v.into()));
    }
}

/// Analyse the run at `run` and write `analysis/`, `plots/` and `report.html`.
pub fn analyze(run: &RunDir, opts: &Options) -> Result<Summary> {
    let data = load(run, &opts.settings)?;
    // Checked before anything is written, so a bad --rank leaves the last analysis as it was.
    if let (Some(asked), Some(fewest)) = (opts.overlap_rank, data.blocks.iter().min_by_key(|b| b.vectors.len())) {
        if asked > fewest.vectors.len() {
            return Err(crate::Error::RankTooLarge { asked, available: fewest.vectors.len(), step: fewest.step });
        }
    }
    let id = data
        .identity
        .clone()
        .unwrap_or_else(|| RunIdentity::new(&run.name(), "unknown", "unknown", "none", 0));
    let mut out = Out {
        run,
        id,
        figures: Vec::new(),
        tables: Vec::new(),
        report_tables: Vec::new(),
        series: Vec::new(),
        key: Vec::new(),
        notes: data.missing.clone(),
    };
    for chosen in [&data.eigen_settings, &data.spectrum_settings].into_iter().flatten() {
        let described = chosen.present.iter().find(|(id, _)| *id == chosen.settings_id).map_or("", |(_, d)| d.as_str());
        out.key(format!("settings of the {}", chosen.what), format!("{}: {described}", chosen.settings_id));
    }
    if !data.blocks.is_empty() {
        eigenvector_analysis(&data, opts, &mut out)?;
    }
    curvature_figures(&data, &mut out)?;
    negative_curvature(&data, &mut out)?;
    training_figures(&data, &mut out)?;
    landscape_figures(&mut out)?;
    if !out.series.is_empty() {
        let rows = std::mem::take(&mut out.series);
        out.table("figure_series", &rows)?;
    }
    let removed = remove_outputs_not_written(run, &out.tables, &out.figures)?;
    if !removed.is_empty() {
        out.notes.push(format!(
            "removed what an earlier analysis wrote and this one could not make from the run's tables now: {}",
            removed.join(", ")
        ));
    }
    let settings = vec![
        (
            "PCA".to_string(),
            if opts.centered {
                "centred (mean eigenvector removed, as sklearn): depends on the arbitrary signs of the \
                 eigenvectors, so a vector stored as v at one checkpoint and -v at the next adds spurious variance"
            } else {
                "uncentred second moment of the eigenvectors (a mean of projectors vv^T, i.e. the centred PCA \
                 of the set {+v, -v}): invariant under any eigenvector's sign; projections are drawn with the \
                 sign that makes each vector's PC1 score positive"
            }
            .to_string(),
        ),
        (
            "subspace rank r".to_string(),
            opts.overlap_rank
                .map_or("all eigenvectors every checkpoint has".into(), |r| {
                    r.to_string()
                }),
        ),
        (
            "eigenvector tracking".to_string(),
            "Hungarian assignment maximising summed |cos| between consecutive checkpoints"
                .to_string(),
        ),
        ("Gram matrix threads".to_string(), opts.threads.to_string()),
    ];
    let identity = data.identity.as_ref().map(|i| {
        let corruption = if i.corruption == "none" {
            "clean data".to_string()
        } else {
            format!("{} severity {}", i.corruption, i.severity)
        };
        format!("model {} · dataset {} · {}", i.model, i.dataset, corruption)
    });
    let html = render(&Report {
        run: &run.name(),
        identity,
        key_numbers: &out.key,
        notes: &out.notes,
        tables: &out.report_tables,
        figures: &out.figures,
        configs: &data.configs,
        settings: &settings,
    });
    hessx_store::write_bytes_atomic(&run.report(), html.as_bytes())?;
    info!(report = %run.report().display(), "written");
    Ok(Summary {
        figures: out.figures.iter().map(|f| f.stem.clone()).collect(),
        tables: out.tables,
        report: run.report(),
        key_numbers: out.key,
        notes: out.notes,
    })
}

/// Delete the tables under `analysis/` and the figures under `plots/` that
/// this analysis did not write: left in place they would describe inputs
/// that are gone (eigenvectors deleted, a table removed) while still
/// appearing queryable and current. Returns their paths relative to the run.
/// Only hx-analyze writes these two folders.
fn remove_outputs_not_written(run: &RunDir, tables: &[PathBuf], figures: &[ReportFigure]) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let kept_figure = |stem: &str| figures.iter().any(|f| f.folder == "plots" && f.stem == stem);
    for (dir, folder) in [(run.analysis_dir(), "analysis"), (run.plots_dir(), "plots")] {
        hessx_store::remove_stale_temps(&dir);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), ""));
            let stale = match folder {
                "analysis" => ext == "parquet" && !stem.starts_with('.') && !tables.contains(&path),
                _ => matches!(ext, "png" | "svg") && !stem.starts_with('.') && !kept_figure(stem),
            };
            if stale {
                std::fs::remove_file(&path).map_err(|e| crate::Error::io(&path, e))?;
                info!(file = %path.display(), "removed: not produced by this analysis");
                removed.push(format!("{folder}/{name}"));
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// hx-landscape's figures (drawn by it, from its tables), as they are: the
/// report shows them after the analysis's own.
fn landscape_figures(out: &mut Out<'_>) -> Result<()> {
    for surface in out.run.landscapes()? {
        let stems = surface.figure_stems()?;
        if stems.is_empty() {
            out.notes.push(format!("{}: no figures yet (the surface is not complete, or was made with --no-plot)", surface.relative()));
            continue;
        }
        for stem in stems {
            let path = surface.figure_png(&stem);
            let png = std::fs::read(&path).map_err(|e| crate::Error::io(&path, e))?;
            out.figures.push(ReportFigure {
                title: format!("loss landscape {}: {}", surface.name(), stem.replace('_', " ")),
                caption: landscape_caption(&stem),
                png,
                table: surface.figure_table_relative(&stem),
                folder: format!("{}/plots", surface.relative()),
                stem,
            });
        }
    }
    Ok(())
}

/// How to read one of hx-landscape's figures, from its stem.
fn landscape_caption(stem: &str) -> String {
    if stem.starts_with("2d_contour") {
        "Loss contours around the checkpoint at (0, 0) on the surface's two directions (settings.toml says which); \
         dots are the checkpoints of the trajectory when the axes are its principal directions."
    } else if stem.starts_with("2d_heatmap") {
        "The same surface filled: colour is the loss at each grid point."
    } else if stem.starts_with("1d") {
        "Loss (or accuracy) along one direction, or from one model (x = 0) to another (x = 1)."
    } else if stem.starts_with("curvature") {
        "Largest and smallest Hessian eigenvalue at each grid point, and |min/max|: near 0 where the surface is locally convex."
    } else {
        "Drawn by hx-landscape."
    }
    .into()
}

fn eigenvector_analysis(data: &RunData, opts: &Options, out: &mut Out<'_>) -> Result<()> {
    let dim = data.dim().unwrap_or(0);
    let vectors: Vec<&[f32]> = data
        .blocks
        .iter()
        .flat_map(|b| b.vectors.iter().map(Vec::as_slice))
        .collect();
    let steps: Vec<i64> = data
        .blocks
        .iter()
        .flat_map(|b| b.ranks.iter().map(move |_| b.step))
        .collect();
    let ranks: Vec<u32> = data
        .blocks
        .iter()
        .flat_map(|b| b.ranks.iter().copied())
        .collect();
    let eigenvalues: Vec<f64> = data
        .blocks
        .iter()
        .flat_map(|b| b.eigenvalues.iter().copied())
        .collect();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for b in &data.blocks {
        let start = ranges.last().map_or(0, |r| r.end);
        ranges.push(start..start + b.vectors.len());
    }
    let t = Instant::now();
    let g = gram::gram(&vectors, opts.threads);
    info!(
        vectors = vectors.len(),
        dim,
        seconds = t.elapsed().as_secs_f64(),
        "Gram matrix"
    );
    out.key(
        "checkpoints with eigenvectors",
        data.blocks.len().to_string(),
    );
    out.key(
        "eigenvectors analysed",
        format!("{} of {} parameters each", vectors.len(), dim),
    );

    // PCA.
    let pca = pca_from_gram(&g, dim, opts.centered);
    write_pca(&pca, &steps, &ranks, &eigenvalues, out)?;
    out.figure(figures::pca_variance(&pca), "pca_variance")?;
    out.figure(figures::pca_cumulative(&pca), "pca_variance")?;
    out.figure(
        figures::pca_projection(&pca, &steps, &ranks),
        "pca_projection",
    )?;
    match pca.components_for(0.9) {
        Some(k) => out.key(
            format!(
                "PCA components for 90 % of variance ({})",
                if pca.centered {
                    "centred, sign-dependent"
                } else {
                    "uncentred, sign-invariant"
                }
            ),
            format!(
                "{k} of {} eigenvectors (PC1 alone: {:.1} %)",
                vectors.len(),
                100.0 * pca.ratio.first().copied().unwrap_or(0.0)
            ),
        ),
        None => out
            .notes
            .push("PCA has no variance to explain (a single eigenvector, centred)".into()),
    }

    // Cosine similarity of every pair.
    let cos = abs_cosine_matrix(&g);
    let mut rows = Vec::with_capacity(cos.len());
    for i in 0..cos.nrows() {
        for j in 0..cos.ncols() {
            rows.push(CosineRow {
                step_a: steps[i],
                rank_a: ranks[i],
                step_b: steps[j],
                rank_b: ranks[j],
                abs_cosine: cos[(i, j)],
            });
        }
    }
    out.table("cosine_similarity", &rows)?;
    out.figure(
        figures::cosine_similarity(&cos, &steps, &ranks),
        "cosine_similarity",
    )?;

    // Subspace overlap of the top-r spaces.
    let common = data
        .blocks
        .iter()
        .map(|b| b.vectors.len())
        .min()
        .unwrap_or(0);
    // analyze() refused a rank above `common`.
    let r = opts.overlap_rank.unwrap_or(common).max(1);
    let top: Vec<Range<usize>> = ranges
        .iter()
        .map(|x| x.start..x.start + r.min(x.len()))
        .collect();
    let cp_steps: Vec<i64> = data.blocks.iter().map(|b| b.step).collect();
    let overlap = overlap_matrix(&g, &top);
    let mut rows = Vec::new();
    for i in 0..cp_steps.len() {
        for j in 0..cp_steps.len() {
            rows.push(OverlapRow {
                step_a: cp_steps[i],
                step_b: cp_steps[j],
                step_distance: (cp_steps[j] - cp_steps[i]).abs(),
                r_a: top[i].len() as u32,
                r_b: top[j].len() as u32,
                overlap: overlap[(i, j)],
            });
        }
    }
    out.table("subspace_overlap", &rows)?;
    out.figure(
        figures::subspace_overlap(&overlap, &cp_steps, r),
        "subspace_overlap",
    )?;
    let consecutive: Vec<f64> = (1..cp_steps.len()).map(|i| overlap[(i - 1, i)]).collect();
    if consecutive.is_empty() {
        out.notes.push(
            "only one checkpoint has eigenvectors: no overlap-vs-distance curve and no tracking"
                .into(),
        );
    } else {
        let mean = consecutive.iter().sum::<f64>() / consecutive.len() as f64;
        let min = consecutive.iter().copied().fold(f64::INFINITY, f64::min);
        out.key(
            format!("mean top-{r} subspace overlap of consecutive checkpoints"),
            format!("{} (lowest {})", fmt_num(mean), fmt_num(min)),
        );
        out.key(
            format!("top-{r} subspace overlap, first vs last checkpoint"),
            fmt_num(overlap[(0, cp_steps.len() - 1)]),
        );
        let curve = overlap_by_distance(&cp_steps, &overlap);
        let rows: Vec<OverlapDistanceRow> = curve
            .iter()
            .map(|&(d, mean, min, max, n)| OverlapDistanceRow {
                step_distance: d,
                mean_overlap: mean,
                min_overlap: min,
                max_overlap: max,
                pairs: n as i64,
            })
            .collect();
        out.table("overlap_vs_distance", &rows)?;
        out.figure(
            figures::overlap_vs_distance(&curve, r),
            "overlap_vs_distance",
        )?;

        // Tracking by direction.
        let cps: Vec<Checkpoint<'_>> = data
            .blocks
            .iter()
            .zip(&ranges)
            .map(|(b, rows)| Checkpoint {
                step: b.step,
                rows: rows.clone(),
                ranks: &b.ranks,
                eigenvalues: &b.eigenvalues,
            })
            .collect();
        let points = track(&g, &cps);
        let rows: Vec<TrackedRow> = points
            .iter()
            .map(|p| TrackedRow {
                step: p.step,
                track: p.track,
                rank: p.rank,
                eigenvalue: p.eigenvalue,
                abs_cosine_prev: p.abs_cosine_prev,
                flipped: p.flipped,
            })
            .collect();
        out.table("eigenvalues_tracked", &rows)?;
        out.figure(figures::eigenvalues_tracked(&points), "eigenvalues_tracked")?;
        let swaps = points
            .iter()
            .filter(|p| p.abs_cosine_prev.is_finite() && p.rank != p.track)
            .count();
        out.key(
            "tracked points whose rank differs from their direction's first rank",
            swaps.to_string(),
        );
    }
    Ok(())
}

fn write_pca(
    pca: &Pca,
    steps: &[i64],
    ranks: &[u32],
    eigenvalues: &[f64],
    out: &mut Out<'_>,
) -> Result<()> {
    let rows: Vec<PcaVarianceRow> = (0..pca.ratio.len())
        .map(|c| PcaVarianceRow {
            centered: pca.centered,
            component: (c + 1) as u32,
            explained_variance: pca.explained_variance[c],
            explained_variance_ratio: pca.ratio[c],
            cumulative_ratio: pca.cumulative[c],
        })
        .collect();
    out.table("pca_variance", &rows)?;
    let rows: Vec<PcaProjectionRow> = (0..pca.scores.nrows())
        .map(|i| PcaProjectionRow {
            centered: pca.centered,
            step: steps[i],
            rank: ranks[i],
            eigenvalue: eigenvalues[i],
            pc1: pca.scores[(i, 0)],
            pc2: if pca.scores.ncols() > 1 {
                pca.scores[(i, 1)]
            } else {
                0.0
            },
        })
        .collect();
    out.table("pca_projection", &rows)
}

/// Eigenvalue cells of the density heatmap: fine enough for the outliers to
/// show as separate bands at the widths `just all` produces, coarse enough
/// for a readable table.
const DENSITY_COLUMNS: usize = 160;

/// Top eigenvalues per rank (preferring `eigenvalues.parquet`), trace and density.
fn curvature_figures(data: &RunData, out: &mut Out<'_>) -> Result<()> {
    // The top end (the largest-magnitude pairs where only those were computed); the bottom end has its own
    // figures.
    let end = match &data.eigenvalues {
        Some(rows) if !rows.iter().any(|r| r.spectrum_end == SpectrumEnd::Top) => SpectrumEnd::Magnitude,
        _ => SpectrumEnd::Top,
    };
    let by_rank: Vec<(i64, u32, f64)> = match &data.eigenvalues {
        Some(rows) if rows.iter().any(|r| r.spectrum_end == end) => rows
            .iter()
            .filter(|r| r.spectrum_end == end)
            .map(|r| (r.step, r.rank, r.eigenvalue))
            .collect(),
        _ => data
            .blocks
            .iter()
            .flat_map(|b| {
                b.ranks
                    .iter()
                    .zip(&b.eigenvalues)
                    .map(move |(&r, &v)| (b.step, r, v))
            })
            .collect(),
    };
    if by_rank.is_empty() {
        out.notes
            .push("no eigenvalues in any table: no eigenvalue figure".into());
    } else {
        let mut per_step: BTreeMap<i64, Vec<(u32, f64)>> = BTreeMap::new();
        for &(s, r, v) in &by_rank {
            per_step.entry(s).or_default().push((r, v));
        }
        let show = |(s, vals): (&i64, &Vec<(u32, f64)>)| {
            let mut vals = vals.clone();
            vals.sort_by_key(|v| v.0);
            let list: Vec<String> = vals.iter().take(5).map(|v| fmt_num(v.1)).collect();
            (format!("top eigenvalues at step {s}"), list.join(", "))
        };
        let first = per_step.iter().next().map(show);
        let last = per_step.iter().next_back().map(show);
        out.key.extend(first);
        if per_step.len() > 1 {
            out.key.extend(last);
        }
        out.series_figure(figures::eigenvalues_by_rank(&by_rank), "step", "eigenvalue")?;
    }
    if let Some(rows) = data.eigenvalues.as_ref().filter(|r| !r.is_empty()) {
        out.report_tables.push(eigenvalue_table(rows));
    }
    if let Some(rows) = data.trace.as_ref().filter(|r| !r.is_empty()) {
        let mut methods: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        for r in rows {
            methods.entry(r.method.name()).or_default().push(r);
        }
        for (m, mut rs) in methods {
            rs.sort_by_key(|r| r.step);
            let fmt = |r: &hessx_store::tables::TraceRow| {
                format!(
                    "{} ± {} ({} probes) at step {}",
                    fmt_num(r.estimate),
                    fmt_num(r.std_error),
                    r.probes,
                    r.step
                )
            };
            let (a, b) = (rs[0], rs[rs.len() - 1]);
            let text = if rs.len() > 1 {
                format!("{} → {}", fmt(a), fmt(b))
            } else {
                fmt(a)
            };
            out.key(format!("trace ({m})"), text);
        }
        out.report_tables.push(trace_table(rows));
        out.series_figure(figures::trace(rows), "step", "trace")?;
    }
    if !data.per_block.is_empty() {
        for b in &data.per_block {
            let top = b.top.last().map(|&(s, v)| format!("λ_max {} at step {s}", fmt_num(v)));
            let tr = b.trace.last().map(|&(s, v, e)| format!("trace {} ± {} at step {s}", fmt_num(v), fmt_num(e)));
            out.key(format!("block {}", b.params), top.into_iter().chain(tr).collect::<Vec<_>>().join("; "));
        }
        if data.per_block.iter().filter(|b| !b.top.is_empty()).count() > 1 {
            out.series_figure(figures::block_top_eigenvalue(&data.per_block), "step", "eigenvalue")?;
        }
        if data.per_block.iter().filter(|b| !b.trace.is_empty()).count() > 1 {
            out.series_figure(figures::block_trace(&data.per_block), "step", "trace")?;
        }
    }
    if let Some(rows) = data.density.as_ref().filter(|r| !r.is_empty()) {
        out.series_figure(figures::density(rows), "lambda", "density")?;
        let grid = figures::density_grid(rows, DENSITY_COLUMNS);
        if grid.is_empty() {
            out.notes.push("the densities span no eigenvalue range: no density heatmap".into());
        } else {
            let table: Vec<DensityGridRow> =
                grid.iter().map(|&(step, lambda, log10_density)| DensityGridRow { step, lambda, log10_density }).collect();
            out.table("density_heatmap", &table)?;
            out.figure(figures::density_heatmap(&grid), "density_heatmap")?;
        }
    }
    Ok(())
}

/// Where the bottom end was computed (`hx-eigen --which smallest|both`):
/// lambda_min and |lambda_min| / lambda_max per checkpoint, as a table, two
/// figures and key numbers.
fn negative_curvature(data: &RunData, out: &mut Out<'_>) -> Result<()> {
    let Some(values) = data.eigenvalues.as_ref() else {
        return Ok(());
    };
    let first_of = |end: SpectrumEnd| -> BTreeMap<i64, f64> {
        values.iter().filter(|r| r.spectrum_end == end && r.rank == 0).map(|r| (r.step, r.eigenvalue)).collect()
    };
    let (top, bottom) = (first_of(SpectrumEnd::Top), first_of(SpectrumEnd::Bottom));
    if bottom.is_empty() {
        return Ok(());
    }
    let rows: Vec<NegativeCurvatureRow> = bottom
        .iter()
        .map(|(&step, &lambda_min)| {
            let lambda_max = top.get(&step).copied().unwrap_or(f64::NAN);
            NegativeCurvatureRow { step, lambda_max, lambda_min, ratio: lambda_min.abs() / lambda_max }
        })
        .collect();
    out.table("negative_curvature", &rows)?;
    let most = rows.iter().min_by(|a, b| a.lambda_min.total_cmp(&b.lambda_min)).expect("bottom is not empty");
    out.key("most negative eigenvalue", format!("{} at step {}", fmt_num(most.lambda_min), most.step));
    let ratios: Vec<&NegativeCurvatureRow> = rows.iter().filter(|r| r.ratio.is_finite()).collect();
    match (ratios.first(), ratios.last()) {
        (Some(a), Some(b)) if ratios.len() > 1 => out.key(
            "|λ_min| / λ_max, first → last checkpoint",
            format!("{} at step {} → {} at step {}", fmt_num(a.ratio), a.step, fmt_num(b.ratio), b.step),
        ),
        (Some(a), _) => out.key("|λ_min| / λ_max", format!("{} at step {}", fmt_num(a.ratio), a.step)),
        _ => out.notes.push("bottom eigenvalues without top ones (--which smallest): no |λ_min| / λ_max".into()),
    }
    let points: Vec<(i64, f64)> = rows.iter().map(|r| (r.step, r.lambda_min)).collect();
    out.figure(figures::lambda_min(&points), "negative_curvature")?;
    if !ratios.is_empty() {
        let points: Vec<(i64, f64)> = rows.iter().map(|r| (r.step, r.ratio)).collect();
        out.figure(figures::negative_curvature_ratio(&points), "negative_curvature")?;
    }
    Ok(())
}

fn training_figures(data: &RunData, out: &mut Out<'_>) -> Result<()> {
    let cps = data.checkpoints.as_deref().filter(|r| !r.is_empty());
    let log = data.train_log.as_deref().filter(|r| !r.is_empty());
    if cps.is_none() && log.is_none() {
        return Ok(());
    }
    if let Some(last) = cps.and_then(|c| c.iter().max_by_key(|r| r.step)) {
        out.key(
            format!(
                "held-out loss / accuracy at the last checkpoint (step {})",
                last.step
            ),
            format!(
                "{} / {}",
                fmt_num(last.heldout_loss),
                fmt_num(last.heldout_accuracy)
            ),
        );
        // A binary (single-logit) model, e.g. a click-through one: its loss is the log loss, and AUC is the ranking figure.
        let first = cps.and_then(|c| c.iter().min_by_key(|r| r.step)).filter(|f| f.heldout_auc.is_finite());
        if let Some(first) = first.filter(|_| last.heldout_auc.is_finite()) {
            out.key(
                format!("held-out AUC, step {} → {}", first.step, last.step),
                format!("{} → {}", fmt_num(first.heldout_auc), fmt_num(last.heldout_auc)),
            );
        }
    }
    out.series_figure(
        figures::training_curve(Metric::Loss, cps, log),
        "step",
        "loss",
    )?;
    out.series_figure(
        figures::training_curve(Metric::Accuracy, cps, log),
        "step",
        "accuracy",
    )?;
    if let Some(log) = log {
        let text = data.configs.iter().find(|(name, _)| name == "train.toml").map(|(_, t)| t.as_str());
        let rule = figures::StabilityRule::from_train_config(text);
        if let Some(fig) = figures::sharpness(log, rule) {
            let last = *figures::sharpness_rows(log).last().expect("a sharpness figure has an estimate");
            let value = match rule.threshold(last.lr) {
                Some(t) => format!("{} vs {} ({:.0}% of it)", fmt_num(last.sharpness), fmt_num(t), 100.0 * last.sharpness / t),
                None => format!("{} (no 2/lr threshold for an adaptive optimiser)", fmt_num(last.sharpness)),
            };
            out.key(format!("last sharpness estimate (step {}) vs edge-of-stability threshold", last.step), value);
            out.series_figure(fig, "step", "sharpness")?;
        }
    }
    Ok(())
}
