//! The Hessian operator of a model checkpoint, with the fastest exact products the backend offers.
//!
//! Products are taken on a retained graph, as PyHessian takes them (one backward per product): on
//! LibTorch (cargo feature `tch`) through libtorch's own autograd ([`hessx_hessian::RetainedHessianOp`]),
//! everywhere else through burn's nested autodiff with the inner graph kept
//! ([`hessx_hessian::HessianOp::keep_graph`], the patched burn-autodiff in `vendor/`). Over several
//! batches, and with [`ProductEngine::Nested`], each product pays a forward, a backward and a double
//! backward instead. All are exact and give the same products to f32 rounding
//! (`tests/libtorch_backend.rs`, `tests/retained_graph.rs`); the solvers see one [`SymOp`] either way.

use burn::prelude::*;
#[cfg(feature = "tch")]
use burn::module::AutodiffModule;
use hessx_hessian::{B1, B2, Batch, HessianOp, ParamLayout, SymOp};
use hessx_models::{BnMode, Input, Net, cross_entropy};

/// Which implementation of the product an operator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductEngine {
    /// A retained graph when there is one batch: libtorch's own autograd on LibTorch, burn's (patched,
    /// `vendor/burn-autodiff`) everywhere else; nested autodiff per product over several batches.
    Auto,
    /// Nested burn autodiff on every backend (the reference implementation): forward, backward and double
    /// backward per product.
    Nested,
}

/// One batch of the Hessian's loss.
#[derive(Clone, Debug)]
pub struct HessianBatch<B: Backend> {
    inputs: Input<B2<B>>,
    labels: Tensor<B2<B>, 1, Int>,
    mode: BnMode,
}

impl<B: Backend> HessianBatch<B> {
    /// A batch of images already on the device, with the BN mode its forward uses.
    pub fn new(images: Tensor<B2<B>, 4>, labels: Tensor<B2<B>, 1, Int>, mode: BnMode) -> Self {
        Self::of_inputs(Input::Images(images), labels, mode)
    }

    /// A batch of model inputs of any kind (images, tabular rows, tokens) already on the device.
    pub fn of_inputs(inputs: Input<B2<B>>, labels: Tensor<B2<B>, 1, Int>, mode: BnMode) -> Self {
        HessianBatch { inputs, labels, mode }
    }

    /// The same batch on the plain backend (no autodiff), for the retained-graph operator.
    #[cfg(feature = "tch")]
    fn plain(&self) -> PlainBatch<B> {
        let inputs = match self.inputs.clone() {
            Input::Images(x) => Input::Images(x.inner().inner()),
            Input::Tabular { categorical, dense } => {
                Input::Tabular { categorical: categorical.inner().inner(), dense: dense.inner().inner() }
            }
            Input::Tokens(x) => Input::Tokens(x.inner().inner()),
        };
        PlainBatch { inputs, labels: self.labels.clone().inner().inner(), mode: self.mode }
    }
}

/// The loss whose Hessian is taken: mean cross-entropy of one batch.
fn batch_loss<B: Backend>(model: &Net<B2<B>>, batch: &HessianBatch<B>) -> Tensor<B2<B>, 1> {
    cross_entropy(model.forward(batch.inputs.clone(), batch.mode), batch.labels.clone())
}

/// The loss function's type, so that the nested operator's type can be named.
pub type LossFn<B> = fn(&Net<B2<B>>, &HessianBatch<B>) -> Tensor<B2<B>, 1>;

/// A batch on the plain backend.
#[cfg(feature = "tch")]
#[derive(Clone, Debug)]
pub struct PlainBatch<B: Backend> {
    inputs: Input<B>,
    labels: Tensor<B, 1, Int>,
    mode: BnMode,
}

#[cfg(feature = "tch")]
fn plain_loss<B: Backend>(model: &Net<B>, batch: &PlainBatch<B>) -> Tensor<B, 1> {
    cross_entropy(model.forward(batch.inputs.clone(), batch.mode), batch.labels.clone())
}

/// The plain loss function's type.
#[cfg(feature = "tch")]
pub type PlainLossFn<B> = fn(&Net<B>, &PlainBatch<B>) -> Tensor<B, 1>;

/// The Hessian of a model's mean cross-entropy over fixed batches.
pub enum ModelHessian<B: Backend> {
    /// Nested burn autodiff (every backend).
    Nested(HessianOp<B, Net<B2<B>>, HessianBatch<B>, LossFn<B>>),
    /// libtorch's autograd on a retained graph (LibTorch only).
    #[cfg(feature = "tch")]
    Retained(hessx_hessian::RetainedHessianOp<B, Net<B>, PlainBatch<B>, PlainLossFn<B>>),
}

impl<B: Backend> ModelHessian<B> {
    /// The operator of `model` over `batches`, restricted to `layout`, with products from `engine`.
    pub fn new(
        model: Net<B1<B>>,
        layout: ParamLayout,
        batches: Vec<Batch<HessianBatch<B>>>,
        engine: ProductEngine,
    ) -> hessx_hessian::Result<Self> {
        #[cfg(feature = "tch")]
        if engine == ProductEngine::Auto && hessx_hessian::retained::supported::<B>() {
            let device = model.devices().into_iter().next().unwrap_or_default();
            let plain: Vec<Batch<PlainBatch<B>>> =
                batches.iter().map(|b| Batch::new(b.inputs.plain(), b.size)).collect();
            let op = hessx_hessian::RetainedHessianOp::with_layout(
                model.valid(),
                layout,
                plain,
                plain_loss::<B> as PlainLossFn<B>,
                device,
            )?;
            return Ok(ModelHessian::Retained(op));
        }
        let op = HessianOp::with_layout(model, layout, batches, batch_loss::<B> as LossFn<B>)?;
        Ok(ModelHessian::Nested(match engine {
            ProductEngine::Auto => op.keep_graph()?,
            ProductEngine::Nested => op,
        }))
    }

    /// The parameter layout of the flat vectors.
    pub fn layout(&self) -> &ParamLayout {
        match self {
            ModelHessian::Nested(op) => op.layout(),
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) => op.layout(),
        }
    }

    /// Mean wall time per product so far (NaN before the first).
    pub fn seconds_per_hvp(&self) -> f64 {
        match self {
            ModelHessian::Nested(op) => op.seconds_per_hvp(),
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) => op.seconds_per_hvp(),
        }
    }

    /// How products are taken, for logs and reports.
    pub fn engine_name(&self) -> &'static str {
        match self {
            ModelHessian::Nested(op) if op.retains_graph() => "retained graph (one backward per product)",
            ModelHessian::Nested(_) => "nested autodiff (forward + backward + double backward per product)",
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) if op.retains_graph() => "retained graph (one backward per product)",
            #[cfg(feature = "tch")]
            ModelHessian::Retained(_) => "libtorch autograd, graph rebuilt per batch (several batches)",
        }
    }

    /// Checks that two products with the same vector agree ([`hessx_hessian::check_deterministic`]).
    pub fn check_deterministic(&mut self, tol: f64) -> hessx_hessian::Result<f64> {
        hessx_hessian::check_deterministic(self, tol)
    }
}

impl<B: Backend> SymOp for ModelHessian<B> {
    type V = Tensor<B, 1>;

    fn dim(&self) -> usize {
        match self {
            ModelHessian::Nested(op) => op.dim(),
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) => op.dim(),
        }
    }

    fn apply(&mut self, v: &Tensor<B, 1>) -> hessx_hessian::Result<Tensor<B, 1>> {
        match self {
            ModelHessian::Nested(op) => op.apply(v),
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) => op.apply(v),
        }
    }

    fn hvps(&self) -> u64 {
        match self {
            ModelHessian::Nested(op) => op.hvps(),
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) => op.hvps(),
        }
    }

    fn vector_from_host(&self, x: &[f64]) -> Tensor<B, 1> {
        match self {
            ModelHessian::Nested(op) => op.vector_from_host(x),
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) => op.vector_from_host(x),
        }
    }

    fn vector_to_host(&self, v: &Tensor<B, 1>) -> Vec<f64> {
        match self {
            ModelHessian::Nested(op) => op.vector_to_host(v),
            #[cfg(feature = "tch")]
            ModelHessian::Retained(op) => op.vector_to_host(v),
        }
    }
}
