//! Spatial filters on one channel plane (row-major `h x w` floats): the
//! Gaussian blur of `scipy.ndimage.gaussian_filter`, correlation with a
//! sparse kernel, bilinear sampling, the recipe's zoom, and Pillow's `BOX`
//! resize, which `pixelate` uses down and then up again. Each takes the edge
//! rule of the library the recipe called ([`Edge`]).

use std::collections::BTreeMap;

/// How a filter reads outside the plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    /// Repeat the edge value (`aa|abcd|dd`): scipy's and skimage's `nearest`, ImageMagick's default.
    Nearest,
    /// Mirror, edge included (`ba|abcd|dc`): scipy's `reflect`.
    Reflect,
    /// Mirror about the edge value (`cb|abcd|cb`): OpenCV's default `BORDER_REFLECT_101`.
    Reflect101,
}

impl Edge {
    /// The index inside `0..n` that index `i` reads.
    pub(crate) fn index(self, i: isize, n: usize) -> usize {
        let n = n as isize;
        if (0..n).contains(&i) {
            return i as usize;
        }
        let m = match self {
            Edge::Nearest => i.clamp(0, n - 1),
            Edge::Reflect => {
                let m = i.rem_euclid(2 * n);
                if m < n { m } else { 2 * n - 1 - m }
            }
            Edge::Reflect101 if n == 1 => 0,
            Edge::Reflect101 => {
                let m = i.rem_euclid(2 * (n - 1));
                if m < n { m } else { 2 * (n - 1) - m }
            }
        };
        m as usize
    }
}

/// Gaussian blur of `plane` with standard deviation `sigma` pixels, edges
/// `nearest`, truncated at 4 sigma (skimage's `gaussian` defaults).
pub(crate) fn gaussian_blur(plane: &[f32], h: usize, w: usize, sigma: f32) -> Vec<f32> {
    gaussian_filter(plane, h, w, [sigma, sigma], 4.0, Edge::Nearest)
}

/// `scipy.ndimage.gaussian_filter` with standard deviations `[sigma_y,
/// sigma_x]`, the kernel cut at `truncate` sigmas; an axis with sigma 0 is
/// left alone, as scipy does.
pub(crate) fn gaussian_filter(plane: &[f32], h: usize, w: usize, sigma: [f32; 2], truncate: f32, edge: Edge) -> Vec<f32> {
    let pass = |src: &[f32], sigma: f32, len: usize, stride: usize, count: usize, step: usize| {
        if sigma <= 0.0 {
            return src.to_vec();
        }
        let radius = (truncate * sigma + 0.5) as isize;
        let mut kernel: Vec<f32> = (-radius..=radius).map(|x| (-0.5 * (x as f32 / sigma).powi(2)).exp()).collect();
        let total: f32 = kernel.iter().sum();
        kernel.iter_mut().for_each(|k| *k /= total);
        let mut out = vec![0f32; src.len()];
        for line in 0..count {
            for i in 0..len {
                let mut acc = 0f32;
                for (k, weight) in kernel.iter().enumerate() {
                    let j = edge.index(i as isize + k as isize - radius, len);
                    acc += weight * src[line * step + j * stride];
                }
                out[line * step + i * stride] = acc;
            }
        }
        out
    };
    let rows = pass(plane, sigma[1], w, 1, h, w);
    pass(&rows, sigma[0], h, w, w, 1)
}

/// A sparse kernel: `(dy, dx, weight)` taps, read as `out[y][x] = sum weight * in[y + dy][x + dx]`.
pub(crate) type Taps = Vec<(isize, isize, f32)>;

/// Correlate `plane` with `taps` (OpenCV's `filter2D`, ImageMagick's motion blur).
pub(crate) fn correlate(plane: &[f32], h: usize, w: usize, taps: &[(isize, isize, f32)], edge: Edge) -> Vec<f32> {
    let mut out = vec![0f32; plane.len()];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = taps
                .iter()
                .map(|&(dy, dx, k)| k * plane[edge.index(y as isize + dy, h) * w + edge.index(x as isize + dx, w)])
                .sum();
        }
    }
    out
}

/// A kernel designed on CIFAR's 32x32 grid, seen on a grid `scale` times as
/// fine per axis (`[sy, sx]`, below 1 for smaller images): each tap moves to
/// `(dy sy, dx sx)` and its weight is split bilinearly between the four
/// nearest whole offsets. The total weight and, up to that split, the
/// kernel's extent in image fractions are kept; scale 1 gives the kernel back.
pub(crate) fn rescale_taps(taps: &[(f64, f64, f64)], scale: [f64; 2]) -> Taps {
    let mut grid: BTreeMap<(isize, isize), f64> = BTreeMap::new();
    for &(dy, dx, k) in taps {
        let (y, x) = (dy * scale[0], dx * scale[1]);
        let (y0, x0) = (y.floor(), x.floor());
        let (fy, fx) = (y - y0, x - x0);
        for (oy, wy) in [(0, 1.0 - fy), (1, fy)] {
            for (ox, wx) in [(0, 1.0 - fx), (1, fx)] {
                if wy * wx > 0.0 {
                    *grid.entry((y0 as isize + oy, x0 as isize + ox)).or_default() += k * wy * wx;
                }
            }
        }
    }
    grid.into_iter().map(|((dy, dx), k)| (dy, dx, k as f32)).collect()
}

/// Linear interpolation of `plane` at the real position `(y, x)`; the two
/// neighbours on each axis are read through `edge` (scipy's `map_coordinates`
/// with `order=1`).
pub(crate) fn bilinear(plane: &[f32], h: usize, w: usize, y: f32, x: f32, edge: Edge) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let at = |yy: isize, xx: isize| plane[edge.index(yy, h) * w + edge.index(xx, w)];
    (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1.0 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
}

/// The recipe's `clipped_zoom(plane, factor)`: crop the central
/// `ceil(32 / factor)` pixels, resize them by `factor` with
/// `scipy.ndimage.zoom(order=1)` (corners aligned, size rounded) and trim
/// back to 32. On CIFAR's 32 pixels that is an affine map per axis from
/// output to source pixel; other sizes use the same map in fractions of the
/// image (pixel centres at `(i + 0.5) / n`), so 32x32 images get the recipe's
/// zoom exactly, whole-pixel crops included, and smaller ones a continuous
/// version of it.
pub(crate) fn clipped_zoom(plane: &[f32], h: usize, w: usize, factor: f64) -> Vec<f32> {
    let (fy, fx) = (zoom_axis(h, factor), zoom_axis(w, factor));
    let mut out = Vec::with_capacity(plane.len());
    for y in 0..h {
        for x in 0..w {
            out.push(bilinear(plane, h, w, fy(y as f64) as f32, fx(x as f64) as f32, Edge::Nearest));
        }
    }
    out
}

/// On an axis of `n` pixels: the source position that output pixel `o` of [`clipped_zoom`] reads.
fn zoom_axis(n: usize, factor: f64) -> impl Fn(f64) -> f64 {
    const SIDE: f64 = 32.0;
    let crop = (SIDE / factor).ceil();
    let top = ((SIDE - crop) / 2.0).floor();
    // Python's round() rounds halves to even.
    let zoomed = (crop * factor).round_ties_even();
    let trim = ((zoomed - SIDE) / 2.0).floor();
    let step = if zoomed > 1.0 { (crop - 1.0) / (zoomed - 1.0) } else { 0.0 };
    let r = n as f64 / SIDE;
    move |o| (top + (trim + (o + 0.5) / r - 0.5) * step + 0.5) * r - 0.5
}

/// For each output index, the input indices and normalised weights of
/// Pillow's box filter resizing `in_len` samples to `out_len`.
fn box_coefficients(in_len: usize, out_len: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = in_len as f64 / out_len as f64;
    let filter_scale = scale.max(1.0);
    let support = 0.5 * filter_scale;
    (0..out_len)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5) as isize).max(0) as usize;
            let hi = ((center + support + 0.5) as usize).min(in_len);
            let taps: Vec<(usize, f64)> = (lo..hi)
                .filter_map(|i| {
                    let x = (i as f64 - center + 0.5) / filter_scale;
                    (x > -0.5 && x <= 0.5).then_some((i, 1.0))
                })
                .collect();
            let total: f64 = taps.iter().map(|t| t.1).sum();
            taps.into_iter().map(|(i, wt)| (i, (wt / total) as f32)).collect()
        })
        .collect()
}

/// Pillow's `BOX` resize of a plane from `h x w` to `oh x ow`, horizontal
/// pass first; values are rounded to 8 bits after each pass as Pillow does
/// on 8-bit images.
pub(crate) fn box_resize(plane: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    resize(plane, h, w, oh, ow, |v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0)
}

/// Box-filter resize without 8-bit rounding: the area average when
/// shrinking, repetition when growing. Layers drawn on CIFAR's 32x32 grid
/// (snow, fog, frost, spatter) reach other image sizes through it.
pub(crate) fn resample(plane: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    if (h, w) == (oh, ow) {
        return plane.to_vec();
    }
    resize(plane, h, w, oh, ow, |v| v)
}

fn resize(plane: &[f32], h: usize, w: usize, oh: usize, ow: usize, quantise: impl Fn(f32) -> f32) -> Vec<f32> {
    let cx = box_coefficients(w, ow);
    let cy = box_coefficients(h, oh);
    let mut rows = vec![0f32; h * ow];
    for y in 0..h {
        for (x, taps) in cx.iter().enumerate() {
            rows[y * ow + x] = quantise(taps.iter().map(|&(i, wt)| wt * plane[y * w + i]).sum());
        }
    }
    let mut out = vec![0f32; oh * ow];
    for (y, taps) in cy.iter().enumerate() {
        for x in 0..ow {
            out[y * ow + x] = quantise(taps.iter().map(|&(i, wt)| wt * rows[i * ow + x]).sum());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_constants_and_mass() {
        let flat = vec![0.4f32; 35];
        assert!(gaussian_blur(&flat, 5, 7, 1.0).iter().all(|v| (v - 0.4).abs() < 1e-6));
        // A centred impulse far from the edges keeps its mass and spreads with variance sigma^2.
        let (h, w) = (21, 21);
        let mut delta = vec![0f32; h * w];
        delta[10 * w + 10] = 1.0;
        let out = gaussian_blur(&delta, h, w, 1.5);
        let mass: f32 = out.iter().sum();
        let var: f32 = out.iter().enumerate().map(|(i, v)| v * ((i % w) as f32 - 10.0).powi(2)).sum();
        assert!((mass - 1.0).abs() < 1e-5 && (var - 2.25).abs() < 0.01, "mass {mass} var {var}");
    }

    #[test]
    fn clipped_zoom_is_the_recipes_map_at_32_pixels() {
        // A ramp along x shows where each output pixel reads.
        let ramp: Vec<f32> = (0..32 * 32).map(|i| (i % 32) as f32).collect();
        // 1.01: crop ceil(31.7) = 32 pixels, resized to 32: unchanged.
        assert_eq!(clipped_zoom(&ramp, 32, 32, 1.01), ramp);
        // 1.25: crop 26 from pixel 3, resized to round(32.5) = 32: pixel o reads 3 + o 25/31.
        let z = clipped_zoom(&ramp, 32, 32, 1.25);
        for o in [0usize, 7, 31] {
            assert!((z[5 * 32 + o] - (3.0 + o as f32 * 25.0 / 31.0)).abs() < 1e-4, "{o}: {}", z[5 * 32 + o]);
        }
        // 1.05: crop 31 from pixel 0, resized to 33, first 32 kept: o reads o 30/32 (anchored at the top left).
        let z = clipped_zoom(&ramp, 32, 32, 1.05);
        assert!((z[31] - 31.0 * 30.0 / 32.0).abs() < 1e-4 && z[0] == 0.0, "{}", z[31]);
        // On 8 pixels the same map in image fractions: the last pixel's centre
        // is at 29.5 on the 32 grid, which reads 29.5 * 30/32 there.
        let small: Vec<f32> = (0..64).map(|i| (i % 8) as f32).collect();
        let z = clipped_zoom(&small, 8, 8, 1.05);
        let expect = ((29.5 * 30.0 / 32.0 + 0.5) / 4.0 - 0.5) as f32;
        assert!((z[7] - expect).abs() < 1e-4, "{} vs {expect}", z[7]);
    }

    #[test]
    fn box_resize_averages_blocks_and_upsamples_by_repetition() {
        // 4 -> 2 averages pairs exactly; 2 -> 4 repeats each value.
        let plane: Vec<f32> = [0, 50, 100, 150, 200, 250, 0, 50].iter().map(|&v| v as f32 / 255.0).collect();
        let down = box_resize(&plane, 2, 4, 2, 2);
        let expect = [25f32, 125.0, 225.0, 25.0].map(|v| v / 255.0);
        for (a, b) in down.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{down:?}");
        }
        let up = box_resize(&down, 2, 2, 4, 4);
        assert_eq!(up[0], down[0]);
        assert_eq!(up[1], down[0]);
        assert_eq!(up[2], down[1]);
        assert_eq!(up[15], down[3]);
    }
}
