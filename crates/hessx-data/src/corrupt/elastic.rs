//! Elastic transform: a random affine warp (`cv2.warpAffine`, edges
//! reflected about the edge pixel) followed by a smooth random displacement
//! field (`scipy.ndimage.map_coordinates`, edges mirrored), after the
//! recipe's `elastic_transform`. Its constants are fractions of the image
//! side (`IMSIZE * ...`), so they scale with the image as written; hessx
//! puts the shorter side there.

use rand::Rng;

use super::filter::{self, Edge};

/// Warp each channel of the CHW image `x` in place.
pub(crate) fn elastic(x: &mut [f32], shape: [usize; 3], severity: u8, rng: &mut impl Rng) {
    let [_, h, w] = shape;
    let side = h.min(w) as f32;
    let (alpha, sigma, affine) =
        [(0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)][(severity - 1) as usize];
    let (alpha, sigma, affine) = (alpha * side, sigma * side, affine * side);

    // Three points around the centre, each moved by up to `affine` pixels per axis.
    let (cx, cy, sq) = ((w / 2) as f32, (h / 2) as f32, (h.min(w) / 3) as f32);
    let from = [[cx + sq, cy + sq], [cx + sq, cy - sq], [cx - sq, cy - sq]];
    let mut to = from;
    for p in &mut to {
        for v in p.iter_mut() {
            *v += rng.random_range(-affine..affine);
        }
    }
    let inverse = inverse_affine(from, to);
    let plane = h * w;
    let mut warped = vec![0f32; x.len()];
    for (src, dst) in x.chunks_exact(plane).zip(warped.chunks_exact_mut(plane)) {
        for y in 0..h {
            for xx in 0..w {
                // OpenCV resolves source positions to 1/32 pixel.
                let q = |v: f32| (v * 32.0).round() / 32.0;
                let (sx, sy) = inverse(xx as f32, y as f32);
                dst[y * w + xx] = filter::bilinear(src, h, w, q(sy), q(sx), Edge::Reflect101);
            }
        }
    }

    let mut field = || {
        let noise: Vec<f32> = (0..plane).map(|_| rng.random_range(-1.0..1.0)).collect();
        filter::gaussian_filter(&noise, h, w, [sigma, sigma], 3.0, Edge::Reflect).into_iter().map(|v| v * alpha).collect::<Vec<f32>>()
    };
    let dx = field();
    let dy = field();
    for (src, dst) in warped.chunks_exact(plane).zip(x.chunks_exact_mut(plane)) {
        for y in 0..h {
            for xx in 0..w {
                let i = y * w + xx;
                dst[i] = filter::bilinear(src, h, w, y as f32 + dy[i], xx as f32 + dx[i], Edge::Reflect);
            }
        }
    }
}

/// The map from an output position `(x, y)` to the input position it reads,
/// for the affine transform that takes the points `from` to `to`.
fn inverse_affine(from: [[f32; 2]; 3], to: [[f32; 2]; 3]) -> impl Fn(f32, f32) -> (f32, f32) {
    // Columns: the two edges of each triangle from its first point.
    let p = [[from[1][0] - from[0][0], from[2][0] - from[0][0]], [from[1][1] - from[0][1], from[2][1] - from[0][1]]];
    let q = [[to[1][0] - to[0][0], to[2][0] - to[0][0]], [to[1][1] - to[0][1], to[2][1] - to[0][1]]];
    let det = q[0][0] * q[1][1] - q[0][1] * q[1][0];
    let q_inv = [[q[1][1] / det, -q[0][1] / det], [-q[1][0] / det, q[0][0] / det]];
    // m = p q^-1
    let m = [
        [p[0][0] * q_inv[0][0] + p[0][1] * q_inv[1][0], p[0][0] * q_inv[0][1] + p[0][1] * q_inv[1][1]],
        [p[1][0] * q_inv[0][0] + p[1][1] * q_inv[1][0], p[1][0] * q_inv[0][1] + p[1][1] * q_inv[1][1]],
    ];
    let (f0, t0) = (from[0], to[0]);
    move |x, y| {
        let (u, v) = (x - t0[0], y - t0[1]);
        (f0[0] + m[0][0] * u + m[0][1] * v, f0[1] + m[1][0] * u + m[1][1] * v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_affine_maps_the_moved_points_back() {
        let from = [[26.0, 26.0], [26.0, 6.0], [6.0, 6.0]];
        let to = [[27.1, 25.2], [24.9, 7.3], [6.5, 5.1]];
        let inv = inverse_affine(from, to);
        for (f, t) in from.iter().zip(&to) {
            let (x, y) = inv(t[0], t[1]);
            assert!((x - f[0]).abs() < 1e-4 && (y - f[1]).abs() < 1e-4, "{t:?} -> ({x}, {y}), expected {f:?}");
        }
        let identity = inverse_affine(from, from);
        assert_eq!(identity(3.0, 4.0), (3.0, 4.0));
    }
}
