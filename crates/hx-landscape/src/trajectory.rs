//! A training trajectory in two dimensions (`plot_trajectory.py`): the
//! principal directions of the checkpoints' offsets from the origin
//! (centred, as sklearn's PCA), each checkpoint's coordinates on them, and
//! the share of the trajectory's variance each axis explains.
//!
//! With n checkpoints of D parameters the PCA goes through the n x n Gram
//! matrix of the centred offsets `Xc`: its eigenpairs `(l_k, v_k)` give the
//! unit directions `u_k = Xc^T v_k / sqrt(l_k)`, never forming a D x D matrix.

use hessx_store::RunIdentity;
use hessx_store::landscape::{LandscapeDir, TrajectoryRow};
use hessx_store::tables::write_rows;
use nalgebra::DMatrix;

use crate::directions::DirType;
use crate::error::{Error, Result};
use crate::state::StateLayout;

/// The two PCA directions and the projected checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// First principal direction (unit).
    pub dx: Vec<f32>,
    /// Second principal direction (unit).
    pub dy: Vec<f32>,
    /// `(step, x, y)` of each checkpoint: its offset from the origin projected on `dx`, `dy`.
    pub points: Vec<(i64, f64, f64)>,
    /// Share of the variance along `dx` and `dy`.
    pub explained: [f64; 2],
}

/// PCA of `states` (`(step, state)`) around the origin `w`, over the tensors
/// `dir_type` includes (and, with `ignore_biasbn`, of rank >= 2 only).
pub fn pca(layout: &StateLayout, w: &[f32], states: &[(i64, Vec<f32>)], dir_type: DirType, ignore_biasbn: bool) -> Result<Trajectory> {
    let mask: Vec<bool> = {
        let mut m = vec![false; layout.len];
        for t in layout.tensors.iter().filter(|t| dir_type.includes(t) && !(ignore_biasbn && t.shape.len() <= 1)) {
            m[t.range()].fill(true);
        }
        m
    };
    let n = states.len();
    if n < 3 {
        return Err(Error::Input(format!("--axes pca: the run has {n} checkpoint(s); a trajectory needs at least 3")));
    }
    let offsets: Vec<Vec<f64>> = states
        .iter()
        .map(|(_, s)| s.iter().zip(w).zip(&mask).map(|((a, b), &m)| if m { (*a - *b) as f64 } else { 0.0 }).collect())
        .collect();
    let dim = layout.len;
    let mean: Vec<f64> = (0..dim).map(|j| offsets.iter().map(|o| o[j]).sum::<f64>() / n as f64).collect();
    let centred: Vec<Vec<f64>> = offsets.iter().map(|o| o.iter().zip(&mean).map(|(a, m)| a - m).collect()).collect();
    let gram = DMatrix::from_fn(n, n, |i, j| centred[i].iter().zip(&centred[j]).map(|(a, b)| a * b).sum::<f64>());
    let eig = gram.symmetric_eigen();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let total: f64 = eig.eigenvalues.iter().map(|l| l.max(0.0)).sum();
    let component = |k: usize| -> Result<(Vec<f32>, f64)> {
        let idx = order[k];
        let l = eig.eigenvalues[idx];
        if l <= 1e-12 * total.max(1e-300) {
            return Err(Error::Input(format!("--axes pca: the checkpoints span fewer than {} directions", k + 1)));
        }
        let v = eig.eigenvectors.column(idx);
        let s = l.sqrt();
        let u: Vec<f32> = (0..dim).map(|j| ((0..n).map(|i| centred[i][j] * v[i]).sum::<f64>() / s) as f32).collect();
        Ok((u, l / total))
    };
    let (dx, ex) = component(0)?;
    let (dy, ey) = component(1)?;
    let dot = |a: &[f64], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * *y as f64).sum::<f64>();
    let points = states.iter().zip(&offsets).map(|((step, _), o)| (*step, dot(o, &dx), dot(o, &dy))).collect();
    Ok(Trajectory { dx, dy, points, explained: [ex, ey] })
}

/// Save the projected checkpoints.
pub fn write(dir: &LandscapeDir, id: &RunIdentity, fingerprint: &str, t: &Trajectory) -> Result<()> {
    let rows: Vec<TrajectoryRow> = t
        .points
        .iter()
        .map(|&(step, x, y)| TrajectoryRow { step, x, y, explained_x: t.explained[0], explained_y: t.explained[1], fingerprint: fingerprint.into() })
        .collect();
    write_rows(&dir.trajectory(), id, &rows)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::TensorInfo;
    use burn::module::ParamId;

    fn layout(n: usize) -> StateLayout {
        StateLayout { tensors: vec![TensorInfo { path: "w".into(), id: ParamId::new(), shape: vec![n, 1], offset: 0, running: false }], len: n }
    }

    #[test]
    fn a_trajectory_in_a_plane_is_recovered_exactly() {
        // Checkpoints on the plane spanned by e0 and e1 (scaled 3:1), ending at the origin.
        let l = layout(4);
        let w = vec![1.0f32, 2.0, 3.0, 4.0];
        let path: [(f32, f32); 5] = [(3.0, 1.0), (2.0, -1.0), (1.0, 0.5), (-1.0, 0.2), (0.0, 0.0)];
        let states: Vec<(i64, Vec<f32>)> =
            path.iter().enumerate().map(|(i, &(a, b))| (i as i64 * 10, vec![w[0] + a, w[1] + b, w[2], w[3]])).collect();
        let t = pca(&l, &w, &states, DirType::Weights, false).unwrap();
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        assert!((norm(&t.dx) - 1.0).abs() < 1e-6 && (norm(&t.dy) - 1.0).abs() < 1e-6);
        assert!((t.explained[0] + t.explained[1] - 1.0).abs() < 1e-9, "the plane holds all the variance: {:?}", t.explained);
        // Projections preserve distances within the plane.
        for (&(_, x, y), &(a, b)) in t.points.iter().zip(&path) {
            assert!(((x * x + y * y).sqrt() - ((a * a + b * b) as f64).sqrt()).abs() < 1e-5);
        }
        assert_eq!(t.dx[2], 0.0);
        let err = pca(&l, &w, &states[..2], DirType::Weights, false).unwrap_err().to_string();
        assert!(err.contains("at least 3"), "{err}");
    }
}
