//! `HessianOp` in f64 (Flex with `set_default_dtypes`, which is per process, hence this separate test
//! binary): exact products against central finite differences of the gradient, and the solvers against the
//! dense Hessian at double-precision tolerances.

mod common;

use std::sync::Once;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::{FloatDType, IntDType, set_default_dtypes};
use hessx_hessian::*;

use common::*;

type TB1 = B1<Flex>;
type TB2 = B2<Flex>;
type Data1 = (Tensor<TB1, 2>, Tensor<TB1, 1, Int>);
type Data2 = (Tensor<TB2, 2>, Tensor<TB2, 1, Int>);

fn f64_device() -> burn::backend::flex::FlexDevice {
    static INIT: Once = Once::new();
    let dev = Default::default();
    INIT.call_once(|| {
        set_default_dtypes::<Flex>(&dev, FloatDType::F64, IntDType::I32)
            .expect("f64 should be supported on Flex")
    });
    dev
}

fn loss2(m: &Mlp<TB2>, (x, y): &Data2) -> Tensor<TB2, 1> {
    m.loss(x, y)
}

fn loss1(m: &Mlp<TB1>, (x, y): &Data1) -> Tensor<TB1, 1> {
    m.loss(x, y)
}

/// `(g(theta + eps v) - g(theta - eps v)) / (2 eps)`: the product by central differences of the plain
/// gradient, sharing no code with either way of taking products.
fn central_difference_hvp(
    m1: &Mlp<TB1>,
    layout: &ParamLayout,
    batches1: &[Batch<Data1>],
    theta: &Tensor<Flex, 1>,
    v: &Tensor<Flex, 1>,
    eps: f64,
) -> Vec<f64> {
    let grad_at = |t: Tensor<Flex, 1>| {
        let m = layout.assign(m1.clone(), &t).unwrap();
        let g = flat_gradient(&m, layout, batches1, loss1).unwrap();
        g.gradient.to_data().iter::<f64>().collect::<Vec<f64>>()
    };
    let gp = grad_at(theta.clone() + v.clone().mul_scalar(eps));
    let gm = grad_at(theta.clone() - v.clone().mul_scalar(eps));
    gp.iter().zip(&gm).map(|(p, m)| (p - m) / (2.0 * eps)).collect()
}

#[test]
fn dtype_is_f64() {
    let dev = f64_device();
    let t = Tensor::<Flex, 1>::from_data(TensorData::new(vec![1.0f64 + 1e-12], [1]), &dev);
    assert_eq!(t.dtype(), burn::tensor::DType::F64);
    assert_eq!(t.to_data().iter::<f64>().next().unwrap(), 1.0 + 1e-12);
}

#[test]
fn hvp_matches_central_differences_of_the_gradient() {
    let dev = f64_device();
    let (x, y) = mlp_data(24);
    let m1 = Mlp::<TB1>::new(&dev);
    let layout = ParamLayout::trainable(&m1).unwrap();
    let batches1: Vec<_> = [(0, 9), (9, 24)]
        .iter()
        .map(|&(l, h)| Batch::new(mlp_batch::<TB1>(&x, &y, l, h, &dev), h - l))
        .collect();
    let batches2 = [(0, 9), (9, 24)]
        .iter()
        .map(|&(l, h)| Batch::new(mlp_batch::<TB2>(&x, &y, l, h, &dev), h - l))
        .collect();
    let mut h = HessianOp::new(m1.clone(), batches2, loss2).unwrap();
    assert_eq!(h.layout(), &layout);
    let theta = h.params();
    let eps = 1e-5;
    for seed in 0..3 {
        let v = h.vector_from_host(&host_values(MLP_PARAMS, 1.0, 200 + seed));
        let hv = h.apply(&v).unwrap();
        let hv = h.vector_to_host(&hv);
        let fd = central_difference_hvp(&m1, &layout, &batches1, &theta, &v, eps);
        // Central differences: truncation ~eps^2 * |third derivative| ~ 1e-10, rounding ~1e-16 / eps
        // ~ 1e-11 relative; the nested product is exact to rounding. 1e-7 leaves a wide margin while an
        // error in the product (wrong weighting, a missing term) would show at O(1e-2) or more.
        let err = rel_err(&hv, &fd);
        assert!(err < 1e-7, "seed {seed}: {err:.3e}");
    }
}

#[test]
fn solvers_agree_with_the_dense_hessian_in_f64() {
    let dev = f64_device();
    let (x, y) = mlp_data(24);
    let batches = vec![Batch::new(mlp_batch::<TB2>(&x, &y, 0, 24, &dev), 24)];
    let mut h = HessianOp::new(Mlp::<TB1>::new(&dev), batches, loss2).unwrap();
    let dense = dense_hessian(&mut h).unwrap();
    eprintln!(
        "MLP f64: {:.3} ms per HVP ({} params)",
        1e3 * h.seconds_per_hvp(),
        h.dim()
    );
    // f64 double backward: symmetric to ~1e-15 relative.
    assert!(dense.asymmetry < 1e-12, "{}", dense.asymmetry);
    let eig = dense_eigen(&dense.matrix);
    let k = 4;
    let lz = lanczos_top_k(
        &mut h,
        &LanczosConfig {
            k,
            max_iter: MLP_PARAMS,
            tol: 1e-10,
            seed: 7,
            verify: true,
        },
    )
    .unwrap();
    assert!(lz.all_converged(), "{:?}", lz.residuals);
    let norm = eig.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..k {
        // Converged to residual <= 1e-10 |lambda|: the Ritz value error is <= residual^2 / gap, far below
        // the 1e-8 relative checked.
        assert!(
            (lz.values[i] - eig.values[i]).abs() < 1e-8 * eig.values[i].abs(),
            "{i}: {} vs {}",
            lz.values[i],
            eig.values[i]
        );
        let gap = (eig.values[i] - eig.values[i + 1]).min(if i > 0 {
            eig.values[i - 1] - eig.values[i]
        } else {
            f64::INFINITY
        });
        if gap > 1e-3 * norm {
            // angle <= residual / gap <= 1e-10 |lambda| / (1e-3 ||H||) <= 1e-7.
            let truth: Vec<f64> = eig.vectors.column(i).iter().cloned().collect();
            assert!(abs_cos(&h.vector_to_host(&lz.vectors[i]), &truth) > 0.999999);
        }
    }
    // Trace: Hutch++ with a budget of 3 * dim spans the space, so it is exact to rounding.
    let tr = dense.matrix.trace();
    let pp = hutchpp(
        &mut h,
        &HutchppConfig {
            num_hvps: 3 * MLP_PARAMS,
            seed: 1,
            step: 0,
        },
    )
    .unwrap();
    assert!(
        (pp.estimate - tr).abs() < 1e-8 * dense.matrix.amax() * MLP_PARAMS as f64,
        "{} vs {tr}",
        pp.estimate
    );
}

/// Products on a retained graph ([`HessianOp::keep_graph`], the patched burn-autodiff's backward that keeps
/// the inner graph) against central differences of the gradient, which share no code with either product;
/// the same tolerance and reasoning as `hvp_matches_central_differences_of_the_gradient`. A product must
/// repeat bit for bit (the graph is neither consumed nor altered), also after a consuming backward through
/// the same parameters (a plain gradient), and the whole dense Hessian must match the nested one.
#[test]
fn retained_graph_products_match_central_differences() {
    let dev = f64_device();
    let (x, y) = mlp_data(24);
    let m1 = Mlp::<TB1>::new(&dev);
    let layout = ParamLayout::trainable(&m1).unwrap();
    let batches1 = vec![Batch::new(mlp_batch::<TB1>(&x, &y, 0, 24, &dev), 24)];
    let batches2 = || vec![Batch::new(mlp_batch::<TB2>(&x, &y, 0, 24, &dev), 24)];
    let mut kept = HessianOp::new(m1.clone(), batches2(), loss2).unwrap().keep_graph().unwrap();
    assert!(kept.retains_graph(), "one batch: the graph should be kept");
    let theta = kept.params();
    let eps = 1e-5;
    for seed in 0..3 {
        let v = kept.vector_from_host(&host_values(MLP_PARAMS, 1.0, 300 + seed));
        let hv = kept.apply(&v).unwrap();
        let hv = kept.vector_to_host(&hv);
        let fd = central_difference_hvp(&m1, &layout, &batches1, &theta, &v, eps);
        let err = rel_err(&hv, &fd);
        assert!(err < 1e-7, "seed {seed}: {err:.3e}");
        // A consuming backward through the very parameters the kept graph starts from.
        flat_gradient(&m1, &layout, &batches1, loss1).unwrap();
        let again = kept.apply(&v).unwrap();
        assert_eq!(kept.vector_to_host(&again), hv, "seed {seed}: a second product with the same v differs");
    }
    let mut nested = HessianOp::new(m1.clone(), batches2(), loss2).unwrap();
    let a = dense_hessian(&mut kept).unwrap().matrix;
    let b = dense_hessian(&mut nested).unwrap().matrix;
    // Both exact in f64: they differ by rounding of different operation orders.
    assert!((&a - &b).amax() < 1e-12 * b.amax(), "{} vs {}", (&a - &b).amax(), b.amax());
    // Dropping the operator frees its graph; a new one on the same model works as before.
    drop(kept);
    let mut fresh = HessianOp::new(m1, batches2(), loss2).unwrap().keep_graph().unwrap();
    let c = dense_hessian(&mut fresh).unwrap().matrix;
    assert!((&c - &b).amax() < 1e-12 * b.amax());
}
