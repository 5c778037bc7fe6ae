//! Issue 18 part 2: the sharpness `hx-train --track-sharpness` records, against the dense Hessian.
//!
//! A tiny MLP is trained a few steps the way hx-train trains (`Autodiff<Flex>`), then its Hessian on a
//! fixed batch is formed densely (one exact product per column, no Lanczos) and eigen-decomposed with
//! nalgebra. The tracker's estimate, lifted from the training model exactly as in the training loop,
//! must agree with the largest dense eigenvalue to 1e-3 relative with enough products, and a warm start
//! from its eigenvector must get there again with 3 products.

use burn::backend::{Autodiff, Flex};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use hessx_data::load_images;
use hessx_hessian::{B2, dense_eigen, dense_hessian};
use hessx_models::{Activation, Arch, BnMode, Input, InputSpec, ModelSpec, Net, cross_entropy};
use hessx_pipeline::batches::{Normalization, image_batch};
use hessx_pipeline::curvature::{HessianBnMode, hessian_batches, model_hessian};
use hessx_pipeline::sharpness::{estimate_sharpness, lift};
use hessx_store::DataDir;

type P = Flex;
type T = Autodiff<P>;

#[test]
fn sharpness_estimate_matches_the_dense_hessian_and_warm_starts() {
    let data_dir = DataDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"));
    let digits = load_images(&data_dir, "digits", "train", None).expect("the digits ship with the repository");
    let spec = ModelSpec {
        arch: Arch::Mlp { hidden: vec![8], activation: Activation::Tanh },
        input: InputSpec::Image { channels: 1, height: 8, width: 8 },
        num_classes: 10,
    };
    let device = Default::default();
    <T as burn::tensor::backend::Backend>::seed(&device, 5);
    let norm = Normalization::of(&digits);
    let indices: Vec<usize> = (0..96).collect();
    let mut model: Net<T> = spec.init::<T>(&device);
    let (x, y) = image_batch::<T>(&digits, &indices, &norm, None, &device);
    let mut optim = SgdConfig::new().init::<T, Net<T>>();
    for _ in 0..100 {
        let loss = cross_entropy(model.forward(Input::Images(x.clone()), BnMode::Train), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.5, model, grads);
    }

    // Ground truth: the dense Hessian of the same batch (BN eval mode, as the tracker).
    let batches = hessian_batches::<P>(&digits, &indices, indices.len(), &norm, HessianBnMode::Eval, &device);
    let mut op = model_hessian(lift::<T>(&model), batches).unwrap();
    let dense = dense_hessian(&mut op).unwrap();
    let exact = dense_eigen(&dense.matrix);
    let top = exact.values[0];
    assert!(top > 0.0, "a trained classifier has a positive top eigenvalue, got {top}");

    let (hx, hy) = image_batch::<B2<P>>(&digits, &indices, &norm, None, &device);
    let cold = estimate_sharpness::<P>(&lift::<T>(&model), Input::Images(hx.clone()), hy.clone(), 60, None, 1).unwrap();
    let rel = ((cold.value - top) / top).abs();
    assert!(rel < 1e-3, "estimate {} vs dense {top} (rel {rel:.1e})", cold.value);
    assert!(cold.residual <= 1e-3 * top * 1.01, "residual {} for {}", cold.residual, cold.value);
    assert!(cold.hvps <= 60);
    let norm_v: f64 = cold.vector.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm_v - 1.0).abs() < 1e-4);

    // Warm-started from that eigenvector, 3 products (2 Lanczos steps + residual) suffice.
    let warm = estimate_sharpness::<P>(&lift::<T>(&model), Input::Images(hx), hy, 3, Some(&cold.vector), 2).unwrap();
    let rel = ((warm.value - top) / top).abs();
    assert!(warm.hvps <= 3 && rel < 1e-3, "warm: {} in {} products vs dense {top}", warm.value, warm.hvps);
    // Estimating left the training model untouched: its loss on the batch is bit for bit the same.
    let loss = |m: &Net<T>| cross_entropy(m.forward(Input::Images(x.clone()), BnMode::Eval), y.clone()).into_scalar();
    let before = loss(&model);
    let _ = estimate_sharpness::<P>(
        &lift::<T>(&model),
        Input::Images(image_batch::<B2<P>>(&digits, &indices, &norm, None, &device).0),
        image_batch::<B2<P>>(&digits, &indices, &norm, None, &device).1,
        4,
        None,
        3,
    )
    .unwrap();
    assert_eq!(before.to_bits(), loss(&model).to_bits());
}
