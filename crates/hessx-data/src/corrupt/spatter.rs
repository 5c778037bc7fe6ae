//! Spatter: water drops (severities 1-3) or mud (4-5), after the recipe's
//! `spatter`. A Gaussian field, blurred and thresholded, is the liquid.
//! Water is pale turquoise `(175, 238, 238)` added with a strength that an
//! OpenCV chain derives from the liquid (Canny edges, distance to them,
//! histogram equalisation, an emboss filter, box blurs); mud is brown
//! `(63, 42, 20)` blots painted over the image. The 8-bit operations of that
//! chain are written here as OpenCV computes them. The layer is drawn on
//! CIFAR's 32x32 grid and resampled to the image, like the weather layers;
//! grey images get the colours' luma.

use rand::Rng;
use rand_distr::StandardNormal;

use super::filter::{self, Edge};
use super::weather::luma;

const GRID: usize = 32;

/// Corrupt the CHW image `x` in place.
pub(crate) fn spatter(x: &mut [f32], shape: [usize; 3], severity: u8, rng: &mut impl Rng) {
    let (loc, scale, sigma, threshold, strength, mud) = [
        (0.62, 0.1, 0.7, 0.7, 0.5, false),
        (0.65, 0.1, 0.8, 0.7, 0.5, false),
        (0.65, 0.3, 1.0, 0.69, 0.5, false),
        (0.65, 0.1, 0.7, 0.69, 0.6, true),
        (0.65, 0.1, 0.5, 0.68, 0.6, true),
    ][(severity - 1) as usize];
    let field: Vec<f32> = (0..GRID * GRID).map(|_| (loc + scale * rng.sample::<f64, _>(StandardNormal)) as f32).collect();
    let mut liquid = filter::gaussian_blur(&field, GRID, GRID, sigma);
    liquid.iter_mut().for_each(|v| {
        if *v < threshold {
            *v = 0.0
        }
    });
    let (layer, colour) = if mud {
        let mask: Vec<f32> = liquid.iter().map(|&v| if v > threshold { 1.0 } else { 0.0 }).collect();
        let mut m = filter::gaussian_blur(&mask, GRID, GRID, strength);
        m.iter_mut().for_each(|v| {
            if *v < 0.8 {
                *v = 0.0
            }
        });
        (m, [63.0, 42.0, 20.0])
    } else {
        (water(&liquid, strength), [175.0, 238.0, 238.0])
    };
    let layer = filter::resample(&layer, GRID, GRID, shape[1], shape[2]);
    let colour = colour.map(|c: f32| c / 255.0);
    let grey = luma(colour[0], colour[1], colour[2]);
    for (ch, p) in x.chunks_exact_mut(shape[1] * shape[2]).enumerate() {
        let c = if shape[0] == 3 { colour[ch] } else { grey };
        for (v, m) in p.iter_mut().zip(&layer) {
            *v = if mud { *v * (1.0 - m) + c * m } else { *v + m * c };
        }
    }
}

/// The strength of the water layer (`m` in the recipe, before colouring).
fn water(liquid: &[f32], strength: f32) -> Vec<f32> {
    let (h, w) = (GRID, GRID);
    // NumPy's astype(uint8) truncates; values above 1 are too rare to matter and are saturated.
    let l8: Vec<u8> = liquid.iter().map(|&v| (v * 255.0).clamp(0.0, 255.0) as u8).collect();
    let edges = canny(&l8, h, w, 50, 150);
    let dist: Vec<f32> = distance_to(&edges, h, w).into_iter().map(|d| d.min(20.0)).collect();
    let dist: Vec<u8> = box3(&dist, h, w).into_iter().map(|v| v as u8).collect();
    let dist = equalize_hist(&dist);
    let emboss = [(-1, -1, -2.0), (-1, 0, -1.0), (0, -1, -1.0), (0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 1, 2.0)];
    let dist: Vec<f32> = dist.iter().map(|&v| v as f32).collect();
    let dist: Vec<f32> = filter::correlate(&dist, h, w, &emboss, Edge::Reflect101).into_iter().map(|v| v.round().clamp(0.0, 255.0)).collect();
    let dist: Vec<f32> = box3(&dist, h, w).into_iter().map(|v| v.round()).collect();
    let m: Vec<f32> = l8.iter().zip(&dist).map(|(&l, &d)| l as f32 * d).collect();
    let max = m.iter().cloned().fold(0.0, f32::max);
    // The recipe divides by the maximum; with no water at all there is nothing to add.
    m.into_iter().map(|v| if max > 0.0 { v / max * strength } else { 0.0 }).collect()
}

/// `cv2.blur(x, (3, 3))`: the 3x3 mean, edges reflected about the edge pixel.
fn box3(x: &[f32], h: usize, w: usize) -> Vec<f32> {
    let taps: Vec<(isize, isize, f32)> = (-1..=1).flat_map(|y| (-1..=1).map(move |x| (y, x, 1.0 / 9.0))).collect();
    filter::correlate(x, h, w, &taps, Edge::Reflect101)
}

/// `cv2.Canny(image, low, high)` with a 3x3 Sobel and the L1 gradient norm:
/// `true` on edge pixels.
pub(crate) fn canny(image: &[u8], h: usize, w: usize, low: i32, high: i32) -> Vec<bool> {
    let at = |y: isize, x: isize| image[Edge::Nearest.index(y, h) * w + Edge::Nearest.index(x, w)] as i32;
    let (mut gx, mut gy, mut mag) = (vec![0i32; h * w], vec![0i32; h * w], vec![0i32; h * w]);
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            gx[i] = at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y, x - 1) - at(y + 1, x - 1);
            gy[i] = at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y - 1, x) - at(y - 1, x + 1);
            mag[i] = gx[i].abs() + gy[i].abs();
        }
    }
    // Outside the image the magnitude is 0, as in OpenCV's padded buffer.
    let m = |y: isize, x: isize| if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) { mag[y as usize * w + x as usize] } else { 0 };
    const SHIFT: i32 = 15;
    let tg22 = (0.414_213_562_373_095_f64 * (1 << SHIFT) as f64 + 0.5) as i64;
    // 0: candidate, 1: not an edge, 2: edge.
    let mut state = vec![1u8; h * w];
    let mut stack = Vec::new();
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            let v = mag[i];
            if v <= low {
                continue;
            }
            let (xs, ys) = (gx[i] as i64, gy[i] as i64);
            let (ax, ay) = (xs.abs(), ys.abs() << SHIFT);
            let tg22x = ax * tg22;
            let is_max = if ay < tg22x {
                v > m(y, x - 1) && v >= m(y, x + 1)
            } else if ay > tg22x + (ax << (SHIFT + 1)) {
                v > m(y - 1, x) && v >= m(y + 1, x)
            } else {
                let s = if (xs ^ ys) < 0 { -1 } else { 1 };
                v > m(y - 1, x - s) && v > m(y + 1, x + s)
            };
            if is_max {
                state[i] = if v > high { 2 } else { 0 };
                if v > high {
                    stack.push(i);
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (y, x) = ((i / w) as isize, (i % w) as isize);
        for (dy, dx) in [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)] {
            let (ny, nx) = (y + dy, x + dx);
            if (0..h as isize).contains(&ny) && (0..w as isize).contains(&nx) {
                let j = ny as usize * w + nx as usize;
                if state[j] == 0 {
                    state[j] = 2;
                    stack.push(j);
                }
            }
        }
    }
    state.into_iter().map(|s| s == 2).collect()
}

/// `cv2.distanceTransform(.., DIST_L2, 5)` from every pixel to the nearest
/// `true` one: the two-pass 5x5 chamfer with OpenCV's steps 1, 1.4 and
/// 2.1969; infinite where there is none.
pub(crate) fn distance_to(target: &[bool], h: usize, w: usize) -> Vec<f32> {
    let (a, b, c) = (1.0f64, 1.4, 2.1969);
    let forward = [(-2, -1, c), (-2, 1, c), (-1, -2, c), (-1, -1, b), (-1, 0, a), (-1, 1, b), (-1, 2, c), (0, -1, a)];
    let mut d: Vec<f64> = target.iter().map(|&t| if t { 0.0 } else { f64::INFINITY }).collect();
    let relax = |d: &mut Vec<f64>, y: usize, x: usize, sign: isize| {
        let i = y * w + x;
        for &(dy, dx, step) in &forward {
            let (ny, nx) = (y as isize + sign * dy, x as isize + sign * dx);
            if (0..h as isize).contains(&ny) && (0..w as isize).contains(&nx) {
                d[i] = d[i].min(d[ny as usize * w + nx as usize] + step);
            }
        }
    };
    for y in 0..h {
        for x in 0..w {
            relax(&mut d, y, x, 1);
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            relax(&mut d, y, x, -1);
        }
    }
    d.into_iter().map(|v| v as f32).collect()
}

/// `cv2.equalizeHist` on 8-bit values.
pub(crate) fn equalize_hist(x: &[u8]) -> Vec<u8> {
    let mut hist = [0usize; 256];
    x.iter().for_each(|&v| hist[v as usize] += 1);
    let Some(first) = hist.iter().position(|&n| n > 0) else { return Vec::new() };
    if hist[first] == x.len() {
        return vec![first as u8; x.len()];
    }
    let scale = 255.0f32 / (x.len() - hist[first]) as f32;
    let mut lut = [0u8; 256];
    let mut sum = 0;
    for i in first + 1..256 {
        sum += hist[i];
        lut[i] = (sum as f32 * scale).round_ties_even().clamp(0.0, 255.0) as u8;
    }
    x.iter().map(|&v| lut[v as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canny_finds_the_border_of_a_square() {
        let (h, w) = (12, 12);
        let img: Vec<u8> = (0..h * w).map(|i| if (3..9).contains(&(i / w)) && (3..9).contains(&(i % w)) { 200 } else { 10 }).collect();
        let e = canny(&img, h, w, 50, 150);
        // One-pixel-wide edge on the square's boundary, nothing far from it.
        assert!(e[3 * w + 5] || e[2 * w + 5], "top edge");
        assert!(!e[0] && !e[6 * w + 6], "corner and centre are no edges");
        assert!(e.iter().filter(|&&v| v).count() >= 20);
        assert!(canny(&[7u8; 64], 8, 8, 50, 150).iter().all(|&v| !v));
    }

    #[test]
    fn chamfer_distance_is_close_to_euclidean() {
        let (h, w) = (15, 15);
        let mut t = vec![false; h * w];
        t[7 * w + 7] = true;
        let d = distance_to(&t, h, w);
        for (y, x) in [(7, 12), (2, 7), (10, 10), (7 + 2, 7 + 1), (0, 0)] {
            let e = (((y as f64 - 7.0).powi(2) + (x as f64 - 7.0).powi(2)) as f64).sqrt();
            assert!((d[y * w + x] as f64 - e).abs() / e < 0.06, "({y}, {x}): {} vs {e}", d[y * w + x]);
        }
        assert!(distance_to(&[false; 4], 2, 2).iter().all(|v| v.is_infinite()));
    }

    #[test]
    fn equalized_histogram_spans_the_range() {
        let x: Vec<u8> = (0..100).map(|i| (i % 10 + 5) as u8).collect();
        let e = equalize_hist(&x);
        assert_eq!(*e.iter().min().unwrap(), 0);
        assert_eq!(*e.iter().max().unwrap(), 255);
        assert_eq!(equalize_hist(&[9; 5]), vec![9; 5]);
    }
}
