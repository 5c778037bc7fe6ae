//! What a figure shows, as plain data: the analysis builds these, the
//! drawing code turns them into PNG and SVG. Keeping the description apart
//! from plotters lets the same chart go to both backends and keeps the
//! analysis code free of drawing calls.

use plotters::style::RGBColor;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A line through the points.
    Line,
    /// A line with a dot at every point.
    LinePoints,
    /// Dots only.
    Points,
}

/// One named series of a [`LineChart`].
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry; `None` keeps the series out of the legend.
    pub name: Option<String>,
    /// `(x, y)` points in drawing order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Half-length of an error bar at each point (same length as `points`).
    pub y_err: Option<Vec<f64>>,
    /// Line and marker colour.
    pub color: RGBColor,
    /// How the points are drawn.
    pub mark: Mark,
    /// Line width in pixels.
    pub width: u32,
    /// Opacity in `[0, 1]` (noisy per-batch curves are drawn faint).
    pub opacity: f64,
}

impl Series {
    /// A solid line-with-points series of width 2.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Series {
            name: Some(name.into()),
            points,
            y_err: None,
            color,
            mark: Mark::LinePoints,
            width: 2,
            opacity: 1.0,
        }
    }
    /// Change how the points are drawn.
    pub fn mark(mut self, mark: Mark) -> Self {
        self.mark = mark;
        self
    }
    /// Add symmetric error bars.
    pub fn errors(mut self, y_err: Vec<f64>) -> Self {
        self.y_err = Some(y_err);
        self
    }
    /// Change line width and opacity.
    pub fn faint(mut self, width: u32, opacity: f64) -> Self {
        self.width = width;
        self.opacity = opacity;
        self
    }
    /// Keep the series out of the legend.
    pub fn unnamed(mut self) -> Self {
        self.name = None;
        self
    }
}

/// Where the legend box goes inside the plotting area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegendAt {
    /// Top right corner.
    UpperRight,
    /// Top left corner.
    UpperLeft,
    /// Bottom right corner.
    LowerRight,
    /// Bottom left corner.
    LowerLeft,
}

/// Curves against a shared x axis.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Title above the chart.
    pub title: String,
    /// x axis description, with units.
    pub x_label: String,
    /// y axis description, with units.
    pub y_label: String,
    /// Logarithmic y axis (non-positive values are dropped).
    pub log_y: bool,
    /// Logarithmic x axis (points with non-positive x are dropped).
    pub log_x: bool,
    /// The curves.
    pub series: Vec<Series>,
    /// Dashed horizontal reference lines `(y, legend entry)`.
    pub hlines: Vec<(f64, String)>,
    /// Where the legend goes.
    pub legend: LegendAt,
    /// Fixed y range, instead of one fitted to the data.
    pub y_range: Option<(f64, f64)>,
}

impl LineChart {
    /// An empty linear chart with the legend at the upper right.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            log_x: false,
            series: Vec::new(),
            hlines: Vec::new(),
            legend: LegendAt::UpperRight,
            y_range: None,
        }
    }
}

/// Vertical bars at given x positions, optionally with a line on top (e.g.
/// explained variance per component and its running total).
#[derive(Debug, Clone)]
pub struct BarChart {
    /// Title above the chart.
    pub title: String,
    /// x axis description.
    pub x_label: String,
    /// y axis description.
    pub y_label: String,
    /// `(x, height)` of each bar; bars are 0.8 x-units wide.
    pub bars: Vec<(f64, f64)>,
    /// Bar colour.
    pub color: RGBColor,
    /// Legend entry for the bars.
    pub bar_name: String,
}

/// A matrix drawn as coloured cells, row 0 at the top, with a colour bar.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Title above the chart.
    pub title: String,
    /// x axis (column) description.
    pub x_label: String,
    /// y axis (row) description.
    pub y_label: String,
    /// Row-major cell values; all rows have the same length.
    pub values: Vec<Vec<f64>>,
    /// Value mapped to the low and high end of the colour map.
    pub range: (f64, f64),
    /// Tick label of each column.
    pub col_labels: Vec<String>,
    /// Tick label of each row.
    pub row_labels: Vec<String>,
    /// Colour bar description.
    pub colorbar_label: String,
    /// Draw thin white lines before these column/row indices (group borders).
    pub separators: Vec<usize>,
}

/// One point of a [`Scatter`].
#[derive(Debug, Clone, Copy)]
pub struct ScatterPoint {
    /// x coordinate.
    pub x: f64,
    /// y coordinate.
    pub y: f64,
    /// Value mapped to colour through the colour bar.
    pub value: f64,
    /// Marker group (index into [`Scatter::groups`]).
    pub group: usize,
}

/// Points coloured by a value (with a colour bar) and shaped by a group.
#[derive(Debug, Clone)]
pub struct Scatter {
    /// Title above the chart.
    pub title: String,
    /// x axis description.
    pub x_label: String,
    /// y axis description.
    pub y_label: String,
    /// The points.
    pub points: Vec<ScatterPoint>,
    /// Legend entry of each marker group.
    pub groups: Vec<String>,
    /// Colour bar description.
    pub colorbar_label: String,
}

/// Any figure hessx draws.
#[derive(Debug, Clone)]
pub enum Chart {
    /// Curves.
    Line(LineChart),
    /// Bars.
    Bar(BarChart),
    /// A coloured matrix.
    Heatmap(Heatmap),
    /// Coloured, shaped points.
    Scatter(Scatter),
}

impl Chart {
    /// The figure's title.
    pub fn title(&self) -> &str {
        match self {
            Chart::Line(c) => &c.title,
            Chart::Bar(c) => &c.title,
            Chart::Heatmap(c) => &c.title,
            Chart::Scatter(c) => &c.title,
        }
    }
    /// Canvas size in pixels: heatmaps are nearly square, the rest wide.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Chart::Heatmap(_) => (980, 860),
            Chart::Scatter(_) => (1060, 760),
            _ => (1000, 640),
        }
    }
}
