//! RGB <-> HSV on [0, 1] floats, following scikit-image's `rgb2hsv` and
//! `hsv2rgb` (which `make_cifar_c.py` uses for brightness and saturate).

/// `(h, s, v)` of one RGB pixel, each in [0, 1].
pub(crate) fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    let s = if v == 0.0 { 0.0 } else { delta / v };
    let h = if delta == 0.0 {
        0.0
    } else if v == r {
        ((g - b) / delta) / 6.0
    } else if v == g {
        (2.0 + (b - r) / delta) / 6.0
    } else {
        (4.0 + (r - g) / delta) / 6.0
    };
    (h.rem_euclid(1.0), s, v)
}

/// The RGB pixel of `(h, s, v)`, each in [0, 1].
pub(crate) fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    let sector = (h6.floor() as i32).rem_euclid(6);
    let f = h6 - h6.floor();
    let p = v * (1.0 - s);
    let q = v * (1.0 - f * s);
    let t = v * (1.0 - (1.0 - f) * s);
    match sector {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_colours() {
        assert_eq!(rgb_to_hsv(1.0, 0.0, 0.0), (0.0, 1.0, 1.0));
        let (h, s, v) = rgb_to_hsv(0.0, 0.5, 0.5);
        assert!((h - 0.5).abs() < 1e-6 && (s - 1.0).abs() < 1e-6 && (v - 0.5).abs() < 1e-6);
        for &(r, g, b) in &[(0.2, 0.7, 0.4), (0.9, 0.1, 0.5), (0.3, 0.3, 0.3), (0.0, 0.0, 0.0), (0.6, 0.2, 0.9)] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!((r - r2).abs() < 1e-6 && (g - g2).abs() < 1e-6 && (b - b2).abs() < 1e-6, "{r} {g} {b}");
        }
    }
}
