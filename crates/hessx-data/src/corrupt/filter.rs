//! Spatial filters on one channel plane (row-major `h x w` floats): the
//! Gaussian blur of `scipy.ndimage.gaussian_filter` (edges `nearest`,
//! truncated at 4 sigma) and Pillow's `BOX` resize, which `pixelate` uses
//! down and then up again.

/// Gaussian blur of `plane` with standard deviation `sigma` pixels.
pub(crate) fn gaussian_blur(plane: &[f32], h: usize, w: usize, sigma: f32) -> Vec<f32> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let mut kernel: Vec<f32> = (-radius..=radius).map(|x| (-0.5 * (x as f32 / sigma).powi(2)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    let convolve = |src: &[f32], len: usize, stride: usize, count: usize, step: usize| {
        let mut out = vec![0f32; src.len()];
        for line in 0..count {
            for i in 0..len {
                let mut acc = 0f32;
                for (k, weight) in kernel.iter().enumerate() {
                    let j = (i as isize + k as isize - radius).clamp(0, len as isize - 1) as usize;
                    acc += weight * src[line * step + j * stride];
                }
                out[line * step + i * stride] = acc;
            }
        }
        out
    };
    let rows = convolve(plane, w, 1, h, w);
    convolve(&rows, h, w, w, 1)
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
    let quantise = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0;
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
