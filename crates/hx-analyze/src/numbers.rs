//! The report's tables of curvature numbers: every trace estimate with its
//! error bar and the number of probes behind it, and every eigenvalue with
//! its residual `||Hv - λv||`, so a number is never shown without what it is
//! worth.

use hessx_plot::fmt_num;
use hessx_store::tables::{EigenvalueRow, TraceRow};

use crate::report::ReportTable;

/// Fewest probes behind a standard error that a table without `half_width_95`
/// (written before it) lets the report read as ±2 s.e. ≈ 95 % (hessx-hessian's
/// `MIN_TRACE_PROBES`, which hx-analyze does not link: with 9 degrees of
/// freedom, ±2 standard errors is close to a 95 % interval; with 1 it is ~70 %).
pub const MIN_TRACE_PROBES: i64 = 10;

/// One row per trace estimate, by step then method.
pub fn trace_table(rows: &[TraceRow]) -> ReportTable {
    let mut rs: Vec<&TraceRow> = rows.iter().collect();
    rs.sort_by_key(|r| (r.step, r.method));
    ReportTable {
        id: "trace-estimates".into(),
        title: "Trace estimates".into(),
        caption: "Every trace estimate with its standard error, its 95 % interval (Student's t for the probes \
                  less one degrees of freedom: wider than ±2 standard errors when the probes are few) and the \
                  number of random probes it rests on. Each method draws its own probes (an independent stream \
                  per method and checkpoint), so agreement within error bars is evidence, not a shared first sample."
            .into(),
        header: ["step", "method", "estimate", "± standard error", "probes", "products", "95 % interval ±", "error bar", "settings"]
            .map(String::from)
            .to_vec(),
        rows: rs
            .iter()
            .map(|r| {
                vec![
                    r.step.to_string(),
                    r.method.name().into(),
                    fmt_num(r.estimate),
                    fmt_num(r.std_error),
                    r.probes.to_string(),
                    r.hvps.to_string(),
                    fmt_num(r.half_width_95),
                    error_bar_note(r),
                    r.settings_id.clone(),
                ]
            })
            .collect(),
    }
}

/// How a trace's error bar reads.
fn error_bar_note(r: &TraceRow) -> String {
    if !r.std_error.is_finite() {
        "none: fewer than 2 probes, the estimate is a single sample".into()
    } else if r.std_error == 0.0 {
        "none needed: no sampling error".into()
    } else if r.half_width_95.is_finite() {
        format!("95 % interval: Student's t, {} degrees of freedom", r.probes - 1)
    } else if r.probes < MIN_TRACE_PROBES {
        "unreliable: fewer than 10 probes (a table without 95 % intervals)".into()
    } else {
        "±2 s.e. ≈ 95 % interval (a table without 95 % intervals)".into()
    }
}

/// One row per eigenpair, by step, method and rank.
pub fn eigenvalue_table(rows: &[EigenvalueRow]) -> ReportTable {
    let mut rs: Vec<&EigenvalueRow> = rows.iter().collect();
    rs.sort_by_key(|r| (r.step, r.method, r.spectrum_end, r.rank));
    ReportTable {
        id: "eigenpairs".into(),
        title: "Eigenvalues and residuals".into(),
        caption: "Every eigenvalue with the residual ||Hv − λv|| of the unit vector saved with it (NaN: not \
                  computed). An eigenvalue is accurate to about residual² / gap, and to at most the residual."
            .into(),
        header: ["step", "method", "end", "rank", "eigenvalue", "residual", "residual / |λ|", "converged", "products", "settings"]
            .map(String::from)
            .to_vec(),
        rows: rs
            .iter()
            .map(|r| {
                vec![
                    r.step.to_string(),
                    r.method.name().into(),
                    r.spectrum_end.name().into(),
                    r.rank.to_string(),
                    fmt_num(r.eigenvalue),
                    fmt_num(r.residual),
                    fmt_num(r.residual / r.eigenvalue.abs()),
                    if r.converged { "yes" } else { "no" }.into(),
                    r.hvps.to_string(),
                    r.settings_id.clone(),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hessx_store::{EigenMethod, ResidualKind, SpectrumEnd, TraceMethod};

    fn trace(step: i64, probes: i64, std_error: f64, half_width_95: f64) -> TraceRow {
        TraceRow {
            settings_id: "3f2a9c41d0b7".into(),
            step,
            method: TraceMethod::Hutchinson,
            estimate: 12.5,
            std_error,
            probes,
            converged: true,
            hvps: probes,
            seconds: 1.0,
            half_width_95,
        }
    }

    #[test]
    fn every_trace_shows_its_error_bar_and_probes() {
        let rows = [
            trace(10, 30, 0.25, 2.0452 * 0.25),
            trace(0, 1, f64::NAN, f64::NAN),
            trace(5, 4, 1.0, 3.1824),
            trace(7, 4, 1.0, f64::NAN),
            trace(8, 30, 0.25, f64::NAN),
        ];
        let t = trace_table(&rows);
        assert_eq!(t.rows.len(), 5);
        assert_eq!(t.rows[0][..5], ["0", "hutchinson", "12.5", "NaN", "1"]);
        assert!(t.rows[0][7].starts_with("none"));
        assert_eq!(t.rows[1][6], "3.182");
        assert_eq!(t.rows[1][7], "95 % interval: Student's t, 3 degrees of freedom");
        // Tables from before `half_width_95`: the old reading, said to be one.
        assert!(t.rows[2][7].starts_with("unreliable"));
        assert!(t.rows[3][7].starts_with("±2 s.e."));
        assert_eq!(t.rows[4][3..5], ["0.25", "30"]);
        assert!(t.rows[4][7].contains("29 degrees"));
    }

    #[test]
    fn every_eigenvalue_shows_its_residual() {
        let row = |rank: u32, eigenvalue: f64, residual: f64| EigenvalueRow {
            settings_id: "3f2a9c41d0b7".into(),
            step: 3,
            rank,
            eigenvalue,
            residual,
            residual_kind: ResidualKind::Explicit,
            converged: residual < 1e-3 * eigenvalue,
            iterations: 20,
            hvps: 40,
            method: EigenMethod::Lanczos,
            seconds: 1.0,
            num_params: 100,
            spectrum_end: SpectrumEnd::Top,
        };
        let t = eigenvalue_table(&[row(1, 2.0, 0.5), row(0, 4.0, 1e-4)]);
        assert_eq!(t.rows[0], ["3", "lanczos", "top", "0", "4", "1e-4", "2.5e-5", "yes", "40", "3f2a9c41d0b7"]);
        assert_eq!(t.rows[1][5..8], ["0.5", "0.25", "no"]);
    }
}
