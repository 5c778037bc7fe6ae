//! LibTorch (cargo feature `tch`, `just test-libtorch`) computes the same
//! losses, gradients, Hessian-vector products and top eigenvalues as Flex, on
//! the same weights (a checkpoint written on Flex and loaded on LibTorch) and
//! the same batch of the embedded digits, through the operator the stages use.
//!
//! Tolerance: 1e-4 relative L2. Both backends compute in f32; the rounding of
//! different kernels puts their products 1e-7 to 1e-5 apart on these models
//! (measured in `shared/notes/cpu-backends.md` §3), while a wrong product (a
//! dropped term, a transposed weight) is off by 1e-2 or more.
#![cfg(feature = "tch")]

mod common;

use burn::backend::{Flex, LibTorch};
use hessx_models::{Activation, Arch, InputSpec, ModelSpec};
use hessx_pipeline::curvature::ModelHessian;

use common::{auto_matches_nested, eigenvalue_error, flex_checkpoint, products, relative_error};

const TOL: f64 = 1e-4;

fn agree(arch: Arch) {
    let spec = ModelSpec { arch, input: InputSpec::Image { channels: 1, height: 8, width: 8 }, num_classes: 10 };
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = flex_checkpoint(&spec, dir.path(), 4);
    let flex = products::<Flex>(&checkpoint, &spec, &Default::default());
    let torch = products::<LibTorch<f32>>(&checkpoint, &spec, &Default::default());
    let err = relative_error(&torch.gradient, &flex.gradient);
    assert!(err < TOL, "{}: the gradient on LibTorch is {err:.2e} from Flex's", spec.name());
    let err = relative_error(&torch.hv, &flex.hv);
    assert!(err < TOL, "{}: H v on LibTorch is {err:.2e} from Flex's", spec.name());
    // LibTorch's CPU kernels are deterministic run to run, as the solvers need.
    assert!(relative_error(&torch.hv_again, &torch.hv) < 1e-6, "LibTorch products are not repeatable");
    assert!(
        eigenvalue_error(&torch.top, &flex.top) < 1e-3,
        "{}: top eigenvalues {:?} on LibTorch vs {:?} on Flex",
        spec.name(),
        torch.top,
        flex.top
    );
}

#[test]
fn resnet_products_agree_with_flex() {
    agree(Arch::ResNet { depth: 8, batch_norm: true, residual: true });
}

#[test]
fn tanh_mlp_products_agree_with_flex() {
    agree(Arch::Mlp { hidden: vec![32, 16], activation: Activation::Tanh });
}

/// Products on libtorch's retained graph (`ModelHessian::Retained`, what `tch` builds use) against
/// nested burn autodiff on the same backend, weights, batch and vectors. Both are exact; they differ by f32
/// rounding of different operation orders (1e-7 to 1e-5 relative), a missing or doubled term by far more.
/// One batch keeps the graph between products; two batches rebuild it per product: both paths are checked,
/// and the retained product must repeat exactly (the graph is not consumed or altered by a product).
fn retained_matches_nested(arch: Arch) {
    auto_matches_nested::<LibTorch<f32>>(arch, TOL, |op, _| matches!(op, ModelHessian::Retained(_)));
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
