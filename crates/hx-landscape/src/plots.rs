//! Figures of a finished surface, drawn from its tables (so a redraw never
//! recomputes a point): 1D loss and accuracy curves; for 2D surfaces the
//! contour lines (`--vmin --vmax --vlevel`, as the seed's `plot_2D.py`),
//! with the trajectory on top when there is one, and a filled heatmap.
//!
//! Contour lines are traced by marching squares on the grid and drawn as
//! line segments through `hessx-plot`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hessx_plot::{Chart, Heatmap, LineChart, Mark, Series, color, fmt_num};
use hessx_store::landscape::{CurvatureRow, LandscapeDir, SurfaceRow, TrajectoryRow};
use hessx_store::tables::read_rows;

use crate::error::{Error, Result};
use crate::grid::Grid;

/// How figures are drawn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlotOptions {
    /// Lowest contour level (default: the minimum).
    pub vmin: Option<f64>,
    /// Highest contour level (default: the maximum).
    pub vmax: Option<f64>,
    /// Contour spacing (default: 15 levels).
    pub vlevel: Option<f64>,
    /// VTK: clip heights at this loss.
    pub zmax: Option<f64>,
    /// VTK: log of the loss as height.
    pub log: bool,
}

/// The surface's values on one split as a `ny x nx` matrix (row = y index).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// x coordinates.
    pub xs: Vec<f64>,
    /// y coordinates.
    pub ys: Vec<f64>,
    /// `values[j][i]` at `(xs[i], ys[j])`.
    pub values: Vec<Vec<f64>>,
}

/// Loss and accuracy fields of every split in the surface table.
pub fn fields(rows: &[SurfaceRow], grid: Grid) -> BTreeMap<String, (Field, Field)> {
    let xs = grid.x.values();
    let ys = grid.y.map_or_else(|| vec![0.0], |y| y.values());
    let mut out: BTreeMap<String, (Field, Field)> = BTreeMap::new();
    for r in rows {
        let entry = out.entry(r.split.clone()).or_insert_with(|| {
            let empty = Field { xs: xs.clone(), ys: ys.clone(), values: vec![vec![f64::NAN; xs.len()]; ys.len()] };
            (empty.clone(), empty)
        });
        let (i, j) = (r.point as usize % xs.len(), r.point as usize / xs.len());
        if j < ys.len() {
            entry.0.values[j][i] = r.loss;
            entry.1.values[j][i] = r.accuracy;
        }
    }
    out
}

/// Contour levels: from `vmin` to `vmax` every `vlevel` (or 15 levels).
pub fn levels(field: &Field, opts: &PlotOptions) -> Vec<f64> {
    let finite = field.values.iter().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = (opts.vmin.unwrap_or(lo), opts.vmax.unwrap_or(hi));
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    let step = opts.vlevel.filter(|s| *s > 0.0).unwrap_or((hi - lo) / 15.0);
    let n = (((hi - lo) / step).floor() as usize).min(200);
    (0..=n).map(|k| lo + k as f64 * step).collect()
}

/// Segments of the level-`level` contour of `field` (marching squares, with
/// the midpoint rule for saddles).
pub fn contour_segments(field: &Field, level: f64) -> Vec<[(f64, f64); 2]> {
    let (xs, ys, v) = (&field.xs, &field.ys, &field.values);
    let mut out = Vec::new();
    for j in 0..ys.len().saturating_sub(1) {
        for i in 0..xs.len().saturating_sub(1) {
            // Corners counter-clockwise from (i, j).
            let c = [(xs[i], ys[j], v[j][i]), (xs[i + 1], ys[j], v[j][i + 1]), (xs[i + 1], ys[j + 1], v[j + 1][i + 1]), (xs[i], ys[j + 1], v[j + 1][i])];
            if c.iter().any(|p| !p.2.is_finite()) {
                continue;
            }
            let mut crossings = Vec::with_capacity(4);
            for k in 0..4 {
                let (a, b) = (c[k], c[(k + 1) % 4]);
                if (a.2 < level) != (b.2 < level) {
                    let t = (level - a.2) / (b.2 - a.2);
                    crossings.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
                }
            }
            match crossings.len() {
                2 => out.push([crossings[0], crossings[1]]),
                4 => {
                    let centre = c.iter().map(|p| p.2).sum::<f64>() / 4.0;
                    // Edges 0-1 and 2-3 join when the centre is on the same side as corner 0's complement.
                    if (centre < level) == (c[0].2 < level) {
                        out.push([crossings[0], crossings[3]]);
                        out.push([crossings[1], crossings[2]]);
                    } else {
                        out.push([crossings[0], crossings[1]]);
                        out.push([crossings[2], crossings[3]]);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Draw every figure of the surface in `dir` and return the files written.
pub fn draw(dir: &LandscapeDir, grid: Grid, title: &str, opts: &PlotOptions) -> Result<Vec<PathBuf>> {
    let rows: Vec<SurfaceRow> = read_rows(&dir.surface())?;
    let plots = dir.plots_dir();
    let mut written = Vec::new();
    let all = fields(&rows, grid);
    if all.is_empty() {
        return Err(Error::mismatch(dir.surface(), "has no rows to draw"));
    }
    if dir.curvature().exists() {
        written.extend(draw_curvature(dir, grid, title)?);
    }
    if grid.y.is_none() {
        let mut loss = LineChart::new(format!("{title}: loss"), "x (along the direction)", "loss");
        let mut acc = LineChart::new(format!("{title}: accuracy"), "x (along the direction)", "accuracy");
        for (k, (split, (l, a))) in all.iter().enumerate() {
            let pts = |f: &Field| f.xs.iter().zip(&f.values[0]).map(|(x, y)| (*x, *y)).collect::<Vec<_>>();
            loss.series.push(Series::new(format!("{split} loss"), pts(l), color::categorical(k)).mark(Mark::Line));
            acc.series.push(Series::new(format!("{split} accuracy"), pts(a), color::categorical(k)).mark(Mark::Line));
        }
        for (chart, stem) in [(loss, "1d_loss"), (acc, "1d_accuracy")] {
            let fig = hessx_plot::save(&Chart::Line(chart), &plots, stem)?;
            written.extend([fig.png_path, fig.svg_path]);
        }
        return Ok(written);
    }
    let trajectory: Option<Vec<TrajectoryRow>> = if dir.trajectory().exists() { Some(read_rows(&dir.trajectory())?) } else { None };
    for (split, (loss, _)) in &all {
        let lv = levels(loss, opts);
        let mut chart = LineChart::new(format!("{title}: {split} loss contours"), "x", "y");
        let (lo, hi) = (lv.first().copied().unwrap_or(0.0), lv.last().copied().unwrap_or(1.0));
        for &level in &lv {
            let c = color::viridis(color::fraction(level, lo, hi));
            for seg in contour_segments(loss, level) {
                chart.series.push(Series::new("", seg.to_vec(), c).mark(Mark::Line).faint(1, 1.0).unnamed());
            }
        }
        // The grid's corners fix the drawn area to the surface.
        let (x0, x1) = (loss.xs[0], *loss.xs.last().expect("axis"));
        let (y0, y1) = (loss.ys[0], *loss.ys.last().expect("axis"));
        chart.series.push(Series::new("", vec![(x0, y0), (x1, y1)], color::categorical(7)).mark(Mark::Points).faint(1, 0.0).unnamed());
        if let (Some(lvl), Some(hi_lvl)) = (lv.first(), lv.last()) {
            chart.series.push(
                Series::new(format!("levels {} .. {} (step {})", fmt_num(*lvl), fmt_num(*hi_lvl), fmt_num(lv.get(1).map_or(0.0, |b| b - lvl))), vec![(f64::NAN, f64::NAN)], color::viridis(0.5))
                    .mark(Mark::Line),
            );
        }
        if let Some(t) = &trajectory {
            let pts: Vec<(f64, f64)> = t.iter().map(|r| (r.x, r.y)).collect();
            let name = match t.first() {
                Some(r) if r.explained_x.is_finite() => {
                    format!("trajectory (PC1 {:.1}%, PC2 {:.1}%)", 100.0 * r.explained_x, 100.0 * r.explained_y)
                }
                _ => "trajectory".into(),
            };
            chart.series.push(Series::new(name, pts, color::categorical(3)).mark(Mark::LinePoints));
        }
        chart.y_range = Some((y0, y1));
        let fig = hessx_plot::save(&Chart::Line(chart), &plots, &format!("2d_contour_{split}_loss"))?;
        written.extend([fig.png_path, fig.svg_path]);
        let (vmin, vmax) = (opts.vmin.unwrap_or(lo), opts.vmax.unwrap_or(hi));
        let heat = Heatmap {
            title: format!("{title}: {split} loss"),
            x_label: "x".into(),
            y_label: "y".into(),
            // Row 0 is drawn at the top: highest y first.
            values: loss.values.iter().rev().cloned().collect(),
            range: (vmin, vmax),
            col_labels: loss.xs.iter().map(|v| fmt_num(*v)).collect(),
            row_labels: loss.ys.iter().rev().map(|v| fmt_num(*v)).collect(),
            colorbar_label: "loss".into(),
            separators: Vec::new(),
        };
        let fig = hessx_plot::save(&Chart::Heatmap(heat), &plots, &format!("2d_heatmap_{split}_loss"))?;
        written.extend([fig.png_path, fig.svg_path]);
    }
    Ok(written)
}

/// The curvature map: lambda_max, lambda_min and |lambda_min / lambda_max|
/// over the grid (curves for a 1D surface).
fn draw_curvature(dir: &LandscapeDir, grid: Grid, title: &str) -> Result<Vec<PathBuf>> {
    let rows: Vec<CurvatureRow> = read_rows(&dir.curvature())?;
    let xs = grid.x.values();
    let ys = grid.y.map_or_else(|| vec![0.0], |y| y.values());
    let quantities: [(&str, &str, fn(&CurvatureRow) -> f64); 3] = [
        ("lambda_max", "largest Hessian eigenvalue", |r| r.lambda_max),
        ("lambda_min", "smallest Hessian eigenvalue", |r| r.lambda_min),
        ("eigen_ratio", "|lambda_min / lambda_max|", |r| r.ratio),
    ];
    let mut written = Vec::new();
    for (stem, label, value) in quantities {
        let mut field = vec![vec![f64::NAN; xs.len()]; ys.len()];
        for r in &rows {
            let (i, j) = (r.point as usize % xs.len(), r.point as usize / xs.len());
            if j < ys.len() {
                field[j][i] = value(r);
            }
        }
        let chart = if grid.y.is_none() {
            let mut c = LineChart::new(format!("{title}: {label}"), "x (along the direction)", label);
            c.series.push(Series::new(label, xs.iter().copied().zip(field[0].iter().copied()).collect(), color::categorical(0)).mark(Mark::Line));
            Chart::Line(c)
        } else {
            let finite = field.iter().flatten().copied().filter(|v| v.is_finite());
            let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
            Chart::Heatmap(Heatmap {
                title: format!("{title}: {label}"),
                x_label: "x".into(),
                y_label: "y".into(),
                values: field.into_iter().rev().collect(),
                range: if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) },
                col_labels: xs.iter().map(|v| fmt_num(*v)).collect(),
                row_labels: ys.iter().rev().map(|v| fmt_num(*v)).collect(),
                colorbar_label: label.into(),
                separators: Vec::new(),
            })
        };
        let fig = hessx_plot::save(&chart, &dir.plots_dir(), &format!("curvature_{stem}"))?;
        written.extend([fig.png_path, fig.svg_path]);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contours_of_a_plane_are_straight_lines_at_the_right_place() {
        // f(x, y) = x on a 5x5 grid over [-1, 1]^2: the 0.3 level is the line x = 0.3.
        let xs: Vec<f64> = (0..5).map(|i| -1.0 + 0.5 * i as f64).collect();
        let field = Field { xs: xs.clone(), ys: xs.clone(), values: xs.iter().map(|_| xs.clone()).collect() };
        let segs = contour_segments(&field, 0.3);
        assert_eq!(segs.len(), 4, "one segment per row of cells");
        assert!(segs.iter().flatten().all(|p| (p.0 - 0.3).abs() < 1e-12));
        let lv = levels(&field, &PlotOptions { vmin: Some(-1.0), vmax: Some(1.0), vlevel: Some(0.5), ..Default::default() });
        assert_eq!(lv, [-1.0, -0.5, 0.0, 0.5, 1.0]);
    }

    #[test]
    fn a_bowl_gives_closed_rings() {
        // f = x^2 + y^2: the level-0.5 contour stays at radius sqrt(0.5) within the grid's linear error.
        let xs: Vec<f64> = (0..41).map(|i| -1.0 + 0.05 * i as f64).collect();
        let values = xs.iter().map(|y| xs.iter().map(|x| x * x + y * y).collect()).collect();
        let field = Field { xs: xs.clone(), ys: xs, values };
        let segs = contour_segments(&field, 0.5);
        assert!(segs.len() > 40);
        for p in segs.iter().flatten() {
            assert!(((p.0 * p.0 + p.1 * p.1).sqrt() - 0.5f64.sqrt()).abs() < 2e-3, "{p:?}");
        }
    }
}
