//! Products on burn's retained graph (`ProductEngine::Auto` on Flex: the patched burn-autodiff in
//! `vendor/burn-autodiff` keeps the inner graph between products) against nested autodiff on the same
//! backend, weights, batch and vectors, on the four image models.
//!
//! Tolerance: 1e-4 relative L2. Both are exact; in f32 they differ by the rounding of different operation
//! orders (1e-7 to 1e-5 relative here), while a dropped or doubled term is off by 1e-2 or more. The f64
//! check against finite differences is `hessx-hessian/tests/f64.rs`. One batch keeps the graph; two
//! batches take nested products (memory of one batch's graph): both paths are checked, and a retained
//! product must repeat bit for bit (the graph is neither consumed nor altered by a product).

mod common;

use burn::backend::Flex;
use hessx_models::{Activation, Arch};
use hessx_pipeline::curvature::ModelHessian;

use common::auto_matches_nested;

const TOL: f64 = 1e-4;

fn retained_matches_nested(arch: Arch) {
    auto_matches_nested::<Flex>(arch, TOL, |op, chunk| {
        #[allow(irrefutable_let_patterns)] // the only variant without the `tch` feature
        let ModelHessian::Nested(op) = op else { return false };
        op.retains_graph() == (chunk == 96)
    });
}

#[test]
fn retained_graph_resnet_matches_nested() {
    retained_matches_nested(Arch::ResNet { depth: 8, batch_norm: true, residual: true });
}

#[test]
fn retained_graph_cnn_matches_nested() {
    retained_matches_nested(Arch::SmallCnn);
}

#[test]
fn retained_graph_mlp_matches_nested() {
    retained_matches_nested(Arch::Mlp { hidden: vec![32, 16], activation: Activation::Tanh });
}

#[test]
fn retained_graph_transformer_matches_nested() {
    retained_matches_nested(Arch::Transformer { patch: 4, dim: 16, depth: 1, heads: 2, mlp_dim: 32 });
}
