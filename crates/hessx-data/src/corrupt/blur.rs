//! The blurs of CIFAR-10-C besides the Gaussian one: defocus (a disk),
//! motion (ImageMagick's one-sided Gaussian streak), glass (blur, local
//! pixel shuffle, blur) and zoom (the average of zooms into the centre).
//!
//! Every function works on one CHW image of [0, 1] floats in place. Kernels
//! are built on CIFAR's 32x32 grid exactly as the recipe builds them and
//! carried to other sizes by [`filter::rescale_taps`].

use rand::Rng;

use super::filter::{self, Edge};

/// `make_cifar_c.py`'s `disk(radius, alias_blur)`: the pixels of a 17x17
/// grid within `radius` of the centre, normalised, then blurred by OpenCV's
/// 3x3 Gaussian of standard deviation `alias_blur`, as `(dy, dx, weight)`.
fn disk_taps(radius: f64, alias_blur: f64) -> Vec<(f64, f64, f64)> {
    let disk: Vec<(i32, i32)> = (-8..=8).flat_map(|y| (-8..=8).map(move |x| (y, x))).filter(|&(y, x)| ((y * y + x * x) as f64) <= radius * radius).collect();
    let e = (-1.0 / (2.0 * alias_blur * alias_blur)).exp();
    let g = [e / (1.0 + 2.0 * e), 1.0 / (1.0 + 2.0 * e), e / (1.0 + 2.0 * e)];
    let mut taps = Vec::new();
    for &(y, x) in &disk {
        for (gy, wy) in g.iter().enumerate() {
            for (gx, wx) in g.iter().enumerate() {
                taps.push(((y + gy as i32 - 1) as f64, (x + gx as i32 - 1) as f64, wy * wx / disk.len() as f64));
            }
        }
    }
    taps
}

/// Defocus blur: correlate each channel with the disk kernel (`cv2.filter2D`, edges reflected about the edge pixel).
pub(crate) fn defocus(x: &mut [f32], shape: [usize; 3], severity: u8) {
    let (radius, alias) = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)][(severity - 1) as usize];
    let [_, h, w] = shape;
    let taps = filter::rescale_taps(&disk_taps(radius, alias), grid_scale(shape));
    for p in x.chunks_exact_mut(h * w) {
        let out = filter::correlate(p, h, w, &taps, Edge::Reflect101);
        p.copy_from_slice(&out);
    }
}

/// ImageMagick 6's `MotionBlurImage(radius, sigma, angle)` kernel: `2 ceil(radius) + 1`
/// taps of a one-sided Gaussian, tap `i` at the whole-pixel offset nearest
/// `i (cos angle, sin angle)` (x right, y down).
pub(crate) fn motion_taps(radius: f64, sigma: f64, angle_degrees: f64) -> Vec<(f64, f64, f64)> {
    let width = 2 * radius.ceil() as usize + 1;
    let weights: Vec<f64> = (0..width).map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = weights.iter().sum();
    let a = angle_degrees.to_radians();
    let (px, py) = (width as f64 * a.sin(), width as f64 * a.cos());
    let norm = px.hypot(py);
    (0..width).map(|i| ((i as f64 * px / norm - 0.5).ceil(), (i as f64 * py / norm - 0.5).ceil(), weights[i] / total)).collect()
}

/// Motion blur along a random direction within 45 degrees of horizontal.
pub(crate) fn motion(x: &mut [f32], shape: [usize; 3], severity: u8, rng: &mut impl Rng) {
    let (radius, sigma) = [(6.0, 1.0), (6.0, 1.5), (6.0, 2.0), (8.0, 2.0), (9.0, 2.5)][(severity - 1) as usize];
    let angle = rng.random_range(-45.0..45.0);
    let [_, h, w] = shape;
    let taps = filter::rescale_taps(&motion_taps(radius, sigma, angle), grid_scale(shape));
    for p in x.chunks_exact_mut(h * w) {
        let out = filter::correlate(p, h, w, &taps, Edge::Nearest);
        p.copy_from_slice(&out);
    }
}

/// Glass blur: Gaussian blur, 8-bit truncation, local shuffling, Gaussian blur.
///
/// The recipe's "swap" `x[h, w], x[h', w'] = x[h', w'], x[h, w]` acts on
/// NumPy views, so it only *copies* pixel `(h', w')` onto `(h, w)`; that is
/// what made CIFAR-10-C and what is done here. Offsets are drawn from
/// `randint(-d, d)`, i.e. `-d..d` with `d` excluded, so pixels move from up
/// and left only. `d` stays 1 pixel (it cannot shrink) and sigma scales with the image.
pub(crate) fn glass(x: &mut [f32], shape: [usize; 3], severity: u8, rng: &mut impl Rng) {
    let (sigma, delta, iterations) = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][(severity - 1) as usize];
    let [c, h, w] = shape;
    let [sy, sx] = grid_scale(shape);
    let sigma = sigma * (sy * sx).sqrt() as f32;
    let plane = h * w;
    for p in x.chunks_exact_mut(plane) {
        let out = filter::gaussian_blur(p, h, w, sigma);
        p.iter_mut().zip(out).for_each(|(v, b)| *v = (b * 255.0).floor() / 255.0);
    }
    let d: i64 = delta;
    for _ in 0..iterations {
        // The recipe's `range(32 - d, d, -1)`: from side - d down to d + 1.
        for y in ((d + 1)..=(h as i64 - d)).rev() {
            for xx in ((d + 1)..=(w as i64 - d)).rev() {
                let dx = rng.random_range(-d..d);
                let dy = rng.random_range(-d..d);
                let (to, from) = (y as usize * w + xx as usize, (y + dy) as usize * w + (xx + dx) as usize);
                for ch in 0..c {
                    x[ch * plane + to] = x[ch * plane + from];
                }
            }
        }
    }
    for p in x.chunks_exact_mut(plane) {
        let out = filter::gaussian_blur(p, h, w, sigma);
        p.copy_from_slice(&out);
    }
}

/// Zoom blur: the mean of the image and its zooms by `1 + k step`,
/// `k = 0..n` ([`filter::clipped_zoom`], the recipe's geometry), the values
/// of the recipe's `np.arange(1, end, 0.01)`. NumPy steps by `(1 + 0.01) - 1`,
/// a little over 0.01, which makes `n` 7, 12, 16, 21, 26 for the five ends
/// and decides how zoom 1.25 rounds its size (to 33, not 32).
pub(crate) fn zoom(x: &mut [f32], shape: [usize; 3], severity: u8) {
    let n = [7, 12, 16, 21, 26][(severity - 1) as usize];
    let [_, h, w] = shape;
    for p in x.chunks_exact_mut(h * w) {
        let mut acc: Vec<f32> = p.to_vec();
        for k in 0..n {
            let zoomed = filter::clipped_zoom(p, h, w, 1.0 + k as f64 * ((1.0f64 + 0.01) - 1.0));
            acc.iter_mut().zip(zoomed).for_each(|(a, z)| *a += z);
        }
        p.iter_mut().zip(acc).for_each(|(v, a)| *v = a / (n + 1) as f32);
    }
}

/// The image's size over CIFAR's, per axis: `[h / 32, w / 32]`.
pub(crate) fn grid_scale(shape: [usize; 3]) -> [f64; 2] {
    [shape[1] as f64 / 32.0, shape[2] as f64 / 32.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_normalised_and_shaped_as_the_recipe() {
        // Radius 1.5 keeps the full 3x3 block, radius 1 a plus of 5, smaller ones the centre.
        for (r, n) in [(0.3, 1), (1.0, 5), (1.5, 9)] {
            let taps = disk_taps(r, 0.1);
            assert_eq!(taps.len(), 9 * n);
            assert!((taps.iter().map(|t| t.2).sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // Angle 0: a streak to the right, weights falling off as a half Gaussian.
        let taps = motion_taps(6.0, 2.0, 0.0);
        assert_eq!(taps.len(), 13);
        assert!(taps.iter().enumerate().all(|(i, t)| t.0 == 0.0 && t.1 == i as f64));
        assert!(taps.windows(2).all(|p| p[1].2 < p[0].2));
        // 90 degrees: straight down.
        assert!(motion_taps(6.0, 2.0, 90.0).iter().enumerate().all(|(i, t)| t.0 == i as f64 && t.1 == 0.0));
    }

    #[test]
    fn rescaled_kernels_keep_mass_and_shrink() {
        let taps = motion_taps(9.0, 2.5, 30.0);
        for s in [1.0, 0.5, 0.25] {
            let scaled = filter::rescale_taps(&taps, [s, s]);
            assert!((scaled.iter().map(|t| t.2 as f64).sum::<f64>() - 1.0).abs() < 1e-6);
            let mean_x: f64 = scaled.iter().map(|t| t.1 as f64 * t.2 as f64).sum();
            let orig: f64 = taps.iter().map(|t| t.1 * t.2).sum();
            assert!((mean_x - s * orig).abs() < 1e-5, "scale {s}: {mean_x} vs {}", s * orig);
        }
        assert_eq!(filter::rescale_taps(&taps, [1.0, 1.0]).len(), taps.len());
    }
}
