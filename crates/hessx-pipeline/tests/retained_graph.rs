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
use burn::prelude::*;
use hessx_hessian::{B1, ProbeKind, ProbeStream, SymOp};
use hessx_models::{Activation, Arch, InputSpec, ModelSpec};
use hessx_pipeline::batches::Normalization;
use hessx_pipeline::curvature::{HessianBnMode, ModelHessian, ProductEngine, hessian_batches, model_hessian_with};

use common::{digits, relative_error};

const TOL: f64 = 1e-4;

fn retained_matches_nested(arch: Arch) {
    let spec = ModelSpec { arch, input: InputSpec::Image { channels: 1, height: 8, width: 8 }, num_classes: 10 };
    let device = Default::default();
    <B1<Flex> as Backend>::seed(&device, 9);
    let model = spec.init::<B1<Flex>>(&device);
    let digits = digits();
    let indices: Vec<usize> = (0..96).collect();
    for (chunk, kept) in [(96, true), (64, false)] {
        let batches = || hessian_batches::<Flex>(&digits, &indices, chunk, &Normalization::of(&digits), HessianBnMode::Eval, &device);
        let mut auto = model_hessian_with(model.clone(), batches(), ProductEngine::Auto).unwrap();
        let mut nested = model_hessian_with(model.clone(), batches(), ProductEngine::Nested).unwrap();
        #[allow(irrefutable_let_patterns)] // the only variant without the `tch` feature
        let ModelHessian::Nested(op) = &auto else { panic!("Flex builds the burn operator") };
        assert_eq!(op.retains_graph(), kept, "{}: batches of {chunk}", spec.name());
        for seed in [1, 2] {
            let v = auto.vector_from_host(&ProbeStream::new(seed).draw(ProbeKind::Gaussian, auto.dim()));
            let a = auto.apply(&v).unwrap();
            let a = auto.vector_to_host(&a);
            let again = auto.apply(&v).unwrap();
            let again = auto.vector_to_host(&again);
            let b = nested.apply(&v).unwrap();
            let b = nested.vector_to_host(&b);
            let err = relative_error(&a, &b);
            assert!(err < TOL, "{} (batches of {chunk}): retained vs nested {err:.2e}", spec.name());
            assert_eq!(a, again, "{}: a second product with the same v differs", spec.name());
        }
    }
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
