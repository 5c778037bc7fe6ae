//! hessx-plot: the figures a person looks at, as PNG and SVG.
//!
//! Charts are described as data ([`Chart`]: curves, bars, heatmaps, coloured
//! scatter plots) and drawn with plotters onto both a bitmap and an SVG
//! backend by one generic drawing path, with an embedded font so the output
//! is the same on every machine. [`save`] writes `<stem>.png` and
//! `<stem>.svg` atomically and hands back the bytes, so a report can embed
//! them without reading the files again.
//!
//! ```no_run
//! use hessx_plot::{Chart, LineChart, Series, color};
//! let mut c = LineChart::new("Top eigenvalue", "training step (batches)", "eigenvalue");
//! c.series.push(Series::new("rank 0", vec![(0.0, 12.0), (50.0, 9.5)], color::categorical(0)));
//! let fig = hessx_plot::save(&Chart::Line(c), std::path::Path::new("plots"), "eigenvalues").unwrap();
//! assert!(fig.png.starts_with(b"\x89PNG"));
//! ```
#![deny(missing_docs)]

pub mod chart;
pub mod color;
mod draw;
mod error;
pub mod font;
pub mod format;

use std::path::{Path, PathBuf};

use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};

pub use chart::{
    BarChart, Chart, Heatmap, LegendAt, LineChart, Mark, Scatter, ScatterPoint, Series,
};
pub use error::{Error, Result};
pub use format::{fmt_num, log_floor};
/// The colour type of [`Series`] and [`BarChart`].
pub use plotters::style::RGBColor;

/// A figure written to disk, with its contents.
#[derive(Debug, Clone)]
pub struct SavedFigure {
    /// Where the PNG went.
    pub png_path: PathBuf,
    /// Where the SVG went.
    pub svg_path: PathBuf,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// The SVG document.
    pub svg: String,
}

fn failure(chart: &Chart, f: draw::Failure) -> Error {
    let title = chart.title().to_owned();
    match f {
        draw::Failure::Empty(message) => Error::NothingToDraw { title, message },
        draw::Failure::Plot(message) => Error::Draw { title, message },
    }
}

/// Draw `chart` as an SVG document.
pub fn render_svg(chart: &Chart) -> Result<String> {
    font::ensure_registered()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, chart.size()).into_drawing_area();
        draw::draw(&root, chart).map_err(|f| failure(chart, f))?;
    }
    Ok(svg)
}

/// Draw `chart` as a PNG file's bytes. plotters only encodes PNG into a file,
/// so the image goes through a temporary file in `scratch_dir`.
pub fn render_png(chart: &Chart, scratch_dir: &Path) -> Result<Vec<u8>> {
    font::ensure_registered()?;
    std::fs::create_dir_all(scratch_dir).map_err(|source| Error::Io {
        path: scratch_dir.to_owned(),
        source,
    })?;
    // The extension must stay `.png`: the encoder picks the format from it.
    let thread = format!("{:?}", std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let tmp = scratch_dir.join(format!(".render-{}-{thread}.tmp.png", std::process::id()));
    let drawn = (|| {
        let root = BitMapBackend::new(&tmp, chart.size()).into_drawing_area();
        draw::draw(&root, chart).map_err(|f| failure(chart, f))?;
        drop(root);
        std::fs::read(&tmp).map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })
    })();
    let _ = std::fs::remove_file(&tmp);
    drawn
}

/// Draw `chart` and write `dir/<stem>.png` and `dir/<stem>.svg` atomically.
pub fn save(chart: &Chart, dir: &Path, stem: &str) -> Result<SavedFigure> {
    let png = render_png(chart, dir)?;
    let svg = render_svg(chart)?;
    let png_path = dir.join(format!("{stem}.png"));
    let svg_path = dir.join(format!("{stem}.svg"));
    hessx_store::write_bytes_atomic(&png_path, &png)?;
    hessx_store::write_bytes_atomic(&svg_path, svg.as_bytes())?;
    Ok(SavedFigure {
        png_path,
        svg_path,
        png,
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Chart {
        let mut c = LineChart::new("Loss", "training step (batches)", "cross-entropy (nats)");
        c.series.push(
            Series::new(
                "train",
                vec![(0.0, 2.3), (10.0, 1.1), (20.0, 0.7)],
                color::categorical(0),
            )
            .errors(vec![0.1, 0.1, 0.05]),
        );
        c.hlines.push((1.0, "reference".into()));
        Chart::Line(c)
    }

    #[test]
    fn every_chart_kind_saves_valid_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let heat = Chart::Heatmap(Heatmap {
            title: "h".into(),
            x_label: "col".into(),
            y_label: "row".into(),
            values: vec![vec![1.0, 0.2, 0.0], vec![0.2, 1.0, 0.5]],
            range: (0.0, 1.0),
            col_labels: vec!["a".into(), "b".into(), "c".into()],
            row_labels: vec!["x".into(), "y".into()],
            colorbar_label: "|cos|".into(),
            separators: vec![1],
        });
        let bar = Chart::Bar(BarChart {
            title: "b".into(),
            x_label: "component".into(),
            y_label: "ratio".into(),
            bars: vec![(1.0, 0.7), (2.0, 0.3)],
            color: color::categorical(0),
            bar_name: "explained".into(),
        });
        let scatter = Chart::Scatter(Scatter {
            title: "s".into(),
            x_label: "PC1".into(),
            y_label: "PC2".into(),
            points: (0..10)
                .map(|i| ScatterPoint {
                    x: i as f64,
                    y: (i * i) as f64,
                    value: i as f64,
                    group: i % 5,
                })
                .collect(),
            groups: (0..5).map(|g| format!("rank {g}")).collect(),
            colorbar_label: "step".into(),
        });
        let mut log = LineChart::new("density", "eigenvalue", "density");
        log.log_y = true;
        log.series.push(
            Series::new(
                "s",
                vec![(0.0, 1e-8), (1.0, 1.0), (2.0, 0.0)],
                color::viridis(0.3),
            )
            .mark(Mark::Line),
        );
        let mut log_x = LineChart::new("spread", "top eigenvalue", "accuracy drop");
        log_x.log_x = true;
        log_x.series.push(Series::new("s", vec![(-1.0, 3.0), (10.0, 1.0), (1000.0, 2.0)], color::viridis(0.6)).mark(Mark::Points));
        // Only non-positive x on a log axis: nothing to draw, said so.
        let mut nothing = LineChart::new("none", "x", "y");
        nothing.log_x = true;
        nothing.series.push(Series::new("s", vec![(0.0, 1.0), (-2.0, 1.0)], color::viridis(0.6)));
        let err = save(&Chart::Line(nothing), dir.path(), "none").unwrap_err().to_string();
        assert!(err.contains("no finite points"), "{err}");
        for (i, chart) in [line(), heat, bar, scatter, Chart::Line(log), Chart::Line(log_x)]
            .iter()
            .enumerate()
        {
            let fig = save(chart, dir.path(), &format!("f{i}")).unwrap();
            assert!(fig.png.starts_with(b"\x89PNG\r\n\x1a\n"), "chart {i}");
            assert!(
                fig.svg.starts_with("<svg") && fig.svg.trim_end().ends_with("</svg>"),
                "chart {i}"
            );
            assert_eq!(std::fs::read(&fig.png_path).unwrap(), fig.png);
            assert!(
                fig.svg.contains(chart.title()),
                "the title is drawn as text"
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            left.iter().all(|n| !n.contains("tmp")),
            "no temporary files remain: {left:?}"
        );
    }

    #[test]
    fn a_chart_without_finite_points_is_an_error_naming_it() {
        let mut c = LineChart::new("Empty one", "x", "y");
        c.series.push(Series::new(
            "nan",
            vec![(0.0, f64::NAN)],
            color::categorical(0),
        ));
        let err = render_svg(&Chart::Line(c)).unwrap_err().to_string();
        assert!(
            err.contains("Empty one") && err.contains("no finite points"),
            "{err}"
        );
    }
}
