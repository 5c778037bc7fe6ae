//! Turning a [`Chart`] into pixels or SVG. Generic over the plotters
//! backend, so the PNG and the SVG of a figure come from the same code.

use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;

use crate::chart::{BarChart, Chart, Heatmap, LegendAt, LineChart, Mark, Scatter};
use crate::color::{fraction, viridis};
use crate::font::FAMILY;
use crate::format::fmt_num;

/// Why a chart could not be drawn.
pub(crate) enum Failure {
    /// Nothing finite to show.
    Empty(String),
    /// plotters failed.
    Plot(String),
}

type Drawn = Result<(), Failure>;

fn plot_err<E: std::fmt::Display>(e: E) -> Failure {
    Failure::Plot(e.to_string())
}

const TITLE_SIZE: u32 = 24;
const DESC_SIZE: u32 = 18;
const LABEL_SIZE: u32 = 14;

/// Draw `chart` onto `root` (already sized by the caller).
pub(crate) fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Drawn {
    root.fill(&WHITE).map_err(plot_err)?;
    match chart {
        Chart::Line(c) => line_chart(root, c)?,
        Chart::Bar(c) => bar_chart(root, c)?,
        Chart::Heatmap(c) => heatmap(root, c)?,
        Chart::Scatter(c) => scatter(root, c)?,
    }
    root.present().map_err(plot_err)
}

/// `[lo, hi]` of `values` widened by `pad` of its span (or by one unit when
/// the span is zero, so a constant curve still gets an axis).
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return None;
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let d = if lo.abs() > 0.0 { 0.1 * lo.abs() } else { 1.0 };
        return Some((lo - d, hi + d));
    }
    Some((lo - pad * span, hi + pad * span))
}

/// A tick label: key points computed in floating point land on values like
/// -1.1e-16 where 0 is meant; anything below 1e-9 of the axis span is 0.
fn tick(v: f64, span: f64) -> String {
    fmt_num(if v.abs() < 1e-9 * span.abs() { 0.0 } else { v })
}

fn legend_position(at: LegendAt) -> SeriesLabelPosition {
    match at {
        LegendAt::UpperRight => SeriesLabelPosition::UpperRight,
        LegendAt::UpperLeft => SeriesLabelPosition::UpperLeft,
        LegendAt::LowerRight => SeriesLabelPosition::LowerRight,
        LegendAt::LowerLeft => SeriesLabelPosition::LowerLeft,
    }
}

fn line_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &LineChart) -> Drawn {
    // A log axis is drawn as log10 of the data on a linear axis, with tick
    // labels mapped back: one coordinate type keeps one drawing path.
    let log = c.log_y;
    let ty = move |y: f64| {
        if log {
            (y > 0.0).then(|| y.log10())
        } else {
            Some(y)
        }
    };
    let log_x = c.log_x;
    let tx = move |x: f64| {
        if log_x {
            (x > 0.0).then(|| x.log10())
        } else {
            Some(x)
        }
    };
    struct Prepared {
        pts: Vec<(f64, f64)>,
        bars: Vec<(f64, f64, f64)>,
    }
    let prepared: Vec<Prepared> = c
        .series
        .iter()
        .map(|s| {
            let mut pts = Vec::new();
            let mut bars = Vec::new();
            for (i, &(x, y)) in s.points.iter().enumerate() {
                let (Some(x), Some(ty)) = (tx(x).filter(|v| v.is_finite()), ty(y).filter(|v| v.is_finite())) else {
                    continue;
                };
                pts.push((x, ty));
                let e = s
                    .y_err
                    .as_ref()
                    .and_then(|e| e.get(i))
                    .copied()
                    .unwrap_or(0.0);
                if !log && e.is_finite() && e > 0.0 {
                    bars.push((x, y - e, y + e));
                }
            }
            Prepared { pts, bars }
        })
        .collect();
    let xs = prepared.iter().flat_map(|p| p.pts.iter().map(|q| q.0));
    let Some((x0, x1)) = padded_range(xs, 0.02) else {
        return Err(Failure::Empty("no finite points in any series".into()));
    };
    let (y0, y1) = match c.y_range {
        Some((lo, hi)) => (ty(lo).unwrap_or(lo), ty(hi).unwrap_or(hi)),
        None => {
            let ys = prepared
                .iter()
                .flat_map(|p| {
                    p.pts
                        .iter()
                        .map(|q| q.1)
                        .chain(p.bars.iter().flat_map(|b| [b.1, b.2]))
                })
                .chain(c.hlines.iter().filter_map(|h| ty(h.0)));
            padded_range(ys, 0.06).expect("x range exists, so some y is finite")
        }
    };
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, (FAMILY, TITLE_SIZE))
        .margin(18)
        .x_label_area_size(58)
        .y_label_area_size(92)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    let y_fmt = move |v: &f64| {
        if log {
            fmt_num(10f64.powf(*v))
        } else {
            tick(*v, y1 - y0)
        }
    };
    let x_fmt = move |v: &f64| if log_x { fmt_num(10f64.powf(*v)) } else { tick(*v, x1 - x0) };
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_desc_style((FAMILY, DESC_SIZE))
        .label_style((FAMILY, LABEL_SIZE))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(plot_err)?;

    let mut labelled = 0;
    for (y, name) in &c.hlines {
        let Some(y) = ty(*y) else { continue };
        let style = ShapeStyle {
            color: BLACK.mix(0.6),
            filled: false,
            stroke_width: 1,
        };
        chart
            .draw_series(DashedLineSeries::new(vec![(x0, y), (x1, y)], 8, 5, style))
            .map_err(plot_err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 10, y)], style));
        labelled += 1;
    }
    for (s, p) in c.series.iter().zip(&prepared) {
        if p.pts.is_empty() {
            continue;
        }
        let style = ShapeStyle {
            color: s.color.mix(s.opacity),
            filled: false,
            stroke_width: s.width,
        };
        let dot = style.filled();
        let err_style = ShapeStyle {
            color: s.color.mix(s.opacity * 0.8),
            filled: false,
            stroke_width: 1,
        };
        chart
            .draw_series(
                p.bars
                    .iter()
                    .map(|&(x, lo, hi)| PathElement::new(vec![(x, lo), (x, hi)], err_style)),
            )
            .map_err(plot_err)?;
        let cap = |y: f64, x: f64| {
            EmptyElement::at((x, y)) + PathElement::new(vec![(-5, 0), (5, 0)], err_style)
        };
        chart
            .draw_series(
                p.bars
                    .iter()
                    .flat_map(|&(x, lo, hi)| [cap(lo, x), cap(hi, x)]),
            )
            .map_err(plot_err)?;
        if s.mark == Mark::LinePoints {
            chart
                .draw_series(p.pts.iter().map(|&q| Circle::new(q, 3, dot)))
                .map_err(plot_err)?;
        }
        let anno = match s.mark {
            Mark::Line | Mark::LinePoints => {
                chart.draw_series(LineSeries::new(p.pts.clone(), style))
            }
            Mark::Points => chart.draw_series(p.pts.iter().map(|&q| Circle::new(q, 3, dot))),
        }
        .map_err(plot_err)?;
        if let Some(name) = &s.name {
            labelled += 1;
            match s.mark {
                Mark::Points => anno
                    .label(name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, dot)),
                _ => anno
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)),
            };
        }
    }
    if labelled > 0 {
        chart
            .configure_series_labels()
            .position(legend_position(c.legend))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, LABEL_SIZE))
            .margin(10)
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

fn bar_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &BarChart) -> Drawn {
    let bars: Vec<(f64, f64)> = c
        .bars
        .iter()
        .copied()
        .filter(|(x, h)| x.is_finite() && h.is_finite())
        .collect();
    let Some((x0, x1)) = padded_range(bars.iter().map(|b| b.0), 0.0) else {
        return Err(Failure::Empty("no finite bars".into()));
    };
    let top = bars.iter().map(|b| b.1).fold(0.0f64, f64::max);
    let bottom = bars.iter().map(|b| b.1).fold(0.0f64, f64::min);
    let top = if top > bottom {
        top + 0.06 * (top - bottom)
    } else {
        1.0
    };
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, (FAMILY, TITLE_SIZE))
        .margin(18)
        .x_label_area_size(58)
        .y_label_area_size(92)
        .build_cartesian_2d((x0 - 0.6)..(x1 + 0.6), bottom..top)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&|v| {
            if v.fract().abs() < 1e-9 {
                fmt_num(*v)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| fmt_num(*v))
        .axis_desc_style((FAMILY, DESC_SIZE))
        .label_style((FAMILY, LABEL_SIZE))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(plot_err)?;
    let fill = c.color.filled();
    chart
        .draw_series(
            bars.iter()
                .map(|&(x, h)| Rectangle::new([(x - 0.4, 0.0), (x + 0.4, h)], fill)),
        )
        .map_err(plot_err)?
        .label(c.bar_name.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FAMILY, LABEL_SIZE))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// The label of cell `v` on an axis whose cells are centred on integers.
fn cell_label(v: f64, labels: &[String], reversed: bool) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 || i as usize >= labels.len() {
        return String::new();
    }
    let i = i as usize;
    labels[if reversed { labels.len() - 1 - i } else { i }].clone()
}

fn colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (lo, hi): (f64, f64),
    label: &str,
) -> Drawn {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let mut bar = ChartBuilder::on(area)
        .margin_top(70)
        .margin_bottom(76)
        .margin_left(6)
        .margin_right(4)
        .set_label_area_size(LabelAreaPosition::Right, 96)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(plot_err)?;
    const STEPS: usize = 128;
    bar.draw_series((0..STEPS).map(|k| {
        let a = lo + (hi - lo) * k as f64 / STEPS as f64;
        let b = lo + (hi - lo) * (k + 1) as f64 / STEPS as f64;
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            viridis(k as f64 / (STEPS - 1) as f64).filled(),
        )
    }))
    .map_err(plot_err)?;
    // Axis after the colours, so no label is painted over.
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        // Right-hand labels start a few pixels inside the bar (the first
        // glyph was hidden); leading spaces push them clear of it.
        .y_label_formatter(&|v| format!("  {}", tick(*v, hi - lo)))
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, LABEL_SIZE))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

fn heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Heatmap) -> Drawn {
    let nr = c.values.len();
    let nc = c.values.first().map_or(0, Vec::len);
    if nr == 0 || nc == 0 {
        return Err(Failure::Empty("empty matrix".into()));
    }
    let (w, _) = root.dim_in_pixel();
    let (main, side) = root.split_horizontally(w.saturating_sub(150));
    let mut chart = ChartBuilder::on(&main)
        .caption(&c.title, (FAMILY, TITLE_SIZE))
        .margin(18)
        .x_label_area_size(64)
        .y_label_area_size(110)
        .build_cartesian_2d(-0.5..nc as f64 - 0.5, -0.5..nr as f64 - 0.5)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(nc.min(10))
        .y_labels(nr.min(10))
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&|v| cell_label(*v, &c.col_labels, false))
        .y_label_formatter(&|v| cell_label(*v, &c.row_labels, true))
        .axis_desc_style((FAMILY, DESC_SIZE))
        .label_style((FAMILY, LABEL_SIZE))
        .draw()
        .map_err(plot_err)?;
    // One bitmap for the whole matrix: a few hundred vectors give ~10^5
    // cells, far too many SVG rectangles; as a bitmap the SVG embeds one PNG.
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let (lo, hi) = c.range;
    let mut buf = vec![0u8; (pw * ph * 3) as usize];
    for py in 0..ph as usize {
        let row = &c.values[(py * nr / ph as usize).min(nr - 1)];
        for px in 0..pw as usize {
            let v = row
                .get((px * nc / pw as usize).min(nc - 1))
                .copied()
                .unwrap_or(f64::NAN);
            let RGBColor(r, g, b) = if v.is_finite() {
                viridis(fraction(v, lo, hi))
            } else {
                RGBColor(255, 255, 255)
            };
            let k = 3 * (py * pw as usize + px);
            buf[k..k + 3].copy_from_slice(&[r, g, b]);
        }
    }
    let image = BitMapElement::with_owned_buffer((-0.5, nr as f64 - 0.5), (pw, ph), buf)
        .expect("buffer holds width x height RGB pixels");
    chart.plotting_area().draw(&image).map_err(plot_err)?;
    let line = ShapeStyle {
        color: WHITE.mix(0.9),
        filled: false,
        stroke_width: 1,
    };
    for &s in c.separators.iter().filter(|&&s| s > 0) {
        if s < nc {
            let x = s as f64 - 0.5;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, -0.5), (x, nr as f64 - 0.5)],
                    line,
                )))
                .map_err(plot_err)?;
        }
        if s < nr {
            let y = (nr - s) as f64 - 0.5;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(-0.5, y), (nc as f64 - 0.5, y)],
                    line,
                )))
                .map_err(plot_err)?;
        }
    }
    colorbar(&side, c.range, &c.colorbar_label)
}

fn scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Scatter) -> Drawn {
    let pts: Vec<_> = c
        .points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let (Some((x0, x1)), Some((y0, y1))) = (
        padded_range(pts.iter().map(|p| p.x), 0.08),
        padded_range(pts.iter().map(|p| p.y), 0.08),
    ) else {
        return Err(Failure::Empty("no finite points".into()));
    };
    let vrange = padded_range(pts.iter().map(|p| p.value), 0.0).unwrap_or((0.0, 1.0));
    let (vlo, vhi) = match pts
        .iter()
        .map(|p| p.value)
        .fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))
        }) {
        Some((a, b)) if b > a => (a, b),
        _ => vrange,
    };
    let (w, _) = root.dim_in_pixel();
    let (main, side) = root.split_horizontally(w.saturating_sub(150));
    let mut chart = ChartBuilder::on(&main)
        .caption(&c.title, (FAMILY, TITLE_SIZE))
        .margin(18)
        .x_label_area_size(58)
        .y_label_area_size(92)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&|v| tick(*v, x1 - x0))
        .y_label_formatter(&|v| tick(*v, y1 - y0))
        .axis_desc_style((FAMILY, DESC_SIZE))
        .label_style((FAMILY, LABEL_SIZE))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(plot_err)?;
    let groups = c
        .points
        .iter()
        .map(|p| p.group + 1)
        .max()
        .unwrap_or(0)
        .max(c.groups.len());
    let grey = RGBColor(90, 90, 90);
    for g in 0..groups {
        let members: Vec<((f64, f64), ShapeStyle)> = pts
            .iter()
            .filter(|p| p.group == g)
            .map(|p| {
                let color = viridis(fraction(p.value, vlo, vhi));
                // Shapes cycle every four groups; the second cycle is hollow.
                let style = if (g / 4) % 2 == 0 {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                ((p.x, p.y), style)
            })
            .collect();
        if members.is_empty() {
            continue;
        }
        let name = c
            .groups
            .get(g)
            .cloned()
            .unwrap_or_else(|| format!("group {g}"));
        let legend_style = if (g / 4) % 2 == 0 {
            grey.filled()
        } else {
            grey.stroke_width(2)
        };
        let anno = match g % 4 {
            0 => chart.draw_series(members.iter().map(|&(p, s)| Circle::new(p, 5, s))),
            1 => chart.draw_series(members.iter().map(|&(p, s)| {
                EmptyElement::at(p) + Polygon::new(vec![(0, -6), (-6, 5), (6, 5)], s)
            })),
            2 => chart.draw_series(
                members
                    .iter()
                    .map(|&(p, s)| EmptyElement::at(p) + Rectangle::new([(-5, -5), (5, 5)], s)),
            ),
            _ => chart.draw_series(
                members
                    .iter()
                    .map(|&(p, s)| Cross::new(p, 5, s.stroke_width(2))),
            ),
        }
        .map_err(plot_err)?;
        let anno = anno.label(name);
        match g % 4 {
            0 => anno.legend(move |(x, y)| Circle::new((x + 8, y), 5, legend_style)),
            1 => anno.legend(move |(x, y)| {
                EmptyElement::at((x + 8, y))
                    + Polygon::new(vec![(0, -6), (-6, 5), (6, 5)], legend_style)
            }),
            2 => anno.legend(move |(x, y)| {
                EmptyElement::at((x + 8, y)) + Rectangle::new([(-5, -5), (5, 5)], legend_style)
            }),
            _ => anno.legend(move |(x, y)| Cross::new((x + 8, y), 5, legend_style.stroke_width(2))),
        };
    }
    if groups > 0 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, LABEL_SIZE))
            .draw()
            .map_err(plot_err)?;
    }
    colorbar(&side, (vlo, vhi), &c.colorbar_label)
}
