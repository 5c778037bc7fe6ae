//! Following an eigenvector from one checkpoint to the next by direction,
//! not by rank: when two eigenvalues cross, rank 0 at step s and rank 0 at
//! step s+1 are different directions, and a curve "eigenvalue of rank 0"
//! jumps between them. Here each track is matched to the vector of the next
//! checkpoint it overlaps most, with one optimal assignment per pair of
//! checkpoints (the Hungarian algorithm maximising the summed `|cos|`), so
//! two tracks never claim the same vector.

use nalgebra::DMatrix;

/// One point of a tracked eigenvector.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPoint {
    /// Checkpoint step.
    pub step: i64,
    /// Track id: the rank the direction had where the track started (tracks
    /// that start later are numbered after those).
    pub track: u32,
    /// Rank of the matched vector at this step.
    pub rank: u32,
    /// Its eigenvalue.
    pub eigenvalue: f64,
    /// `|cos|` with the track's vector at the previous checkpoint (NaN at the start).
    pub abs_cosine_prev: f64,
    /// Whether the stored vector points opposite to the track's orientation,
    /// which is that of the track's first vector carried along by continuity
    /// (each step keeps the sign with positive cosine to the previous one).
    /// Multiplying every flipped vector by -1 gives a track of consistently
    /// signed vectors; a solver that returns `v, -v, -v` flips at the second
    /// and third checkpoints, not only where the stored sign changed.
    pub flipped: bool,
}

/// One checkpoint's vectors as rows `range` of the Gram matrix.
#[derive(Debug, Clone)]
pub struct Checkpoint<'a> {
    /// Checkpoint step.
    pub step: i64,
    /// Gram-matrix rows of its vectors, in rank order.
    pub rows: std::ops::Range<usize>,
    /// Rank of each vector.
    pub ranks: &'a [u32],
    /// Eigenvalue of each vector.
    pub eigenvalues: &'a [f64],
}

/// Maximum-weight assignment of rows to columns of `w` (`n x m`): entry `i`
/// is the column given to row `i`, `None` when `n > m` leaves it without one.
/// O(n² m) shortest augmenting paths with potentials (Kuhn–Munkres).
pub fn hungarian_max(w: &DMatrix<f64>) -> Vec<Option<usize>> {
    let (n, m) = w.shape();
    if n > m {
        // Solve the transpose and invert the assignment.
        let cols = hungarian_max(&w.transpose());
        let mut rows = vec![None; n];
        for (j, i) in cols.into_iter().enumerate() {
            if let Some(i) = i {
                rows[i] = Some(j);
            }
        }
        return rows;
    }
    // Minimise cost = -w; 1-based arrays with a virtual column 0.
    let cost = |i: usize, j: usize| -w[(i - 1, j - 1)];
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; m + 1]);
    let (mut p, mut way) = (vec![0usize; m + 1], vec![0usize; m + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0);
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0, j) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut rows = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            rows[p[j] - 1] = Some(j - 1);
        }
    }
    rows
}

/// Track every direction through consecutive checkpoints (ordered by step).
/// `gram` holds the inner products of all vectors.
pub fn track(gram: &DMatrix<f64>, checkpoints: &[Checkpoint<'_>]) -> Vec<TrackPoint> {
    let mut points = Vec::new();
    let Some(first) = checkpoints.first() else {
        return points;
    };
    // Active tracks: (track id, Gram row of its current vector, orientation).
    let mut active: Vec<(u32, usize, f64)> = Vec::new();
    for (k, row) in first.rows.clone().enumerate() {
        active.push((first.ranks[k], row, 1.0));
        points.push(TrackPoint {
            step: first.step,
            track: first.ranks[k],
            rank: first.ranks[k],
            eigenvalue: first.eigenvalues[k],
            abs_cosine_prev: f64::NAN,
            flipped: false,
        });
    }
    let mut next_id = first.ranks.iter().copied().max().map_or(0, |r| r + 1);
    for cp in &checkpoints[1..] {
        let cols: Vec<usize> = cp.rows.clone().collect();
        let cos = |a: usize, b: usize| {
            gram[(a, b)] / (gram[(a, a)] * gram[(b, b)]).sqrt().max(f64::MIN_POSITIVE)
        };
        let w = DMatrix::from_fn(active.len(), cols.len(), |t, c| {
            cos(active[t].1, cols[c]).abs()
        });
        let assignment = hungarian_max(&w);
        let mut taken = vec![false; cols.len()];
        let mut still = Vec::new();
        for (t, a) in assignment.iter().enumerate() {
            let Some(c) = *a else { continue };
            taken[c] = true;
            let (id, prev, orient) = active[t];
            // `orient` is +1 when the stored vector at `prev` points along the
            // track: the new one does when its cosine with `orient * prev` is positive.
            let signed = cos(prev, cols[c]);
            let orient = if signed * orient < 0.0 { -1.0 } else { 1.0 };
            let flipped = orient < 0.0;
            points.push(TrackPoint {
                step: cp.step,
                track: id,
                rank: cp.ranks[c],
                eigenvalue: cp.eigenvalues[c],
                abs_cosine_prev: signed.abs(),
                flipped,
            });
            still.push((id, cols[c], orient));
        }
        // Vectors no track claimed (the checkpoint has more of them) start new tracks.
        for (c, &t) in taken.iter().enumerate() {
            if !t {
                points.push(TrackPoint {
                    step: cp.step,
                    track: next_id,
                    rank: cp.ranks[c],
                    eigenvalue: cp.eigenvalues[c],
                    abs_cosine_prev: f64::NAN,
                    flipped: false,
                });
                still.push((next_id, cols[c], 1.0));
                next_id += 1;
            }
        }
        active = still;
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_beats_greedy_where_greedy_fails() {
        // Greedy takes (0,0)=0.9 then (1,1)=0.1: total 1.0. Optimal: 0.8 + 0.85.
        let w = DMatrix::from_row_slice(2, 2, &[0.9, 0.8, 0.85, 0.1]);
        assert_eq!(hungarian_max(&w), vec![Some(1), Some(0)]);
        // Rectangular both ways.
        let wide = DMatrix::from_row_slice(2, 3, &[0.1, 0.2, 0.9, 0.8, 0.1, 0.3]);
        assert_eq!(hungarian_max(&wide), vec![Some(2), Some(0)]);
        assert_eq!(
            hungarian_max(&wide.transpose()),
            vec![Some(1), None, Some(0)]
        );
    }

    #[test]
    fn recovers_a_known_permutation_with_sign_flips() {
        // Checkpoint 0: e0..e3 with ranks 0..3. Checkpoint 1: the same
        // directions, slightly perturbed, stored in the order 2, 0, 3, 1 with
        // the signs of two of them flipped.
        let d = 6;
        let perm = [2usize, 0, 3, 1];
        let sign = [1.0, -1.0, 1.0, -1.0];
        let mut rows = Vec::new();
        for i in 0..4 {
            let mut v = vec![0.0; d];
            v[i] = 1.0;
            rows.push(v);
        }
        for (k, &p) in perm.iter().enumerate() {
            let mut v = vec![0.05; d];
            v[p] = sign[k];
            rows.push(v);
        }
        let u = DMatrix::from_fn(8, d, |i, j| rows[i][j]);
        let g = &u * u.transpose();
        let ranks = [0u32, 1, 2, 3];
        let eig0 = [4.0, 3.0, 2.0, 1.0];
        let eig1 = [4.1, 3.1, 2.1, 1.1];
        let cps = [
            Checkpoint {
                step: 0,
                rows: 0..4,
                ranks: &ranks,
                eigenvalues: &eig0,
            },
            Checkpoint {
                step: 10,
                rows: 4..8,
                ranks: &ranks,
                eigenvalues: &eig1,
            },
        ];
        let points = track(&g, &cps);
        assert_eq!(points.len(), 8);
        for p in points.iter().filter(|p| p.step == 10) {
            let k = p.rank as usize;
            assert_eq!(
                p.track as usize, perm[k],
                "rank {k} at step 10 continues direction {}",
                perm[k]
            );
            assert_eq!(p.flipped, sign[k] < 0.0);
            assert_eq!(p.eigenvalue, eig1[k]);
            assert!(p.abs_cosine_prev > 0.99);
        }
    }

    #[test]
    fn flipped_is_relative_to_the_tracks_orientation() {
        // One direction stored as v, -v, -v, v, -v (slightly rotating): the
        // track's orientation is v's, so the stored vector is flipped at the
        // 2nd, 3rd and 5th checkpoints, not only where the stored sign changed.
        let signs = [1.0, -1.0, -1.0, 1.0, -1.0];
        let u = DMatrix::from_fn(5, 2, |i, k| {
            let t = 0.05 * i as f64;
            signs[i] * if k == 0 { t.cos() } else { t.sin() }
        });
        let g = &u * u.transpose();
        let cps: Vec<Checkpoint<'_>> = (0..5)
            .map(|i| Checkpoint {
                step: 10 * i as i64,
                rows: i..i + 1,
                ranks: &[0],
                eigenvalues: &[1.0],
            })
            .collect();
        let flipped: Vec<bool> = track(&g, &cps).iter().map(|p| p.flipped).collect();
        assert_eq!(flipped, [false, true, true, false, true]);
    }

    #[test]
    fn extra_vectors_start_new_tracks() {
        let u = DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 0.01]);
        let g = &u * u.transpose();
        let cps = [
            Checkpoint {
                step: 0,
                rows: 0..1,
                ranks: &[0],
                eigenvalues: &[1.0],
            },
            Checkpoint {
                step: 5,
                rows: 1..3,
                ranks: &[0, 1],
                eigenvalues: &[2.0, 1.0],
            },
        ];
        let points = track(&g, &cps);
        let at5: Vec<_> = points
            .iter()
            .filter(|p| p.step == 5)
            .map(|p| (p.track, p.rank))
            .collect();
        assert_eq!(at5, vec![(0, 1), (1, 0)]);
    }
}
