//! Shared by the backend tests (`libtorch_backend.rs`, `cuda_backend.rs`): the loss, gradient,
//! Hessian-vector products and top eigenvalues of one checkpoint on one backend, through the
//! operator the stages use, copied to the host so that backends can be compared. And by the ground-truth
//! tests (`digits_ground_truth.rs`, `density_families.rs`): a trained model, a rule's atoms.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

use burn::prelude::*;
use hessx_data::load_images;
use hessx_hessian::{B1, Batch, LanczosConfig, ParamLayout, ProbeKind, ProbeStream, SymOp, flat_gradient, lanczos_top_k};
use hessx_models::{Arch, BnMode, Input, InputSpec, ModelSpec, Net, cross_entropy};
use hessx_pipeline::batches::{Normalization, image_batch};
use hessx_pipeline::curvature::{HessianBnMode, ModelHessian, ProductEngine, hessian_batches, model_hessian, model_hessian_with};
use hessx_store::DataDir;

/// What a backend computed on the shared checkpoint and batch.
pub struct Products {
    /// Mean loss over the batch.
    pub loss: f64,
    /// The flat gradient.
    pub gradient: Vec<f64>,
    /// H v for one seeded Rademacher v.
    pub hv: Vec<f64>,
    /// The same product again (repeatability).
    pub hv_again: Vec<f64>,
    /// Top-3 Lanczos eigenvalues.
    pub top: Vec<f64>,
}

/// `model` after `steps` full-batch SGD steps at `lr` on `inputs` and `labels` (eval-mode batch norm), so
/// that its Hessian has a trained classifier's outliers and near-zero bulk (at random initialisation the
/// spectrum is flat, which is not what the estimators are used on).
pub fn trained<B: Backend>(mut model: Net<B1<B>>, inputs: Input<B1<B>>, labels: Tensor<B1<B>, 1, Int>, lr: f64, steps: usize) -> Net<B1<B>> {
    use burn::optim::{GradientsParams, Optimizer, SgdConfig};
    let mut optim = SgdConfig::new().init::<B1<B>, Net<B1<B>>>();
    for _ in 0..steps {
        let loss = cross_entropy(model.forward(inputs.clone(), BnMode::Eval), labels.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    model
}

/// A quadrature rule's nodes and weights, as the atoms `wasserstein1` compares.
pub fn atoms(r: &hessx_hessian::SlqRun) -> Vec<(f64, f64)> {
    r.nodes.iter().copied().zip(r.weights.iter().copied()).collect()
}

/// The embedded digits the tests use (they ship with the repository).
pub fn digits() -> hessx_data::ImageSet {
    load_images(&DataDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")), "digits", "train", None)
        .expect("the digits ship with the repository")
}

/// A seeded model of `spec` written on Flex, so that every backend loads the same weights.
pub fn flex_checkpoint(spec: &ModelSpec, dir: &Path, seed: u64) -> PathBuf {
    let checkpoint = dir.join("model.ckpt");
    let device = Default::default();
    <B1<burn::backend::Flex> as Backend>::seed(&device, seed);
    hessx_models::save_checkpoint(&spec.init::<B1<burn::backend::Flex>>(&device), spec, &checkpoint).unwrap();
    checkpoint
}

/// Loss, gradient, products and top eigenvalues of `checkpoint` on `B`, on the first 96 digits.
pub fn products<B: Backend>(checkpoint: &Path, spec: &ModelSpec, device: &B::Device) -> Products {
    let digits = digits();
    let (_, model) = hessx_models::load_checkpoint::<B1<B>>(checkpoint, Some(spec), device).unwrap();
    let indices: Vec<usize> = (0..96).collect();
    let norm = Normalization::of(&digits);

    let layout = ParamLayout::trainable(&model).unwrap();
    let (x, y) = image_batch::<B1<B>>(&digits, &indices, &norm, None, device);
    let loss = |m: &Net<B1<B>>, (x, y): &(Tensor<B1<B>, 4>, Tensor<B1<B>, 1, Int>)| {
        cross_entropy(m.forward(Input::Images(x.clone()), BnMode::Eval), y.clone())
    };
    let g = flat_gradient(&model, &layout, &[Batch::new((x, y), indices.len())], loss).unwrap();
    let gradient: Vec<f64> = g.gradient.to_data().iter::<f64>().collect();

    // Two batches, so the size-weighted mean over batches is exercised too.
    let batches = hessian_batches::<B>(&digits, &indices, 64, &norm, HessianBnMode::Eval, device);
    let mut op = model_hessian(model, batches).unwrap();
    let v = op.vector_from_host(&ProbeStream::new(5).draw(ProbeKind::Rademacher, op.dim()));
    let hv = op.apply(&v).unwrap();
    let hv_again = op.apply(&v).unwrap();
    let top = lanczos_top_k(&mut op, &LanczosConfig { k: 3, max_iter: 80, tol: 1e-5, seed: 2, verify: false }).unwrap();
    Products {
        loss: g.loss,
        gradient,
        hv: op.vector_to_host(&hv),
        hv_again: op.vector_to_host(&hv_again),
        top: top.values,
    }
}

/// |x - reference| / |reference| in the L2 norm.
pub fn relative_error(x: &[f64], reference: &[f64]) -> f64 {
    let diff: f64 = x.iter().zip(reference).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = reference.iter().map(|b| b * b).sum();
    (diff / norm).sqrt()
}

/// The largest relative difference between paired eigenvalues.
pub fn eigenvalue_error(x: &[f64], reference: &[f64]) -> f64 {
    x.iter().zip(reference).map(|(a, b)| ((a - b) / b).abs()).fold(0.0, f64::max)
}

/// Products of `ProductEngine::Auto` (a retained graph where the backend has one) against nested
/// autodiff on `B`, same seeded weights, batches and vectors, on the first 96 digits in one batch of 96
/// and in batches of 64; `engine_ok(op, chunk)` says whether Auto built the expected operator. Both are
/// exact: `tol` is f32 rounding of different operation orders. A product must repeat bit for bit (the
/// graph is neither consumed nor altered by a product).
pub fn auto_matches_nested<B: Backend>(arch: Arch, tol: f64, engine_ok: impl Fn(&ModelHessian<B>, usize) -> bool) {
    let spec = ModelSpec { arch, input: InputSpec::Image { channels: 1, height: 8, width: 8 }, num_classes: 10 };
    let device = Default::default();
    <B1<B> as Backend>::seed(&device, 9);
    let model = spec.init::<B1<B>>(&device);
    let digits = digits();
    let indices: Vec<usize> = (0..96).collect();
    for chunk in [96, 64] {
        let batches = || hessian_batches::<B>(&digits, &indices, chunk, &Normalization::of(&digits), HessianBnMode::Eval, &device);
        let mut auto = model_hessian_with(model.clone(), batches(), ProductEngine::Auto).unwrap();
        let mut nested = model_hessian_with(model.clone(), batches(), ProductEngine::Nested).unwrap();
        assert!(engine_ok(&auto, chunk), "{} (batches of {chunk}): Auto built {}", spec.name(), auto.engine_name());
        for seed in [1, 2] {
            let v = auto.vector_from_host(&ProbeStream::new(seed).draw(ProbeKind::Gaussian, auto.dim()));
            let a = auto.apply(&v).unwrap();
            let a = auto.vector_to_host(&a);
            let again = auto.apply(&v).unwrap();
            let again = auto.vector_to_host(&again);
            let b = nested.apply(&v).unwrap();
            let b = nested.vector_to_host(&b);
            let err = relative_error(&a, &b);
            assert!(err < tol, "{} (batches of {chunk}): Auto vs nested {err:.2e}", spec.name());
            assert_eq!(a, again, "{}: a second product with the same v differs", spec.name());
        }
    }
}
