//! The Gram matrix `G = U Uᵀ` of all eigenvectors (rows of `U`). Every
//! quantity of the analysis (PCA, cosines, subspace overlaps, tracking) is a
//! function of `G`, so the parameter dimension is touched exactly once:
//! `n² d / 2` multiply-adds, after which everything costs `O(n³)` in the
//! number of vectors `n`, independent of the number of parameters `d`.
//!
//! The vectors stay f32 (as stored); products are accumulated in f64, so a
//! dot product over 270k parameters keeps ~1e-12 relative accuracy.

use std::sync::atomic::{AtomicUsize, Ordering};

use nalgebra::DMatrix;

/// Rows per tile: a tile pair's chunk of both tiles stays in cache.
const TILE: usize = 16;
/// Parameters per chunk of the inner loop (16 KiB of f32 per vector).
const CHUNK: usize = 4096;

/// `sum_k a[k] * b[k]` in f64, with eight independent accumulators so the
/// compiler can vectorise the f32 -> f64 conversion and the adds.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] as f64 * y[k] as f64;
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| *x as f64 * *y as f64).sum();
    acc.iter().sum::<f64>() + tail
}

/// `G[i][j] = <v_i, v_j>` for equally long `vectors`, computed on `threads`
/// threads (tiles of row pairs handed out from a shared counter).
///
/// # Shapes
/// `vectors`: `n` slices of length `d`; result `n x n`, symmetric.
pub fn gram(vectors: &[&[f32]], threads: usize) -> DMatrix<f64> {
    let n = vectors.len();
    let d = vectors.first().map_or(0, |v| v.len());
    assert!(
        vectors.iter().all(|v| v.len() == d),
        "all vectors must have the same length"
    );
    let tiles = n.div_ceil(TILE);
    let pairs: Vec<(usize, usize)> = (0..tiles)
        .flat_map(|i| (i..tiles).map(move |j| (i, j)))
        .collect();
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, pairs.len().max(1));
    let results: Vec<Vec<(usize, usize, f64)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(ti, tj)) = pairs.get(k) else { break };
                        tile_pair(vectors, d, ti, tj, &mut out);
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("gram worker should not panic"))
            .collect()
    });
    let mut g = DMatrix::zeros(n, n);
    for (i, j, v) in results.into_iter().flatten() {
        g[(i, j)] = v;
        g[(j, i)] = v;
    }
    g
}

/// Dot products between the rows of tile `ti` and tile `tj` (upper triangle
/// only when they are the same tile), chunked along the parameters.
fn tile_pair(
    vectors: &[&[f32]],
    d: usize,
    ti: usize,
    tj: usize,
    out: &mut Vec<(usize, usize, f64)>,
) {
    let n = vectors.len();
    let rows = ti * TILE..((ti + 1) * TILE).min(n);
    let cols = tj * TILE..((tj + 1) * TILE).min(n);
    let mut acc = vec![0.0f64; rows.len() * cols.len()];
    for start in (0..d.max(1)).step_by(CHUNK) {
        let end = (start + CHUNK).min(d);
        for (a, i) in rows.clone().enumerate() {
            for (b, j) in cols.clone().enumerate() {
                if ti == tj && j < i {
                    continue;
                }
                acc[a * cols.len() + b] += dot(&vectors[i][start..end], &vectors[j][start..end]);
            }
        }
    }
    for (a, i) in rows.clone().enumerate() {
        for (b, j) in cols.clone().enumerate() {
            if ti != tj || j >= i {
                out.push((i, j, acc[a * cols.len() + b]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_products_across_tiles_and_chunks() {
        // 37 vectors (3 tiles, the last partial) of length 9001 (3 chunks, a
        // partial one, and a tail that is not a multiple of 8).
        let (n, d) = (37, 9001);
        let vs: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                (0..d)
                    .map(|k| (((i * 7919 + k * 104729) % 1000) as f32 / 500.0) - 1.0)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f32]> = vs.iter().map(|v| v.as_slice()).collect();
        for threads in [1, 3] {
            let g = gram(&refs, threads);
            for i in 0..n {
                for j in 0..n {
                    let naive: f64 = vs[i]
                        .iter()
                        .zip(&vs[j])
                        .map(|(a, b)| *a as f64 * *b as f64)
                        .sum();
                    // Same f64 products summed in another order: agreement to
                    // round-off of a sum of ~1e4 terms of size <= 1.
                    assert!(
                        (g[(i, j)] - naive).abs() <= 1e-9 * naive.abs().max(1.0),
                        "({i},{j})"
                    );
                }
            }
        }
    }
}
