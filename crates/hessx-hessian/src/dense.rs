//! The exact dense Hessian of small models: the ground truth every estimator is tested against.
//!
//! `H e_j` for every basis vector (`dim` products), symmetrised as `(H + H^T)/2` (a product is symmetric
//! only up to rounding), then nalgebra's symmetric eigen-decomposition. Feasible up to a few thousand
//! parameters.

use std::time::Instant;

use nalgebra::{DMatrix, SymmetricEigen};

use crate::error::{Result, finite};
use crate::op::SymOp;

/// A dense Hessian.
#[derive(Debug, Clone)]
pub struct DenseHessian {
    /// `(H + H^T)/2`.
    pub matrix: DMatrix<f64>,
    /// `max |H - H^T| / max |H|` before symmetrising: rounding level of the products (f32: ~1e-6).
    pub asymmetry: f64,
    /// Products used (= dimension).
    pub hvps: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Eigen-decomposition of a dense symmetric matrix.
#[derive(Debug, Clone)]
pub struct DenseEigen {
    /// Eigenvalues, descending.
    pub values: Vec<f64>,
    /// Unit eigenvectors as columns, in the order of `values`.
    pub vectors: DMatrix<f64>,
}

/// Forms the dense Hessian column by column.
pub fn dense_hessian<O: SymOp>(op: &mut O) -> Result<DenseHessian> {
    let start = Instant::now();
    let hvps0 = op.hvps();
    let n = op.dim();
    let mut h = DMatrix::<f64>::zeros(n, n);
    let mut e = vec![0.0; n];
    for j in 0..n {
        e[j] = 1.0;
        let x = op.vector_from_host(&e);
        let y = op.apply(&x)?;
        let col = op.vector_to_host(&y);
        e[j] = 0.0;
        for (i, x) in col.into_iter().enumerate() {
            h[(i, j)] = finite(x, "dense Hessian entry")?;
        }
    }
    let scale = h.amax();
    let asymmetry = if scale > 0.0 {
        (&h - h.transpose()).amax() / scale
    } else {
        0.0
    };
    let matrix = (&h + h.transpose()) * 0.5;
    Ok(DenseHessian {
        matrix,
        asymmetry,
        hvps: op.hvps() - hvps0,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// All eigenpairs of a symmetric matrix, descending.
pub fn dense_eigen(matrix: &DMatrix<f64>) -> DenseEigen {
    let eig = SymmetricEigen::new(matrix.clone());
    let n = matrix.nrows();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    DenseEigen {
        values: order.iter().map(|&i| eig.eigenvalues[i]).collect(),
        vectors: DMatrix::from_fn(n, n, |r, c| eig.eigenvectors[(r, order[c])]),
    }
}
