//! The report's tables of curvature numbers: every trace estimate with its
//! error bar and the number of probes behind it, and every eigenvalue with
//! its residual `||Hv - λv||`, so a number is never shown without what it is
//! worth.

use hessx_plot::fmt_num;
use hessx_store::tables::{EigenvalueRow, TraceRow};

use crate::report::ReportTable;

/// Fewest probes behind a standard error the report calls an error bar
/// (hessx-hessian's `MIN_TRACE_PROBES`, which hx-analyze does not link: with
/// 9 degrees of freedom, ±2 standard errors is close to a 95 % interval; with
/// 1 it is ~70 %).
pub const MIN_TRACE_PROBES: i64 = 10;

/// One row per trace estimate, by step then method.
pub fn trace_table(rows: &[TraceRow]) -> ReportTable {
    let mut rs: Vec<&TraceRow> = rows.iter().collect();
    rs.sort_by_key(|r| (r.step, r.method));
    ReportTable {
        id: "trace-estimates".into(),
        title: "Trace estimates".into(),
        caption: "Every trace estimate with its standard error and the number of random probes it rests on. \
                  Each method draws its own probes (an independent stream per method and checkpoint), so \
                  agreement within error bars is evidence, not a shared first sample."
            .into(),
        header: ["step", "method", "estimate", "± standard error", "probes", "products", "error bar", "settings"]
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
                    error_bar_note(r).into(),
                    r.settings_id.clone(),
                ]
            })
            .collect(),
    }
}

/// Whether a trace's standard error can be read as an error bar.
fn error_bar_note(r: &TraceRow) -> &'static str {
    if !r.std_error.is_finite() {
        "none: fewer than 2 probes, the estimate is a single sample"
    } else if r.probes < MIN_TRACE_PROBES {
        "unreliable: fewer than 10 probes"
    } else {
        "±2 s.e. ≈ 95 % interval"
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

    fn trace(step: i64, probes: i64, std_error: f64) -> TraceRow {
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
        }
    }

    #[test]
    fn every_trace_shows_its_error_bar_and_probes() {
        let t = trace_table(&[trace(10, 30, 0.25), trace(0, 1, f64::NAN), trace(5, 4, 1.0)]);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0][..5], ["0", "hutchinson", "12.5", "NaN", "1"]);
        assert!(t.rows[0][6].starts_with("none"));
        assert!(t.rows[1][6].starts_with("unreliable"));
        assert_eq!(t.rows[2][3..5], ["0.25", "30"]);
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
