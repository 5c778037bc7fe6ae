//! Exact Hessian-vector products of burn models by nested autodiff.
//!
//! With `B1 = Autodiff<B>` and `B2 = Autodiff<B1>`, the model lives on `B1` and is lifted to `B2` per product
//! with `AutodiffModule::from_inner` (same `ParamId`s, outer leaves wrapping inner leaves). The loss on `B2`,
//! backwarded, gives the gradient `g` as `B1` tensors that are still tracked; `(g . v).backward()` on `B1`
//! then gives `H v` as `B` tensors. Taken this way a product costs a forward, a backward and a double
//! backward (burn-autodiff 0.21 frees its graph at every backward); products are counted and timed.
//!
//! **Retained graph.** [`HessianOp::keep_graph`] takes products as PyHessian does: the first backward is
//! taken once, and each product is one backward of the inner level from `g` with cotangent `v`, which
//! leaves the inner graph in place (`burn_autodiff::retained`, the patched burn-autodiff in `vendor/`).
//! That is kept when there is one batch; over several, each product pays the nested cost, so that memory
//! stays that of one batch's graph.
//!
//! The loss over a dataset is the size-weighted mean of per-batch mean losses, `L = sum_b (n_b / N) L_b`, so
//! `H v = sum_b (n_b / N) H_b v`, one batch at a time (memory of one batch).
//!
//! **Batch norm and dropout are the loss closure's business.** On any autodiff backend burn's `BatchNorm`
//! and `Dropout` run in train mode; the Hessian is normally taken in eval mode (running statistics, no
//! dropout, as PyHessian), so models take an explicit mode and the closure picks eval.
//! [`HessianOp::check_deterministic`] (or [`crate::FirstProductChecked`]) catches closures that do not.

use std::collections::HashMap;
use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result, finite};
use crate::layout::ParamLayout;
use crate::op::SymOp;
use crate::vector::scalar_to_f64;

/// The backend that computes gradients: `Autodiff<B>`.
pub type B1<B> = Autodiff<B>;
/// The backend that computes Hessian-vector products: `Autodiff<Autodiff<B>>`.
pub type B2<B> = Autodiff<Autodiff<B>>;

/// One mini-batch: the inputs handed to the loss closure and the number of examples in it.
#[derive(Debug, Clone)]
pub struct Batch<T> {
    /// Whatever the loss closure needs (tensors or host data).
    pub inputs: T,
    /// Number of examples; the weight of the batch's mean loss is `size / total size`.
    pub size: usize,
}

impl<T> Batch<T> {
    /// A batch of `size` examples.
    pub fn new(inputs: T, size: usize) -> Self {
        Batch { inputs, size }
    }
}

/// The Hessian of a burn model's loss, over one batch or a list of batches, as a [`SymOp`] on flat device
/// vectors.
///
/// `M` is the model type on `B2<B>`; the operator holds it on `B1<B>` (`M::InnerModule`). The loss closure
/// returns the *mean* loss over its batch as a one-element tensor.
///
/// # Shapes
/// - vectors: `[layout.dim()]`, on the model's device, in the float dtype of the device's default.
pub struct HessianOp<B, M, T, F>
where
    B: Backend,
    M: AutodiffModule<B2<B>, InnerModule: AutodiffModule<B1<B>>>,
{
    model: M::InnerModule,
    layout: ParamLayout,
    batches: Vec<Batch<T>>,
    total: usize,
    loss: F,
    device: B::Device,
    /// The gradient of the single batch with its graph, when products are taken on a retained graph.
    kept: Option<KeptGradient<B>>,
    hvps: u64,
    seconds: f64,
}

/// One batch's gradient, flat per parameter, on `B1` with the inner graph behind it kept
/// ([`burn_autodiff::retained`]); dropping it frees that graph.
struct KeptGradient<B: Backend> {
    pieces: Vec<(ParamId, Tensor<B1<B>, 1>)>,
}

impl<B: Backend> Drop for KeptGradient<B> {
    fn drop(&mut self) {
        let roots: Vec<_> = self.pieces.drain(..).map(|(_, g)| g.into_primitive().tensor()).collect();
        burn_autodiff::retained::release::<B>(&roots);
    }
}

impl<B, M, T, F> HessianOp<B, M, T, F>
where
    B: Backend,
    M: AutodiffModule<B2<B>, InnerModule: AutodiffModule<B1<B>>>,
    F: Fn(&M, &T) -> Tensor<B2<B>, 1>,
{
    /// The Hessian with respect to all trainable parameters.
    pub fn new(model: M::InnerModule, batches: Vec<Batch<T>>, loss: F) -> Result<Self> {
        let layout = ParamLayout::trainable(&model)?;
        Self::with_layout(model, layout, batches, loss)
    }

    /// The Hessian with respect to the parameters in `layout` (a block of the full Hessian).
    pub fn with_layout(
        model: M::InnerModule,
        layout: ParamLayout,
        batches: Vec<Batch<T>>,
        loss: F,
    ) -> Result<Self> {
        if batches.is_empty() {
            return Err(Error::InvalidBatches {
                reason: "no batches given; pass at least one".into(),
            });
        }
        if let Some(i) = batches.iter().position(|b| b.size == 0) {
            return Err(Error::InvalidBatches {
                reason: format!("batch {i} has size 0"),
            });
        }
        let total = batches.iter().map(|b| b.size).sum();
        let device = layout_device(&model, &layout)?;
        Ok(HessianOp {
            model,
            layout,
            batches,
            total,
            loss,
            device,
            kept: None,
            hvps: 0,
            seconds: 0.0,
        })
    }

    /// Takes products on a retained graph from now on (module docs) when there is one batch: builds the
    /// gradient with its graph here (one forward and one backward). With several batches nothing
    /// changes.
    pub fn keep_graph(mut self) -> Result<Self> {
        if self.batches.len() == 1 {
            self.kept = Some(self.kept_gradient(&self.batches[0])?);
        }
        Ok(self)
    }

    /// Whether products are taken on a retained graph ([`Self::keep_graph`] with one batch).
    pub fn retains_graph(&self) -> bool {
        self.kept.is_some()
    }

    /// The gradient of `batch` on `B1`, with the inner graph kept.
    fn kept_gradient(&self, batch: &Batch<T>) -> Result<KeptGradient<B>> {
        let m2 = M::from_inner(self.model.clone());
        let loss = (self.loss)(&m2, &batch.inputs);
        finite(scalar_to_f64(loss.clone().inner().inner()), "loss")?;
        let grads = loss.backward();
        let keep: HashMap<ParamId, ()> = self.layout.entries().iter().map(|e| (e.id, ())).collect();
        // The outer level's gradients are inner tensors, still tracked there.
        let mut tracked = GradPieces::<B2<B>, ()> {
            grads: &grads,
            keep: &keep,
            out: HashMap::new(),
        };
        m2.visit(&mut tracked);
        // In the layout's order, not the map's: the seeds' order fixes the order in which the retained
        // backward sums gradients, and products must repeat bit for bit from process to process.
        let mut by_id = tracked.out;
        let pieces = self.layout.entries().iter().filter_map(|e| Some((e.id, by_id.remove(&e.id)?))).collect();
        Ok(KeptGradient { pieces })
    }

    /// `H v` on the retained graph: one backward of the inner level from `g` with cotangent `v`.
    fn kept_hvp(&self, kept: &KeptGradient<B>, pieces: &HashMap<ParamId, Tensor<B, 1>>) -> Tensor<B, 1> {
        let seeds: Vec<_> = kept
            .pieces
            .iter()
            .filter_map(|(id, g)| {
                let v = pieces.get(id)?;
                Some((g.clone().into_primitive().tensor(), v.clone().into_primitive().tensor()))
            })
            .collect();
        if seeds.is_empty() {
            // The loss does not depend on the chosen parameters: this block of the Hessian is zero.
            return Tensor::zeros([self.layout.dim()], &self.device);
        }
        let grads1 = burn_autodiff::retained::backward_retained::<B>(seeds);
        self.flat_hv(&grads1, pieces)
    }

    /// `H v` read off the inner gradients of a product's backward, flat in the layout's order.
    fn flat_hv(&self, grads1: &<B1<B> as AutodiffBackend>::Gradients, pieces: &HashMap<ParamId, Tensor<B, 1>>) -> Tensor<B, 1> {
        let mut hv = GradPieces::<B1<B>, _> {
            grads: grads1,
            keep: pieces,
            out: HashMap::new(),
        };
        self.model.visit(&mut hv);
        self.layout.assemble(hv.out, &self.device)
    }

    /// The parameter layout of the flat vectors.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// The model (on `B1<B>`).
    pub fn model(&self) -> &M::InnerModule {
        &self.model
    }

    /// The device vectors live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// The current parameters as a flat vector.
    pub fn params(&self) -> Tensor<B, 1> {
        self.layout.flatten(&self.model)
    }

    /// Mean wall time per product so far (NaN before the first).
    pub fn seconds_per_hvp(&self) -> f64 {
        if self.hvps == 0 {
            f64::NAN
        } else {
            self.seconds / self.hvps as f64
        }
    }

    /// Applies the operator twice to the same vector; see [`crate::check_deterministic`].
    pub fn check_deterministic(&mut self, tol: f64) -> Result<f64> {
        crate::check_deterministic(self, tol)
    }

    /// `H_b v` for one batch.
    fn batch_hvp(&self, batch: &Batch<T>, pieces: &HashMap<ParamId, Tensor<B, 1>>) -> Tensor<B, 1> {
        let m2 = M::from_inner(self.model.clone());
        let grads = (self.loss)(&m2, &batch.inputs).backward();
        let mut dot = GradDot::<B> {
            grads: &grads,
            pieces,
            acc: None,
        };
        m2.visit(&mut dot);
        let Some(gv) = dot.acc else {
            // The loss does not depend on the chosen parameters: this block of the Hessian is zero.
            return Tensor::zeros([self.layout.dim()], &self.device);
        };
        self.flat_hv(&gv.backward(), pieces)
    }
}

/// The device of the first layout parameter.
fn layout_device<B: Backend, M: AutodiffModule<B1<B>>>(
    model: &M,
    layout: &ParamLayout,
) -> Result<B::Device> {
    let first = layout.entries().first().ok_or(Error::NoParameters)?.id;
    struct Find<B: Backend> {
        id: ParamId,
        device: Option<B::Device>,
    }
    impl<B: Backend> ModuleVisitor<B1<B>> for Find<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B1<B>, D>>) {
            if param.id == self.id {
                self.device = Some(param.val().device());
            }
        }
    }
    let mut find = Find::<B> {
        id: first,
        device: None,
    };
    model.visit(&mut find);
    find.device.ok_or(Error::NoParameters)
}

/// Sums `g_p . v_p` over the layout's parameters, on `B1` (still tracked, so it can be differentiated).
struct GradDot<'a, B: Backend> {
    grads: &'a <B2<B> as AutodiffBackend>::Gradients,
    pieces: &'a HashMap<ParamId, Tensor<B, 1>>,
    acc: Option<Tensor<B1<B>, 1>>,
}

impl<B: Backend> ModuleVisitor<B2<B>> for GradDot<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B2<B>, D>>) {
        let Some(v) = self.pieces.get(&param.id) else {
            return;
        };
        let Some(g) = param.val().grad(self.grads) else {
            return;
        };
        let v = Tensor::<B1<B>, D>::from_inner(v.clone().reshape(g.dims()));
        let t = (g * v).sum();
        self.acc = Some(match self.acc.take() {
            Some(a) => a + t,
            None => t,
        });
    }
}

/// Reads the gradient of each kept parameter as a flat piece on the inner backend.
struct GradPieces<'a, AB: AutodiffBackend, K> {
    grads: &'a AB::Gradients,
    keep: &'a HashMap<ParamId, K>,
    out: HashMap<ParamId, Tensor<AB::InnerBackend, 1>>,
}

impl<AB: AutodiffBackend, K> ModuleVisitor<AB> for GradPieces<'_, AB, K> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
        if !self.keep.contains_key(&param.id) {
            return;
        }
        if let Some(g) = param.val().grad(self.grads) {
            let n = g.shape().num_elements();
            self.out.insert(param.id, g.reshape([n]));
        }
    }
}

impl<B, M, T, F> SymOp for HessianOp<B, M, T, F>
where
    B: Backend,
    M: AutodiffModule<B2<B>, InnerModule: AutodiffModule<B1<B>>>,
    F: Fn(&M, &T) -> Tensor<B2<B>, 1>,
{
    type V = Tensor<B, 1>;

    fn dim(&self) -> usize {
        self.layout.dim()
    }

    fn apply(&mut self, v: &Tensor<B, 1>) -> Result<Tensor<B, 1>> {
        let start = Instant::now();
        let pieces = self.layout.split(v)?;
        let hv = match &self.kept {
            Some(kept) => self.kept_hvp(kept, &pieces),
            None => {
                let mut acc: Option<Tensor<B, 1>> = None;
                for batch in &self.batches {
                    let w = batch.size as f64 / self.total as f64;
                    let hv = self.batch_hvp(batch, &pieces).mul_scalar(w);
                    acc = Some(match acc {
                        Some(a) => a + hv,
                        None => hv,
                    });
                }
                acc.expect("at least one batch (checked at construction)")
            }
        };
        B::sync(&self.device).map_err(|e| Error::Backend(format!("{e:?}")))?;
        self.hvps += 1;
        self.seconds += start.elapsed().as_secs_f64();
        Ok(hv)
    }

    fn hvps(&self) -> u64 {
        self.hvps
    }

    fn vector_from_host(&self, x: &[f64]) -> Tensor<B, 1> {
        Tensor::from_data(TensorData::new(x.to_vec(), [x.len()]), &self.device)
    }

    fn vector_to_host(&self, v: &Tensor<B, 1>) -> Vec<f64> {
        v.to_data().iter::<f64>().collect()
    }
}

/// The loss and its flat gradient.
#[derive(Debug, Clone)]
pub struct Gradient<B: Backend> {
    /// The size-weighted mean loss over the batches.
    pub loss: f64,
    /// The flat gradient, in the layout's order.
    pub gradient: Tensor<B, 1>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The plain gradient (one forward and backward per batch on `AB`, typically `B1<B>`) of the size-weighted
/// mean loss, flattened with `layout`. The loss closure returns the mean loss of its batch.
pub fn flat_gradient<AB, M, T, F>(
    model: &M,
    layout: &ParamLayout,
    batches: &[Batch<T>],
    loss: F,
) -> Result<Gradient<AB::InnerBackend>>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB>,
    F: Fn(&M, &T) -> Tensor<AB, 1>,
{
    let start = Instant::now();
    if batches.is_empty() || batches.iter().any(|b| b.size == 0) {
        return Err(Error::InvalidBatches {
            reason: "need at least one batch, none of size 0".into(),
        });
    }
    let total: usize = batches.iter().map(|b| b.size).sum();
    let keep: HashMap<ParamId, ()> = layout.entries().iter().map(|e| (e.id, ())).collect();
    let mut loss_sum = 0.0;
    let mut acc: Option<Tensor<AB::InnerBackend, 1>> = None;
    let mut device = None;
    for batch in batches {
        let w = batch.size as f64 / total as f64;
        let l = loss(model, &batch.inputs);
        loss_sum += w * finite(scalar_to_f64(l.clone().inner()), "loss")?;
        let grads = l.backward();
        let mut pieces = GradPieces::<AB, ()> {
            grads: &grads,
            keep: &keep,
            out: HashMap::new(),
        };
        model.visit(&mut pieces);
        let dev =
            device.get_or_insert_with(|| model.devices().into_iter().next().unwrap_or_default());
        let g = layout.assemble(pieces.out, dev).mul_scalar(w);
        acc = Some(match acc {
            Some(a) => a + g,
            None => g,
        });
    }
    Ok(Gradient {
        loss: loss_sum,
        gradient: acc.expect("at least one batch"),
        seconds: start.elapsed().as_secs_f64(),
    })
}
