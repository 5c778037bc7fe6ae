//! Exact Hessian-vector products: for every model, H·v from nested autodiff
//! (the Module recipe of `notes/burn-nested-autodiff.md`) is compared with a
//! central finite difference of the gradient, `(g(θ+εv) − g(θ−εv)) / 2ε`.
//!
//! The process runs in f64 (`set_default_dtypes`, per device and per process,
//! hence this separate test binary). Tolerance: relative L2 error below 1e-6.
//! With ε = 1e-6 in f64 the difference's truncation error is O(ε²) times the
//! third derivative (measured 1e-9..1e-6 at ε = 1e-5, the larger on resnet20,
//! and about 100x less at 1e-6, as an O(ε²) term should be) and its rounding
//! error about 1e-16·|g|/ε ≈ 1e-10, so anything above 1e-6 is a wrong product
//! (burn's fused gelu, for comparison, is off by 2e-3; an f32 product by 1e-3
//! or more). Smooth activations (tanh, softplus, gelu) are used where a model
//! has a choice; the relu and max-pool models are checked at random points,
//! where no pre-activation lies within ε·|Δ| of a kink (crossing one would
//! show up as a large error, not a small one).

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, FloatDType, Int, IntDType, Tensor, TensorData};
use hessx_models::{Activation, Arch, BnMode, Input, InputSpec, ModelSpec, Net, cross_entropy};

type B0 = Flex;
type B1 = Autodiff<B0>;
type B2 = Autodiff<B1>;

const EPS: f64 = 1e-6;
const TOL: f64 = 1e-6;

fn f64_device() -> burn::tensor::Device<B0> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let dev = Default::default();
    ONCE.call_once(|| {
        burn::tensor::set_default_dtypes::<B0>(&dev, FloatDType::F64, IntDType::I32).unwrap()
    });
    dev
}

/// A batch as plain data, rebuilt on whichever backend needs it.
#[derive(Clone)]
enum Batch {
    Images(TensorData),
    Tabular(TensorData, TensorData),
    Tokens(TensorData),
}

fn input<B: Backend>(batch: &Batch, dev: &B::Device) -> Input<B> {
    match batch {
        Batch::Images(x) => Input::Images(Tensor::from_data(x.clone(), dev)),
        Batch::Tabular(c, d) => Input::Tabular {
            categorical: Tensor::<B, 2, Int>::from_data(c.clone(), dev),
            dense: Tensor::from_data(d.clone(), dev),
        },
        Batch::Tokens(t) => Input::Tokens(Tensor::<B, 2, Int>::from_data(t.clone(), dev)),
    }
}

fn loss<B: Backend>(
    net: &Net<B>,
    batch: &Batch,
    labels: &TensorData,
    mode: BnMode,
) -> Tensor<B, 1> {
    let dev = Default::default();
    cross_entropy(
        net.forward(input(batch, &dev), mode),
        Tensor::from_data(labels.clone(), &dev),
    )
}

/// Trainable parameter sizes in visiting order.
struct Sizes(Vec<usize>);
impl ModuleVisitor<B1> for Sizes {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B1, D>>) {
        if p.val().is_require_grad() {
            self.0.push(p.val().shape().num_elements());
        }
    }
}

/// Gradient entries of trainable parameters, flattened in visiting order.
struct Flatten<'a, BG: Backend> {
    grads: &'a GradientsParams,
    out: Vec<f64>,
    _b: std::marker::PhantomData<BG>,
}
impl<BG: Backend> ModuleVisitor<B1> for Flatten<'_, BG> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B1, D>>) {
        if !p.val().is_require_grad() {
            return;
        }
        let n = p.val().shape().num_elements();
        match self.grads.get::<BG, D>(p.id) {
            Some(g) => self
                .out
                .extend(g.into_data().convert::<f64>().to_vec::<f64>().unwrap()),
            None => self.out.extend(std::iter::repeat_n(0.0, n)),
        }
    }
}

/// θ + step·v on trainable parameters (fresh leaves, ids kept).
struct Shift<'a> {
    v: &'a [f64],
    at: usize,
    step: f64,
}
impl ModuleMapper<B1> for Shift<'_> {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<B1, D>>) -> Param<Tensor<B1, D>> {
        let (id, x, mapper) = p.consume();
        if !x.is_require_grad() {
            return Param::from_mapped_value(id, x, mapper);
        }
        let shape = x.shape();
        let n = shape.num_elements();
        let dv = Tensor::<B0, 1>::from_data(
            TensorData::new(self.v[self.at..self.at + n].to_vec(), [n]),
            &x.device(),
        );
        self.at += n;
        // Built on the inner backend: `require_grad` needs a leaf.
        let moved =
            Tensor::<B1, D>::from_inner(x.inner() + dv.reshape(shape) * self.step).require_grad();
        Param::from_mapped_value(id, moved, mapper)
    }
}

/// Σ_params <g, v> on B1, for the second backward.
struct DotV<'a> {
    g: &'a GradientsParams,
    v: &'a [f64],
    at: usize,
    acc: Option<Tensor<B1, 1>>,
}
impl ModuleVisitor<B1> for DotV<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B1, D>>) {
        if !p.val().is_require_grad() {
            return;
        }
        let shape = p.val().shape();
        let n = shape.num_elements();
        let v = Tensor::<B1, 1>::from_data(
            TensorData::new(self.v[self.at..self.at + n].to_vec(), [n]),
            &Default::default(),
        )
        .reshape(shape);
        self.at += n;
        if let Some(g) = self.g.get::<B1, D>(p.id) {
            let t = (g * v).sum();
            self.acc = Some(match self.acc.take() {
                Some(a) => a + t,
                None => t,
            });
        }
    }
}

fn gradient(m1: &Net<B1>, batch: &Batch, labels: &TensorData, mode: BnMode) -> Vec<f64> {
    let grads = GradientsParams::from_grads(loss(m1, batch, labels, mode).backward(), m1);
    let mut f = Flatten::<B0> {
        grads: &grads,
        out: Vec::new(),
        _b: Default::default(),
    };
    m1.visit(&mut f);
    f.out
}

fn nested_hvp(
    m1: &Net<B1>,
    v: &[f64],
    batch: &Batch,
    labels: &TensorData,
    mode: BnMode,
) -> (Vec<f64>, Vec<f64>) {
    let m2 = Net::<B2>::from_inner(m1.clone());
    let g = GradientsParams::from_grads(loss(&m2, batch, labels, mode).backward(), &m2);
    // First-order gradient from the nested graph, for a cross-check.
    let mut first = Flatten::<B1> {
        grads: &g,
        out: Vec::new(),
        _b: Default::default(),
    };
    m1.visit(&mut first);
    let mut dot = DotV {
        g: &g,
        v,
        at: 0,
        acc: None,
    };
    m1.visit(&mut dot);
    let hv = GradientsParams::from_grads(
        dot.acc.expect("some parameter has a gradient").backward(),
        m1,
    );
    let mut f = Flatten::<B0> {
        grads: &hv,
        out: Vec::new(),
        _b: Default::default(),
    };
    m1.visit(&mut f);
    (f.out, first.out)
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    num / den
}

/// Checks H·v against finite differences for one model and returns the relative error.
fn check(
    spec: &ModelSpec,
    activation: Option<Activation>,
    batch: &Batch,
    labels: &TensorData,
    mode: BnMode,
) -> f64 {
    check_with_step(spec, activation, batch, labels, mode, EPS)
}

/// [`check`] with the difference step `eps` instead of [`EPS`].
fn check_with_step(
    spec: &ModelSpec,
    activation: Option<Activation>,
    batch: &Batch,
    labels: &TensorData,
    mode: BnMode,
    eps: f64,
) -> f64 {
    let dev = f64_device();
    B0::seed(&dev, 7);
    let m1 = spec.init_with_activation::<B1>(activation, &dev);
    if let (Batch::Images(_), Some(_)) = (batch, spec_has_bn(spec)) {
        // Non-trivial running statistics for eval mode: one train-mode pass.
        let _ = m1.forward(input(batch, &dev), BnMode::Train);
    }
    let mut sizes = Sizes(Vec::new());
    m1.visit(&mut sizes);
    let p: usize = sizes.0.iter().sum();
    assert_eq!(
        p,
        m1.num_params(),
        "{}: trainable leaves vs num_params",
        spec.name()
    );
    let v: Vec<f64> = Tensor::<B0, 1>::random([p], Distribution::Normal(0.0, 1.0), &dev)
        .into_data()
        .convert::<f64>()
        .to_vec()
        .unwrap();

    let (hv, first) = nested_hvp(&m1, &v, batch, labels, mode);
    let g = gradient(&m1, batch, labels, mode);
    let g_err = rel_err(&first, &g);
    assert!(
        g_err < 1e-12,
        "{}: nested first-order gradient differs from the plain one by {g_err:e}",
        spec.name()
    );

    let plus = m1.clone().map(&mut Shift {
        v: &v,
        at: 0,
        step: eps,
    });
    let minus = m1.clone().map(&mut Shift {
        v: &v,
        at: 0,
        step: -eps,
    });
    let gp = gradient(&plus, batch, labels, mode);
    let gm = gradient(&minus, batch, labels, mode);
    let fd: Vec<f64> = gp
        .iter()
        .zip(&gm)
        .map(|(a, b)| (a - b) / (2.0 * eps))
        .collect();
    let err = rel_err(&hv, &fd);
    eprintln!(
        "{} ({:?}, {mode:?}): {p} params, |Hv| = {:.4e}, rel err vs FD = {err:.3e}",
        spec.name(),
        activation,
        norm(&hv)
    );
    assert!(
        err < TOL,
        "{}: nested HVP differs from finite differences by {err:e} (tolerance {TOL:e})",
        spec.name()
    );
    err
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn spec_has_bn(spec: &ModelSpec) -> Option<()> {
    matches!(
        spec.arch,
        Arch::ResNet {
            batch_norm: true,
            ..
        } | Arch::TorchResNet { .. }
    )
    .then_some(())
}

fn images(n: usize, c: usize, side: usize, classes: i64) -> (Batch, TensorData) {
    let dev = f64_device();
    B0::seed(&dev, 11);
    let x = Tensor::<B0, 4>::random([n, c, side, side], Distribution::Normal(0.0, 1.0), &dev)
        .into_data();
    let labels: Vec<i64> = (0..n as i64).map(|i| (i * 3) % classes).collect();
    (Batch::Images(x), TensorData::new(labels, [n]))
}

fn digits_spec(arch: Arch) -> ModelSpec {
    ModelSpec {
        arch,
        input: InputSpec::Image {
            channels: 1,
            height: 8,
            width: 8,
        },
        num_classes: 10,
    }
}

#[test]
fn mlp_hvp_is_exact() {
    let (batch, labels) = images(6, 1, 8, 10);
    check(
        &digits_spec(Arch::Mlp {
            hidden: vec![16, 8],
            activation: Activation::Tanh,
        }),
        None,
        &batch,
        &labels,
        BnMode::Eval,
    );
    check(
        &digits_spec(Arch::Mlp {
            hidden: vec![12],
            activation: Activation::Gelu,
        }),
        None,
        &batch,
        &labels,
        BnMode::Eval,
    );
}

#[test]
fn small_cnn_hvp_is_exact() {
    let (batch, labels) = images(4, 1, 8, 10);
    check(
        &digits_spec(Arch::SmallCnn),
        Some(Activation::Softplus),
        &batch,
        &labels,
        BnMode::Eval,
    );
    // The real relu model, at a random point away from kinks.
    check(
        &digits_spec(Arch::SmallCnn),
        None,
        &batch,
        &labels,
        BnMode::Eval,
    );
}

#[test]
fn resnet20_hvp_is_exact_in_eval_and_train_mode() {
    let (batch, labels) = images(4, 1, 8, 10);
    let spec = digits_spec(Arch::ResNet {
        depth: 20,
        batch_norm: true,
        residual: true,
    });
    check(&spec, Some(Activation::Tanh), &batch, &labels, BnMode::Eval);
    check(
        &spec,
        Some(Activation::Softplus),
        &batch,
        &labels,
        BnMode::TrainFrozen,
    );
    let plain = digits_spec(Arch::ResNet {
        depth: 20,
        batch_norm: false,
        residual: false,
    });
    check(
        &plain,
        Some(Activation::Tanh),
        &batch,
        &labels,
        BnMode::Eval,
    );
}

/// torchvision's resnet18 (basic blocks) and resnet50 (bottlenecks) at a
/// tiny base width on 16x16 images: stem, replicate-padded max-pool, all four
/// stages (16 -> 8 -> 4 -> 2 -> 1 -> 1 pixels) and the global pooling.
#[test]
fn torchvision_resnet_hvp_is_exact() {
    let (batch, labels) = images(3, 3, 16, 4);
    let spec = |depth, width| ModelSpec {
        arch: Arch::TorchResNet { depth, width },
        input: InputSpec::Image {
            channels: 3,
            height: 16,
            width: 16,
        },
        num_classes: 4,
    };
    check(
        &spec(18, 2),
        Some(Activation::Tanh),
        &batch,
        &labels,
        BnMode::Eval,
    );
    check(
        &spec(18, 2),
        Some(Activation::Softplus),
        &batch,
        &labels,
        BnMode::TrainFrozen,
    );
    // The real relu models, max-pool included. At ε = 1e-6 the step ε·|v| ≈ 1e-4
    // (11k parameters) moves some pre-activation across zero (measured:
    // relative error 1.0, the difference quotient of a jump), as the notes
    // found for ResNet20; at ε = 1e-9 it crosses none, and rounding,
    // 1e-16·|g|/ε, is still ~1e-7 (measured 6.2e-8 and 2.6e-8).
    check_with_step(&spec(18, 2), None, &batch, &labels, BnMode::Eval, 1e-9);
    check_with_step(&spec(50, 1), None, &batch, &labels, BnMode::Eval, 1e-9);
    check(
        &spec(50, 1),
        Some(Activation::Softplus),
        &batch,
        &labels,
        BnMode::Eval,
    );
}

#[test]
fn transformer_hvp_is_exact() {
    let (batch, labels) = images(3, 1, 8, 10);
    let spec = digits_spec(Arch::Transformer {
        patch: 4,
        dim: 8,
        depth: 2,
        heads: 2,
        mlp_dim: 16,
    });
    check(&spec, None, &batch, &labels, BnMode::Eval);
}

#[test]
fn wide_deep_hvp_is_exact() {
    let dev = f64_device();
    B0::seed(&dev, 5);
    let spec = ModelSpec {
        arch: Arch::WideDeep {
            embed_dim: 3,
            hidden: vec![8],
            cross_buckets: 5,
        },
        input: InputSpec::Tabular {
            cardinalities: vec![4, 3, 5],
            num_dense: 2,
        },
        num_classes: 3,
    };
    let cat = TensorData::new(vec![0i64, 2, 4, 3, 1, 0, 1, 0, 2, 2, 2, 1], [4, 3]);
    let dense = Tensor::<B0, 2>::random([4, 2], Distribution::Normal(0.0, 1.0), &dev).into_data();
    let labels = TensorData::new(vec![0i64, 1, 2, 1], [4]);
    check(
        &spec,
        None,
        &Batch::Tabular(cat, dense),
        &labels,
        BnMode::Eval,
    );
}

/// The click-through form: one logit and binary cross-entropy (labels 0/1).
#[test]
fn wide_deep_single_logit_hvp_is_exact() {
    let dev = f64_device();
    B0::seed(&dev, 6);
    let spec = ModelSpec {
        arch: Arch::WideDeep {
            embed_dim: 3,
            hidden: vec![8, 4],
            cross_buckets: 5,
        },
        input: InputSpec::Tabular {
            cardinalities: vec![4, 3, 5],
            num_dense: 2,
        },
        num_classes: 1,
    };
    let cat = TensorData::new(vec![0i64, 2, 4, 3, 1, 0, 1, 0, 2, 2, 2, 1, 3, 0, 0], [5, 3]);
    let dense = Tensor::<B0, 2>::random([5, 2], Distribution::Normal(0.0, 1.0), &dev).into_data();
    let labels = TensorData::new(vec![0i64, 1, 1, 0, 1], [5]);
    check(&spec, None, &Batch::Tabular(cat, dense), &labels, BnMode::Eval);
}

#[test]
fn sequence_transformer_hvp_is_exact() {
    let spec = ModelSpec {
        arch: Arch::SequenceTransformer {
            dim: 8,
            depth: 2,
            heads: 2,
            mlp_dim: 16,
        },
        input: InputSpec::Tokens { vocab: 7, length: 5 },
        num_classes: 3,
    };
    // Token 6 never occurs: its embedding row has zero gradient and zero curvature, which the products must agree on too.
    let tokens = TensorData::new(vec![0i64, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0, 2, 2, 0], [3, 5]);
    let labels = TensorData::new(vec![0i64, 2, 1], [3]);
    check(&spec, None, &Batch::Tokens(tokens), &labels, BnMode::Eval);
}
