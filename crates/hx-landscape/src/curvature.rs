//! Curvature on the grid (the seed's `plot_hessian_eigen.py`): at every
//! point the largest and smallest Hessian eigenvalues of the loss, and
//! `|lambda_min / lambda_max|`, a map of where the surface is convex.
//!
//! Both come from the engine's Lanczos, which finds the algebraically
//! largest eigenvalue: once on `H` for `lambda_max`, once on `-H` for
//! `-lambda_min`. Products are exact (on a retained graph), on a fixed seeded
//! batch of training examples with batch norm in eval mode, as hx-eigen.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use burn::prelude::*;
use hessx_hessian::{B1, Batch, LanczosConfig, SymOp, lanczos_top_k};
use hessx_models::Net;
use hessx_pipeline::curvature::{HessianBatch, model_hessian};
use hessx_store::landscape::CurvatureRow;
use hessx_store::tables::{read_rows, write_rows};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::state::StateLayout;
use crate::surface::Plane;

/// How the eigenvalues at each point are found (`--curvature`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvatureConfig {
    /// Training examples the Hessian is taken over (a seeded subset).
    pub examples: usize,
    /// Lanczos steps per eigenvalue at most.
    pub max_iter: usize,
    /// Lanczos tolerance, `residual <= tol * |lambda|`.
    pub tol: f64,
    /// Seed of the Lanczos start vectors.
    pub seed: u64,
}

/// `-H`, whose algebraically largest eigenvalue is `-lambda_min(H)`.
struct Negated<'a, O>(&'a mut O);

impl<O: SymOp> SymOp for Negated<'_, O> {
    type V = O::V;
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn apply(&mut self, v: &Self::V) -> hessx_hessian::Result<Self::V> {
        let mut r = self.0.apply(v)?;
        hessx_hessian::Vector::scale(&mut r, -1.0);
        Ok(r)
    }
    fn hvps(&self) -> u64 {
        self.0.hvps()
    }
    fn vector_from_host(&self, x: &[f64]) -> Self::V {
        self.0.vector_from_host(x)
    }
    fn vector_to_host(&self, v: &Self::V) -> Vec<f64> {
        self.0.vector_to_host(v)
    }
}

/// `(lambda_max, lambda_min, both converged, products)` of `op`.
pub fn extreme_eigenvalues<O: SymOp>(op: &mut O, cfg: &CurvatureConfig) -> Result<(f64, f64, bool, u64)> {
    let before = op.hvps();
    let lanczos = LanczosConfig { k: 1, max_iter: cfg.max_iter, tol: cfg.tol, seed: cfg.seed, verify: true };
    let top = lanczos_top_k(op, &lanczos)?;
    let bottom = lanczos_top_k(&mut Negated(op), &lanczos)?;
    let converged = top.all_converged() && bottom.all_converged();
    Ok((top.values[0], -bottom.values[0], converged, op.hvps() - before))
}

/// A curvature pass over a surface's grid.
pub struct CurvatureJob<'a> {
    /// The plane, its grid and its folder (shared with the loss pass).
    pub plane: Plane<'a>,
    /// Lanczos settings.
    pub config: &'a CurvatureConfig,
    /// Rewrite the table at least this often.
    pub save_every: Duration,
    /// Stop after this many new points.
    pub max_points: Option<usize>,
}

/// Fill `curvature.parquet` with the points not yet in it; returns how many were computed.
pub fn compute<B: Backend>(
    job: &CurvatureJob,
    net: Net<B1<B>>,
    layout: &StateLayout,
    batches: &[Batch<HessianBatch<B>>],
    device: &B::Device,
    bar: &indicatif::ProgressBar,
) -> Result<usize> {
    let plane = &job.plane;
    let table = plane.dir.curvature();
    let mut rows: Vec<CurvatureRow> = if table.exists() { read_rows(&table)? } else { Vec::new() };
    plane.check_resumable(&table, rows.iter().map(|r| r.fingerprint.as_str()))?;
    let done: BTreeSet<i64> = rows.iter().map(|r| r.point).collect();
    let todo: Vec<_> = plane.grid.points().into_iter().filter(|p| !done.contains(&(p.index as i64))).take(job.max_points.unwrap_or(usize::MAX)).collect();
    let examples: usize = batches.iter().map(|b| b.size).sum();
    bar.set_length(plane.grid.len() as u64);
    bar.set_position(done.len() as u64);
    let mut net = Some(net);
    let mut last_save = Instant::now();
    for (i, p) in todo.iter().enumerate() {
        let state = plane.state(p.x, p.y);
        let moved = layout.write(net.take().expect("the model is put back after every point"), &state, device);
        let mut op = model_hessian::<B>(moved.clone(), batches.to_vec())?;
        let (lambda_max, lambda_min, converged, hvps) = extreme_eigenvalues(&mut op, job.config)?;
        net = Some(moved);
        rows.push(CurvatureRow {
            step: plane.step,
            point: p.index as i64,
            x: p.x,
            y: p.y,
            lambda_max,
            lambda_min,
            ratio: (lambda_min / lambda_max).abs(),
            converged,
            hvps: hvps as i64,
            examples: examples as i64,
            fingerprint: plane.fingerprint.to_owned(),
        });
        bar.inc(1);
        if last_save.elapsed() >= job.save_every || i + 1 == todo.len() {
            rows.sort_by_key(|r| r.point);
            write_rows(&table, plane.identity, &rows)?;
            last_save = Instant::now();
        }
    }
    Ok(todo.len())
}
