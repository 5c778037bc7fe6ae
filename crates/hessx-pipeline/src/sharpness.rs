//! Sharpness tracking during training (`hx-train --track-sharpness N`): every N optimiser steps, the
//! largest Hessian eigenvalue of that step's mini-batch loss at the weights the step starts from.
//!
//! The estimate works on detached copies: the weights are lifted with `AutodiffModule::from_inner`
//! (which copies batch-norm running statistics) and the batch is rebuilt from the same indices and the
//! same per-step augmentation seed, so the training trajectory does not see it: the same RNG draws, the
//! same weights bit for bit as without tracking. Batch norm uses the running statistics (the curvature
//! stages' `--hessian-bn-mode eval`) and never updates them. The solver is Lanczos (one pair) with a
//! budget of K products, the last of which computes the explicit residual, warm-started from the
//! previous estimate's eigenvector (a resumed run starts cold).

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::prelude::*;
use hessx_hessian::{B1, B2, Batch, LanczosConfig, ParamLayout, SymOp, lanczos_top_k_from};
use hessx_models::{BnMode, Input, Net};
use serde::{Deserialize, Serialize};

use crate::hessian_op::{HessianBatch, ModelHessian, ProductEngine};
use crate::Result;

/// `--track-sharpness N --sharpness-hvps K`, saved in `config/train.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharpnessTracking {
    /// Estimate on the batches of steps 1, N + 1, 2N + 1, ... (the log's `step`).
    pub every: usize,
    /// Hessian-vector products per estimate (at least 2: Lanczos steps plus the residual product).
    pub hvps: usize,
}

impl SharpnessTracking {
    /// Default products per estimate.
    pub const DEFAULT_HVPS: usize = 10;

    /// Whether the step with 0-based index `step` gets an estimate.
    pub fn due(&self, step: usize) -> bool {
        self.every > 0 && step.is_multiple_of(self.every)
    }
}

/// One estimate of the top eigenpair.
#[derive(Debug, Clone)]
pub struct SharpnessEstimate {
    /// The Ritz value.
    pub value: f64,
    /// `||H v - value v||` of the returned unit vector.
    pub residual: f64,
    /// Products used (residual included).
    pub hvps: u64,
    /// Wall time of the estimate (operator set-up included).
    pub seconds: f64,
    /// The unit eigenvector on the host, the next estimate's start.
    pub vector: Vec<f64>,
}

/// The top eigenpair of `model`'s mean cross-entropy on `inputs`/`labels` (BN in eval mode) by Lanczos
/// with at most `hvps` products, started from `start` (or a Gaussian vector seeded by `seed`).
pub fn estimate_sharpness<P: Backend>(
    model: &Net<B1<P>>,
    inputs: Input<B2<P>>,
    labels: Tensor<B2<P>, 1, Int>,
    hvps: usize,
    start: Option<&[f64]>,
    seed: u64,
) -> Result<SharpnessEstimate> {
    let t0 = Instant::now();
    let size = inputs.batch_size();
    let model = model.clone();
    let layout = ParamLayout::trainable(&model)?;
    let batch = Batch::new(HessianBatch::of_inputs(inputs, labels, BnMode::Eval), size);
    let mut op = ModelHessian::new(model, layout, vec![batch], ProductEngine::Auto)?;
    let cfg = LanczosConfig { k: 1, max_iter: hvps.saturating_sub(1).max(1), tol: 1e-3, seed, verify: true };
    let start = start.filter(|s| s.len() == op.dim());
    let top = lanczos_top_k_from(&mut op, &cfg, start)?;
    let vector = op.vector_to_host(&top.vectors[0]);
    Ok(SharpnessEstimate {
        value: top.values[0],
        residual: top.residuals[0],
        hvps: top.hvps,
        seconds: t0.elapsed().as_secs_f64(),
        vector,
    })
}

/// A detached copy of a training model on the Hessian operator's backend (`B1` of the plain backend).
pub fn lift<B: burn::tensor::backend::AutodiffBackend>(model: &Net<B>) -> Net<B1<B::InnerBackend>> {
    <Net<B1<B::InnerBackend>> as AutodiffModule<B1<B::InnerBackend>>>::from_inner(model.valid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_fall_on_steps_1_n_plus_1_and_so_on() {
        let t = SharpnessTracking { every: 3, hvps: 10 };
        let due: Vec<usize> = (0..10).filter(|&s| t.due(s)).map(|s| s + 1).collect();
        assert_eq!(due, [1, 4, 7, 10], "log steps with an estimate");
        assert!((0..5).all(|s| SharpnessTracking { every: 1, hvps: 2 }.due(s)));
    }

    #[test]
    fn configs_written_before_tracking_read_as_untracked() {
        #[derive(Deserialize)]
        struct Part {
            #[serde(default)]
            sharpness: Option<SharpnessTracking>,
        }
        let old: Part = toml::from_str("lr = 0.1\n").unwrap();
        assert_eq!(old.sharpness, None);
        let new: Part = toml::from_str("[sharpness]\nevery = 5\nhvps = 10\n").unwrap();
        assert_eq!(new.sharpness, Some(SharpnessTracking { every: 5, hvps: 10 }));
    }
}
