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

use std::path::Path;

use burn::backend::{Flex, LibTorch};
use burn::prelude::*;
use hessx_data::load_images;
use hessx_hessian::{B1, LanczosConfig, ProbeKind, ProbeStream, SymOp, lanczos_top_k};
use hessx_models::{Activation, Arch, InputSpec, ModelSpec};
use hessx_pipeline::batches::Normalization;
use hessx_pipeline::curvature::{HessianBnMode, hessian_batches, model_hessian};
#[cfg(feature = "retained-graph")]
use hessx_pipeline::curvature::{ModelHessian, ProductEngine, model_hessian_with};
use hessx_store::DataDir;

const TOL: f64 = 1e-4;

struct Products {
    hv: Vec<f64>,
    hv_again: Vec<f64>,
    top: Vec<f64>,
}

fn products<B: Backend>(checkpoint: &Path, spec: &ModelSpec, device: &B::Device) -> Products {
    let digits = load_images(&DataDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")), "digits", "train", None)
        .expect("the digits ship with the repository");
    let (_, model) = hessx_models::load_checkpoint::<B1<B>>(checkpoint, Some(spec), device).unwrap();
    let indices: Vec<usize> = (0..96).collect();
    // Two batches, so the size-weighted mean over batches is exercised too.
    let batches = hessian_batches::<B>(&digits, &indices, 64, &Normalization::of(&digits), HessianBnMode::Eval, device);
    let mut op = model_hessian(model, batches).unwrap();
    let v = op.vector_from_host(&ProbeStream::new(5).draw(ProbeKind::Rademacher, op.dim()));
    let hv = op.apply(&v).unwrap();
    let hv_again = op.apply(&v).unwrap();
    let top = lanczos_top_k(&mut op, &LanczosConfig { k: 3, max_iter: 80, tol: 1e-5, seed: 2, verify: false }).unwrap();
    Products { hv: op.vector_to_host(&hv), hv_again: op.vector_to_host(&hv_again), top: top.values }
}

fn relative_error(x: &[f64], reference: &[f64]) -> f64 {
    let diff: f64 = x.iter().zip(reference).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = reference.iter().map(|b| b * b).sum();
    (diff / norm).sqrt()
}

fn agree(arch: Arch) {
    let spec = ModelSpec { arch, input: InputSpec::Image { channels: 1, height: 8, width: 8 }, num_classes: 10 };
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("model.ckpt");
    let flex_device = Default::default();
    <B1<Flex> as Backend>::seed(&flex_device, 4);
    hessx_models::save_checkpoint(&spec.init::<B1<Flex>>(&flex_device), &spec, &checkpoint).unwrap();

    let flex = products::<Flex>(&checkpoint, &spec, &flex_device);
    let torch = products::<LibTorch<f32>>(&checkpoint, &spec, &Default::default());
    let err = relative_error(&torch.hv, &flex.hv);
    assert!(err < TOL, "{}: H v on LibTorch is {err:.2e} from Flex's", spec.name());
    // LibTorch's CPU kernels are deterministic run to run, as the solvers need.
    assert!(relative_error(&torch.hv_again, &torch.hv) < 1e-6, "LibTorch products are not repeatable");
    for (t, f) in torch.top.iter().zip(&flex.top) {
        assert!(((t - f) / f).abs() < 1e-3, "{}: top eigenvalues {:?} on LibTorch vs {:?} on Flex", spec.name(), torch.top, flex.top);
    }
}

#[test]
fn resnet_products_agree_with_flex() {
    agree(Arch::ResNet { depth: 8, batch_norm: true, residual: true });
}

#[test]
fn tanh_mlp_products_agree_with_flex() {
    agree(Arch::Mlp { hidden: vec![32, 16], activation: Activation::Tanh });
}

/// Products on libtorch's retained graph (`ModelHessian::Retained`, feature `retained-graph`) against
/// nested burn autodiff on the same backend, weights, batch and vectors. Both are exact; they differ by f32
/// rounding of different operation orders (1e-7 to 1e-5 relative), a missing or doubled term by far more.
/// One batch keeps the graph between products; two batches rebuild it per product: both paths are checked,
/// and the retained product must repeat exactly (the graph is not consumed or altered by a product).
#[cfg(feature = "retained-graph")]
fn retained_matches_nested(arch: Arch) {
    type T = LibTorch<f32>;
    let spec = ModelSpec { arch, input: InputSpec::Image { channels: 1, height: 8, width: 8 }, num_classes: 10 };
    let device = Default::default();
    <B1<T> as Backend>::seed(&device, 9);
    let model = spec.init::<B1<T>>(&device);
    let digits = load_images(&DataDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")), "digits", "train", None)
        .expect("the digits ship with the repository");
    let indices: Vec<usize> = (0..96).collect();
    for chunk in [96, 64] {
        let batches = || hessian_batches::<T>(&digits, &indices, chunk, &Normalization::of(&digits), HessianBnMode::Eval, &device);
        let mut retained = model_hessian_with(model.clone(), batches(), ProductEngine::Auto).unwrap();
        let mut nested = model_hessian_with(model.clone(), batches(), ProductEngine::Nested).unwrap();
        assert!(matches!(retained, ModelHessian::Retained(_)), "LibTorch should take retained-graph products");
        assert!(matches!(nested, ModelHessian::Nested(_)));
        for seed in [1, 2] {
            let v = retained.vector_from_host(&ProbeStream::new(seed).draw(ProbeKind::Gaussian, retained.dim()));
            let a = retained.vector_to_host(&retained.apply(&v).unwrap());
            let again = retained.vector_to_host(&retained.apply(&v).unwrap());
            let b = nested.vector_to_host(&nested.apply(&v).unwrap());
            let err = relative_error(&a, &b);
            assert!(err < TOL, "{} (batches of {chunk}): retained vs nested {err:.2e}", spec.name());
            assert_eq!(a, again, "{}: a second retained product with the same v differs", spec.name());
        }
    }
}

#[cfg(feature = "retained-graph")]
#[test]
fn retained_graph_resnet_matches_nested() {
    retained_matches_nested(Arch::ResNet { depth: 8, batch_norm: true, residual: true });
}

#[cfg(feature = "retained-graph")]
#[test]
fn retained_graph_cnn_matches_nested() {
    retained_matches_nested(Arch::SmallCnn);
}

#[cfg(feature = "retained-graph")]
#[test]
fn retained_graph_mlp_matches_nested() {
    retained_matches_nested(Arch::Mlp { hidden: vec![32, 16], activation: Activation::Tanh });
}

#[cfg(feature = "retained-graph")]
#[test]
fn retained_graph_transformer_matches_nested() {
    retained_matches_nested(Arch::Transformer { patch: 4, dim: 16, depth: 1, heads: 2, mlp_dim: 32 });
}
