//! Shared by the backend tests (`libtorch_backend.rs`, `cuda_backend.rs`): the loss, gradient,
//! Hessian-vector products and top eigenvalues of one checkpoint on one backend, through the
//! operator the stages use, copied to the host so that backends can be compared.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

use burn::prelude::*;
use hessx_data::load_images;
use hessx_hessian::{B1, Batch, LanczosConfig, ParamLayout, ProbeKind, ProbeStream, SymOp, flat_gradient, lanczos_top_k};
use hessx_models::{BnMode, Input, ModelSpec, Net, cross_entropy};
use hessx_pipeline::batches::{Normalization, image_batch};
use hessx_pipeline::curvature::{HessianBnMode, hessian_batches, model_hessian};
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
