//! Weather: snow, frost and fog. Each lays a random layer over the image;
//! the layer is drawn on CIFAR's 32x32 grid by the recipe and resampled to
//! the image (area average when smaller), so an 8x8 image sees the same
//! scene as a 32x32 one, at its own resolution.
//!
//! Frost: the recipe blends a random crop of one of five photographs of
//! frost that ship only with the original code. hessx draws the texture
//! procedurally instead ([`frost_texture`]): fractal haze, ice grain and
//! branching ice needles, brought to the mean colour and contrast that 32x32 crops of
//! the chosen photograph have.

use rand::Rng;
use rand_distr::StandardNormal;

use super::blur;
use super::filter::{self, Edge};

/// Side of the grid the layers are drawn on.
const GRID: usize = 32;

/// Grey value of an RGB pixel, with OpenCV's `RGB2GRAY` weights (ITU-R 601).
pub(crate) fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// The grey level of every value: the pixel's luma for 3 channels, the value itself otherwise.
fn grey(x: &[f32], shape: [usize; 3]) -> Vec<f32> {
    let plane = shape[1] * shape[2];
    if shape[0] == 3 {
        (0..x.len()).map(|i| luma(x[i % plane], x[plane + i % plane], x[2 * plane + i % plane])).collect()
    } else {
        x.to_vec()
    }
}

/// A 32x32 layer resampled to the image's `h x w`.
fn to_image(layer: &[f32], shape: [usize; 3]) -> Vec<f32> {
    filter::resample(layer, GRID, GRID, shape[1], shape[2])
}

/// Snow: a thresholded, zoomed Gaussian field streaked by a motion blur
/// (ImageMagick's, pointing 45 to 135 degrees downwards), added twice
/// (itself and rotated by 180 degrees) to an image brightened towards
/// `1.5 grey + 0.5`.
pub(crate) fn snow(x: &mut [f32], shape: [usize; 3], severity: u8, rng: &mut impl Rng) {
    let (loc, scale, zoom, threshold, radius, sigma, keep) = [
        (0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95),
        (0.1, 0.2, 1.0, 0.5, 10.0, 4.0, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10.0, 4.0, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12.0, 6.0, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14.0, 12.0, 0.8),
    ][(severity - 1) as usize];
    let field: Vec<f32> = (0..GRID * GRID).map(|_| (loc + scale * rng.sample::<f64, _>(StandardNormal)) as f32).collect();
    let mut layer = filter::clipped_zoom(&field, GRID, GRID, zoom);
    // Below the threshold, no snow; the layer goes through an 8-bit PNG to ImageMagick and back, truncated both ways.
    layer.iter_mut().for_each(|v| *v = if *v < threshold { 0.0 } else { (v.clamp(0.0, 1.0) * 255.0).floor() / 255.0 });
    let angle = rng.random_range(-135.0..-45.0);
    let taps = filter::rescale_taps(&blur::motion_taps(radius, sigma, angle), [1.0, 1.0]);
    let streaks: Vec<f32> = filter::correlate(&layer, GRID, GRID, &taps, Edge::Nearest).iter().map(|v| (v * 255.0).floor() / 255.0).collect();
    let streaks = to_image(&streaks, shape);
    let [_, h, w] = shape;
    let plane = h * w;
    let g = grey(x, shape);
    for (i, v) in x.iter_mut().enumerate() {
        let p = i % plane;
        let lit = keep * *v + (1.0 - keep) * v.max(g[i] * 1.5 + 0.5);
        *v = lit + streaks[p] + streaks[plane - 1 - p];
    }
}

/// Per photograph of the recipe (`frost1.png` .. `frost5.jpg`; it draws
/// `randint(5)`, so never `frost6.jpg`): the mean RGB of its 32x32 crops
/// after the recipe's 0.2x resize, and the mean standard deviation of a crop.
/// Measured on 400 random crops each (`cv2.resize(fx=0.2)`, as the recipe).
const FROST_PHOTOS: [([f32; 3], f32); 5] = [
    ([0.305, 0.582, 0.647], 0.062),
    ([0.776, 0.794, 0.830], 0.072),
    ([0.777, 0.794, 0.831], 0.072),
    ([0.559, 0.617, 0.667], 0.102),
    ([0.407, 0.451, 0.497], 0.132),
];

/// Scale `v` to mean 0 and standard deviation 1 (a constant becomes zeros).
fn standardise(v: &mut [f32]) {
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let sd = (v.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n).sqrt();
    v.iter_mut().for_each(|a| *a = if sd > 0.0 { (*a - mean) / sd } else { 0.0 });
}

/// A procedural 32x32 RGB frost texture (CHW, [0, 1]): fractal haze, fine
/// ice grain and straight ice needles with side branches at 60 degrees,
/// standardised and coloured with the mean and contrast of one of the
/// recipe's photographs.
pub(crate) fn frost_texture(rng: &mut impl Rng) -> Vec<f32> {
    let mut haze = plasma_fractal(GRID, 1.6, rng);
    standardise(&mut haze);
    let mut needles = vec![0f32; GRID * GRID];
    let mut draw = |y: f32, x: f32, angle: f32, length: f32, value: f32| {
        let (dy, dx) = angle.sin_cos();
        for s in 0..(2.0 * length) as usize {
            let (py, px) = (y + dy * s as f32 * 0.5, x + dx * s as f32 * 0.5);
            if (0.0..GRID as f32 - 0.5).contains(&py) && (0.0..GRID as f32 - 0.5).contains(&px) {
                let i = py.round() as usize * GRID + px.round() as usize;
                needles[i] = needles[i].max(value);
            }
        }
    };
    for _ in 0..rng.random_range(10..20) {
        let (y, x) = (rng.random_range(0.0..GRID as f32), rng.random_range(0.0..GRID as f32));
        let angle = rng.random_range(0.0..std::f32::consts::TAU);
        let length = rng.random_range(4.0..14.0);
        let value = rng.random_range(0.5..1.0);
        draw(y, x, angle, length, value);
        for _ in 0..rng.random_range(0..4) {
            let t = rng.random_range(0.2..0.9) * length;
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            draw(y + angle.sin() * t, x + angle.cos() * t, angle + side * std::f32::consts::FRAC_PI_3, length * 0.4, value * 0.8);
        }
    }
    let mut needles = filter::gaussian_blur(&needles, GRID, GRID, 0.5);
    standardise(&mut needles);
    // Ice grain: white noise blurred to the crops' neighbour correlation (about 0.5).
    let noise: Vec<f32> = (0..GRID * GRID).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
    let mut grain = filter::gaussian_blur(&noise, GRID, GRID, 0.6);
    standardise(&mut grain);
    let mut z: Vec<f32> = (0..GRID * GRID).map(|i| 0.5 * haze[i] + grain[i] + 0.5 * needles[i]).collect();
    standardise(&mut z);
    let (mean, sd) = FROST_PHOTOS[rng.random_range(0..FROST_PHOTOS.len())];
    mean.iter().flat_map(|m| z.iter().map(move |v| (m + sd * v).clamp(0.0, 1.0))).collect()
}

/// Frost: `c0 x + c1 frost`, the frost texture procedural (see the module docs).
pub(crate) fn frost(x: &mut [f32], shape: [usize; 3], severity: u8, rng: &mut impl Rng) {
    let (keep, add) = [(1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][(severity - 1) as usize];
    let texture = frost_texture(rng);
    let plane = GRID * GRID;
    let layers: Vec<Vec<f32>> = if shape[0] == 3 {
        (0..3).map(|ch| to_image(&texture[ch * plane..(ch + 1) * plane], shape)).collect()
    } else {
        let g: Vec<f32> = (0..plane).map(|p| luma(texture[p], texture[plane + p], texture[2 * plane + p])).collect();
        vec![to_image(&g, shape); shape[0]]
    };
    for (p, layer) in x.chunks_exact_mut(shape[1] * shape[2]).zip(&layers) {
        p.iter_mut().zip(layer).for_each(|(v, f)| *v = keep * *v + add * f);
    }
}

/// `make_cifar_c.py`'s `plasma_fractal`: a diamond-square height map of
/// side `size` (a power of two), wrapping around, in [0, 1]; each finer
/// level's random offsets shrink by `decay`.
pub(crate) fn plasma_fractal(size: usize, decay: f64, rng: &mut impl Rng) -> Vec<f32> {
    assert!(size.is_power_of_two(), "plasma fractal side {size} must be a power of two");
    let mut map = vec![0f64; size * size];
    let mut step = size;
    let mut wibble = 100.0f64;
    let at = |y: usize, x: usize| (y % size) * size + (x % size);
    while step >= 2 {
        let half = step / 2;
        let n = size / step;
        // Squares: centre = mean of the four corners + noise.
        for i in 0..n {
            for j in 0..n {
                let (y, x) = (i * step, j * step);
                let sum = map[at(y, x)] + map[at(y + step, x)] + map[at(y, x + step)] + map[at(y + step, x + step)];
                map[at(y + half, x + half)] = sum / 4.0 + offset(wibble, rng);
            }
        }
        // Diamonds: edge midpoints = mean of the two centres and two corners beside them + noise.
        for i in 0..n {
            for j in 0..n {
                let (y, x) = (i * step, j * step);
                let top = map[at(y + half, x + half)] + map[at(y + size - half, x + half)] + map[at(y, x)] + map[at(y, x + step)];
                map[at(y, x + half)] = top / 4.0 + offset(wibble, rng);
            }
        }
        for i in 0..n {
            for j in 0..n {
                let (y, x) = (i * step, j * step);
                let left = map[at(y + half, x + half)] + map[at(y + half, x + size - half)] + map[at(y, x)] + map[at(y + step, x)];
                map[at(y + half, x)] = left / 4.0 + offset(wibble, rng);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = map.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = map.iter().map(|v| v - min).fold(0.0, f64::max);
    map.iter().map(|v| if max > 0.0 { ((v - min) / max) as f32 } else { 0.0 }).collect()
}

/// The random offset of one diamond-square point: `wibble * U(-wibble, wibble)`, as in the recipe.
fn offset(wibble: f64, rng: &mut impl Rng) -> f64 {
    wibble * rng.random_range(-wibble..wibble)
}

/// Fog: add `c0` times a plasma fractal, then rescale so the image's
/// brightest value stays where it was (`x max / (max + c0)`).
pub(crate) fn fog(x: &mut [f32], shape: [usize; 3], severity: u8, rng: &mut impl Rng) {
    let (amount, decay) = [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)][(severity - 1) as usize];
    let fractal = to_image(&plasma_fractal(GRID, decay, rng), shape);
    let max = x.iter().cloned().fold(0.0f32, f32::max);
    let plane = shape[1] * shape[2];
    for (i, v) in x.iter_mut().enumerate() {
        *v = (*v + amount * fractal[i % plane]) * max / (max + amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn plasma_spans_zero_to_one_and_smooths_with_decay() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Mean |neighbour difference|: a faster decay leaves less fine detail.
        let rough = |decay: f64, rng: &mut ChaCha8Rng| {
            (0..20)
                .map(|_| {
                    let m = plasma_fractal(32, decay, rng);
                    assert!(m.iter().all(|v| (0.0..=1.0).contains(v)) && m.contains(&0.0) && m.contains(&1.0));
                    (0..32 * 31).map(|i| (m[i + 32] - m[i]).abs()).sum::<f32>() / (32.0 * 31.0)
                })
                .sum::<f32>()
                / 20.0
        };
        let (slow, fast) = (rough(1.75, &mut rng), rough(3.0, &mut rng));
        assert!(fast < slow, "decay 3: {fast}, decay 1.75: {slow}");
    }

    #[test]
    fn frost_texture_has_the_photographs_colour_and_grain() {
        // Pooled over many textures: mean colour near the photographs' average,
        // within-texture contrast at the photographs' average, and neighbouring
        // pixels correlated about as in the crops (0.47 measured, 0.3-0.75 accepted).
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 400;
        let (mut mean, mut sd, mut corr) = ([0f64; 3], 0f64, 0f64);
        for _ in 0..n {
            let t = frost_texture(&mut rng);
            assert!(t.len() == 3 * 1024 && t.iter().all(|v| (0.0..=1.0).contains(v)));
            for ch in 0..3 {
                mean[ch] += t[ch * 1024..(ch + 1) * 1024].iter().map(|&v| v as f64).sum::<f64>() / 1024.0 / n as f64;
            }
            let g: Vec<f64> = (0..1024).map(|p| luma(t[p], t[1024 + p], t[2048 + p]) as f64).collect();
            let m = g.iter().sum::<f64>() / 1024.0;
            let var = g.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 1024.0;
            sd += var.sqrt() / n as f64;
            corr += (0..1024).filter(|p| p % 32 != 31).map(|p| (g[p] - m) * (g[p + 1] - m)).sum::<f64>() / (992.0 * var) / n as f64;
        }
        let expect: Vec<f64> = (0..3).map(|ch| FROST_PHOTOS.iter().map(|p| p.0[ch] as f64).sum::<f64>() / 5.0).collect();
        for ch in 0..3 {
            assert!((mean[ch] - expect[ch]).abs() < 0.03, "channel {ch}: {} vs {}", mean[ch], expect[ch]);
        }
        let expect_sd = FROST_PHOTOS.iter().map(|p| p.1 as f64).sum::<f64>() / 5.0;
        assert!((sd / expect_sd - 1.0).abs() < 0.15, "sd {sd} vs {expect_sd}");
        assert!((0.3..0.75).contains(&corr), "neighbour correlation {corr}");
    }
}
