//! The answer, drawn: from a finished sweep's tables, the rank correlations
//! between accuracy drop and each curvature measure (`correlations.parquet`),
//! scatter plots, corruption x severity heatmaps, the densities of clean
//! against the strongest severity per family, and `robustness.html`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use hessx_data::Corruption;
use hessx_plot::{Chart, Heatmap, LegendAt, LineChart, Mark, RGBColor, Series, fmt_num};
use hessx_pipeline::config::load_stage_config;
use hessx_store::robustness::{CellDensityRow, CellRow, CorrelationRow, SweepDir};
use hessx_store::tables::{read_rows_with_identity, write_rows};
use hessx_store::{RunIdentity, write_bytes_atomic};

use crate::cells::{FAMILIES, family};
use crate::stats::{RankCorrelation, spearman};
use crate::sweep::SavedSettings;
use crate::{Error, Result};

/// One finished cell: its identity columns and its row.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The corruption (`none` for clean).
    pub corruption: String,
    /// Its severity (0 for clean).
    pub severity: u8,
    /// What was measured.
    pub row: CellRow,
}

/// The curvature measures correlated with the accuracy drop: column name, label, value.
pub const MEASURES: [(&str, &str, fn(&CellRow) -> f64); 3] = [
    ("lambda_max", "top Hessian eigenvalue", |r| r.lambda_max),
    ("trace", "Hessian trace", |r| r.trace),
    ("negative_mass", "share of the spectral density below 0", |r| r.negative_mass),
];

/// Every finished cell of `dir`, clean first, then by family, corruption and severity.
pub fn read_cells(dir: &SweepDir) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for path in SweepDir::tables_in(&dir.cells_dir())? {
        let (identity, rows) = read_rows_with_identity::<CellRow>(&path)?;
        if let (Some(identity), Some(row)) = (identity, rows.into_iter().next()) {
            out.push(Measured { corruption: identity.corruption, severity: identity.severity, row });
        }
    }
    out.sort_by_key(|m| (order(&m.corruption), m.severity));
    Ok(out)
}

/// Position of a corruption in the figures: clean, then family by family.
fn order(corruption: &str) -> usize {
    FAMILIES.iter().flat_map(|(_, members)| members.iter()).position(|m| *m == corruption).map_or(0, |p| p + 1)
}

/// A colour per corruption: twenty distinct ones (tab20), grouped in hue by family order.
fn corruption_color(corruption: &str) -> RGBColor {
    const TAB20: [(u8, u8, u8); 20] = [
        (31, 119, 180), (174, 199, 232), (255, 127, 14), (255, 187, 120), (44, 160, 44),
        (152, 223, 138), (214, 39, 40), (255, 152, 150), (148, 103, 189), (197, 176, 213),
        (140, 86, 75), (196, 156, 148), (227, 119, 194), (247, 182, 210), (127, 127, 127),
        (199, 199, 199), (188, 189, 34), (219, 219, 141), (23, 190, 207), (158, 218, 229),
    ];
    if corruption == "none" {
        return RGBColor(0, 0, 0);
    }
    let (r, g, b) = TAB20[(order(corruption) - 1) % TAB20.len()];
    RGBColor(r, g, b)
}

/// The rank correlation of the accuracy drop with each measure over the corrupted cells.
pub fn correlations(cells: &[Measured]) -> Vec<(&'static str, RankCorrelation)> {
    let corrupted: Vec<&Measured> = cells.iter().filter(|m| m.corruption != "none").collect();
    let drop: Vec<f64> = corrupted.iter().map(|m| -m.row.accuracy).collect();
    MEASURES.iter().map(|(name, _, value)| (*name, spearman(&drop, &corrupted.iter().map(|m| value(&m.row)).collect::<Vec<_>>()))).collect()
}

/// Draw the figures, write `correlations.parquet` and the page of the finished sweep in `dir`.
pub fn draw(dir: &SweepDir) -> Result<PathBuf> {
    let saved: SavedSettings = load_stage_config(&dir.settings())?;
    let cells = read_cells(dir)?;
    let clean = cells.iter().find(|m| m.corruption == "none").ok_or_else(|| {
        Error::Input(format!("{}: the clean cell is missing; finish the sweep (run it again) before drawing", dir.cells_dir().display()))
    })?;
    let id = &saved.settings_id;
    let corr = correlations(&cells);
    let rows: Vec<CorrelationRow> = corr
        .iter()
        .map(|(measure, c)| CorrelationRow {
            settings_id: id.clone(),
            measure: (*measure).to_owned(),
            cells: c.n as i64,
            spearman: c.rho,
            ci_low: c.low,
            ci_high: c.high,
        })
        .collect();
    let identity = RunIdentity::new(&saved.run, &saved.settings.model, &saved.settings.dataset, "all", 0);
    write_rows(&dir.correlations(), &identity, &rows)?;

    let plots = dir.plots_dir();
    let mut figures: Vec<(String, String)> = Vec::new();
    let mut save = |chart: Chart, stem: &str, caption: String| -> Result<()> {
        hessx_plot::save(&chart, &plots, stem)?;
        figures.push((stem.to_owned(), caption));
        Ok(())
    };
    for ((name, label, value), (_, c)) in MEASURES.iter().zip(&corr) {
        let (chart, caption) = scatter(&cells, clean, name, label, *value, c);
        save(chart, &format!("drop_vs_{name}"), caption)?;
    }
    let heatmaps: [(&str, &str, Box<dyn Fn(&Measured) -> f64>); 3] = [
        ("accuracy_drop", "accuracy drop (percentage points)", Box::new(|m| 100.0 * (clean.row.accuracy - m.row.accuracy))),
        ("lambda_max", "top Hessian eigenvalue", Box::new(|m| m.row.lambda_max)),
        ("trace", "Hessian trace", Box::new(|m| m.row.trace)),
    ];
    for (stem, label, value) in &heatmaps {
        if let Some(chart) = heatmap(&cells, label, value.as_ref()) {
            let caption = format!(
                "{label} per corruption (rows, by family: noise, blur, weather, digital) and severity (columns); the clean cell reads {}.",
                fmt_num(value(clean))
            );
            save(chart, &format!("heatmap_{stem}"), caption)?;
        }
    }
    for (fam, _) in FAMILIES {
        if let Some((chart, caption)) = family_densities(dir, &cells, fam)? {
            save(chart, &format!("density_{fam}"), caption)?;
        }
    }
    let page = dir.page();
    write_bytes_atomic(&page, html(&saved, &cells, clean, &corr, &figures).as_bytes())?;
    Ok(page)
}

fn scatter(cells: &[Measured], clean: &Measured, name: &str, label: &str, value: fn(&CellRow) -> f64, c: &RankCorrelation) -> (Chart, String) {
    let title = format!("Accuracy drop against {label}: Spearman rho {} [{}, {}]", fmt_num(c.rho), fmt_num(c.low), fmt_num(c.high));
    let mut chart = LineChart::new(title, label.to_owned(), "accuracy drop (percentage points)");
    // Accuracy drop grows with curvature here, so the lower right is where the points are not.
    chart.legend = LegendAt::LowerRight;
    let mut by_corruption: BTreeMap<usize, (String, Vec<(f64, f64)>)> = BTreeMap::new();
    for m in cells {
        let point = (value(&m.row), 100.0 * (clean.row.accuracy - m.row.accuracy));
        by_corruption.entry(order(&m.corruption)).or_insert_with(|| (m.corruption.clone(), Vec::new())).1.push(point);
    }
    // Curvature can span orders of magnitude across severities: then (every value positive, the largest
    // 20 times the smallest or more) a log axis, or the mild cells pile up at the left edge.
    let xs: Vec<f64> = by_corruption.values().flat_map(|(_, p)| p.iter().map(|&(x, _)| x)).filter(|x| x.is_finite()).collect();
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    chart.log_x = lo > 0.0 && hi >= 20.0 * lo;
    if chart.log_x {
        chart.x_label = format!("{label} (log scale)");
    }
    for (corruption, points) in by_corruption.into_values() {
        let shown = if corruption == "none" { "clean".to_owned() } else { corruption.clone() };
        chart.series.push(Series::new(shown, points, corruption_color(&corruption)).mark(Mark::Points));
    }
    let caption = format!(
        "One point per cell, coloured by corruption (severities 1 to 5 of one corruption share a colour; the clean cell is black at 0). \
         Spearman's rho between accuracy drop and {name} over the {} corrupted cells: {} (95% interval {} to {}). Table: correlations.parquet.",
        c.n,
        fmt_num(c.rho),
        fmt_num(c.low),
        fmt_num(c.high)
    );
    (Chart::Line(chart), caption)
}

fn heatmap(cells: &[Measured], label: &str, value: &dyn Fn(&Measured) -> f64) -> Option<Chart> {
    let mut corruptions: Vec<&str> = Vec::new();
    let mut severities: Vec<u8> = Vec::new();
    for m in cells.iter().filter(|m| m.corruption != "none") {
        if !corruptions.contains(&m.corruption.as_str()) {
            corruptions.push(&m.corruption);
        }
        if !severities.contains(&m.severity) {
            severities.push(m.severity);
        }
    }
    severities.sort();
    if corruptions.is_empty() {
        return None;
    }
    let values: Vec<Vec<f64>> = corruptions
        .iter()
        .map(|c| {
            severities
                .iter()
                .map(|s| cells.iter().find(|m| m.corruption == *c && m.severity == *s).map_or(f64::NAN, value))
                .collect()
        })
        .collect();
    let finite = values.iter().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let range = if lo < hi { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    Some(Chart::Heatmap(Heatmap {
        title: format!("{label} per corruption and severity"),
        x_label: "severity".into(),
        y_label: "corruption".into(),
        values,
        range,
        col_labels: severities.iter().map(|s| s.to_string()).collect(),
        row_labels: corruptions.iter().map(|c| c.to_string()).collect(),
        colorbar_label: label.to_owned(),
        separators: Vec::new(),
    }))
}

fn family_densities(dir: &SweepDir, cells: &[Measured], fam: &str) -> Result<Option<(Chart, String)>> {
    let members: Vec<&Measured> = cells.iter().filter(|m| family(&m.corruption) == fam).collect();
    let Some(top) = members.iter().map(|m| m.severity).max() else {
        return Ok(None);
    };
    let mut chart = LineChart::new(
        format!("Spectral density: clean against {fam} corruptions at severity {top}"),
        "eigenvalue",
        "density (log scale)",
    );
    chart.log_y = true;
    let shown = std::iter::once(("none", 0)).chain(members.iter().filter(|m| m.severity == top).map(|m| (m.corruption.as_str(), m.severity)));
    let mut curves = Vec::new();
    for (corruption, severity) in shown {
        let (_, rows) = read_rows_with_identity::<CellDensityRow>(&dir.cell_density(corruption, severity))?;
        let points: Vec<(f64, f64)> = rows.iter().filter(|r| r.lambda.is_finite() && r.density.is_finite()).map(|r| (r.lambda, r.density)).collect();
        curves.push((corruption, points));
    }
    // Kernel tails underflow towards 0, which a log axis cannot show: the same floor as hx-analyze's densities.
    let floor = hessx_plot::log_floor(curves.iter().flat_map(|(_, p)| p.iter().map(|&(_, d)| d)).fold(0.0f64, f64::max));
    for (corruption, points) in curves {
        let name = if corruption == "none" { "clean".to_owned() } else { corruption.to_owned() };
        let points = points.into_iter().map(|(l, d)| (l, d.max(floor))).collect();
        chart.series.push(Series::new(name, points, corruption_color(corruption)).mark(Mark::Line));
    }
    let caption = format!(
        "Gaussian-smoothed density of the Hessian's eigenvalues (one stochastic Lanczos run per cell) on the clean images and on each {fam} \
         corruption at severity {top}; values below 1e-10 of the peak are drawn at that floor. Tables: robustness_density in hx-query."
    );
    Ok(Some((Chart::Line(chart), caption)))
}

fn html(saved: &SavedSettings, cells: &[Measured], clean: &Measured, corr: &[(&str, RankCorrelation)], figures: &[(String, String)]) -> String {
    let s = &saved.settings;
    let mut h = String::new();
    let seconds: f64 = cells.iter().map(|m| m.row.seconds).sum();
    let products: i64 = cells.iter().map(|m| m.row.hvps).sum();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Robustness sweep {id}</title><style>\
         body{{font-family:sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#222}}\
         img{{max-width:100%;height:auto;border:1px solid #ddd}}figure{{margin:2em 0}}\
         table{{border-collapse:collapse;font-size:90%}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
         th{{background:#f3f3f3}}td:first-child{{text-align:left}}</style></head><body>\
         <h1>Robustness: curvature against accuracy</h1>\
         <p>Run <b>{run}</b> ({model} on {dataset}), checkpoint step {step} (sha256 {sha}). {n} cells: clean and {corrupted} corruption x severity \
         cells, each measured on {examples} test images, its Hessian on {hessian} of them over {params} parameters. One Lanczos pass of {iter} \
         steps per cell gives the top {k} eigenvalues (explicit residuals), the density ({rule} rule, {weights} weights) and the trace (Krylov space plus {probes} Hutchinson probes \
         on its complement, with a standard error and a 95 % interval from Student's t for the probes less one degrees of freedom); probes differ per cell. {products} Hessian-vector products, {secs:.0} s in all. \
         Settings <code>{id}</code>: <code>settings.toml</code>; tables: <code>robustness_cells</code>, <code>robustness_eigenvalues</code>, \
         <code>robustness_density</code>, <code>robustness_correlations</code> in <code>hx-query</code>.</p>",
        id = saved.settings_id,
        run = saved.run,
        model = s.model,
        dataset = s.dataset,
        step = s.step,
        sha = &s.checkpoint_sha256[..s.checkpoint_sha256.len().min(12)],
        n = cells.len(),
        corrupted = cells.len() - 1,
        examples = clean.row.examples,
        hessian = clean.row.hessian_examples,
        params = clean.row.num_params,
        iter = s.iter,
        k = s.top_k,
        probes = s.trace_probes,
        rule = s.density_rule.name(),
        weights = s.density_weights.name(),
        secs = seconds,
    );
    let present: Vec<&str> = cells.iter().map(|m| m.corruption.as_str()).collect();
    let absent: Vec<&str> = s.corruptions.iter().map(String::as_str).filter(|c| !present.contains(c)).collect();
    if !absent.is_empty() {
        let _ = write!(h, "<p>Not in this sweep (they do not apply to these images): {}.</p>", absent.join(", "));
    }
    if cells.iter().any(|m| m.corruption == "frost" && m.row.source == "computed") {
        let note = Corruption::Frost.note().unwrap_or_default();
        let _ = write!(h, "<p>Frost: {note}.</p>");
    }
    h.push_str("<h2>Rank correlations</h2><table><tr><th>measure</th><th>cells</th><th>Spearman rho (accuracy drop, measure)</th><th>95% interval</th></tr>");
    for (name, c) in corr {
        let _ = write!(h, "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{} to {}</td></tr>", c.n, fmt_num(c.rho), fmt_num(c.low), fmt_num(c.high));
    }
    h.push_str(
        "</table><p>Spearman's rho over the corrupted cells, interval from Fisher's z with the Bonett-Wright variance. A positive rho: \
         cells where the measure is larger lose more accuracy. Cells are not independent draws (severities of one corruption are \
         nested), so read the interval as a guide, not a test. The curvature is that of the loss on each cell's own images at the \
         same weights, and a Hessian of cross-entropy grows where predictions are wrong or unsure, so part of a high correlation is \
         built in; whether the curvature of the clean loss predicts robustness is a question across models (one clean cell each: \
         run a sweep per model and compare their clean rows with their accuracy drops).</p><h2>Figures</h2>",
    );
    for (stem, caption) in figures {
        let _ = write!(h, "<figure><img src=\"plots/{stem}.svg\" alt=\"{stem}\"><figcaption>{caption}</figcaption></figure>");
    }
    h.push_str(
        "<h2>Cells</h2><table><tr><th>corruption</th><th>severity</th><th>source</th><th>accuracy %</th><th>loss</th>\
         <th>lambda_max</th><th>residual</th><th>trace</th><th>std. error</th><th>95 % interval ±</th><th>negative mass</th><th>products</th><th>s</th></tr>",
    );
    for m in cells {
        let r = &m.row;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.4}</td><td>{}</td><td>{:.1e}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{:.1}</td></tr>",
            m.corruption,
            m.severity,
            r.source,
            100.0 * r.accuracy,
            r.loss,
            fmt_num(r.lambda_max),
            r.lambda_max_residual,
            fmt_num(r.trace),
            fmt_num(r.trace_std_error),
            // Cells written before the interval was stored have none.
            if r.trace_half_width_95.is_finite() { fmt_num(r.trace_half_width_95) } else { "n/a".into() },
            r.negative_mass,
            r.hvps,
            r.seconds
        );
    }
    h.push_str("</table></body></html>\n");
    h
}
