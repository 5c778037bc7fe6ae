//! Numbers as a reader wants them on an axis or in a report: no trailing
//! zeros, scientific notation only when the magnitude calls for it.

/// Format `v` with about four significant digits: `0.25`, `1234`, `3.2e-6`.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    } else {
        format!("{v:.2e}").replace(".00e", "e").replace("0e", "e")
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_num;

    #[test]
    fn formats_like_a_person_would() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(1234.0), "1234");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(123456.0), "1.23e5");
        assert_eq!(fmt_num(1e-6), "1e-6");
        assert_eq!(fmt_num(2.5e-7), "2.5e-7");
    }
}

/// Where a log axis stops for values that underflow towards 0 (kernel tails
/// of a density): ten decades below `peak`, as PyHessian's plots clip.
pub fn log_floor(peak: f64) -> f64 {
    if peak > 0.0 { peak * 1e-10 } else { 1e-10 }
}
