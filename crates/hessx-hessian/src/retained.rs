//! Hessian-vector products on a retained graph, as PyHessian takes them (LibTorch only).
//!
//! burn-autodiff 0.21 consumes its graph at every backward, so [`crate::HessianOp`] pays a forward, a
//! backward and a double backward per product. On LibTorch the parameters can instead become libtorch
//! leaves that require grad: burn's forward pass (plain `LibTorch`, no burn autodiff) is then recorded by
//! libtorch's own autograd, the gradient is built once per batch with its graph (`create_graph`), and each
//! product is one more backward through that graph (`sum_p g_p . v_p` differentiated with the graph kept),
//! exactly PyHessian's `torch.autograd.grad(gs, params, grad_outputs=v, retain_graph=True)`.
//!
//! This needs the patched burn-tch in `vendor/` (no in-place operation on a tensor autograd records).
//! The graph of every batch is kept when there is one batch (PyHessian's default); over several batches
//! (the whole split) each product rebuilds each batch's graph in turn, so memory stays that of one batch,
//! as PyHessian's `dataloader_hv_product`.
//!
//! Backends are told apart at run time ([`supported`]): the operator is generic over `B: Backend` like
//! everything else, and its constructor refuses any backend whose tensors are not libtorch's.
//!
//! Status: what `tch` builds use (hessx-pipeline's `tch` enables this crate's `tch`).
//! `just test-libtorch` compares its products with nested autodiff on four models (1e-4 relative).

use std::any::Any;
use std::collections::HashMap;
use std::time::Instant;

use burn::backend::libtorch::TchTensor;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};

use crate::error::{Error, Result, finite};
use crate::layout::ParamLayout;
use crate::nested::Batch;
use crate::op::SymOp;

/// Whether `B`'s float tensors are libtorch tensors, i.e. whether [`RetainedHessianOp`] works on `B`.
pub fn supported<B: Backend>() -> bool {
    let probe: Box<dyn Any> = Box::new(None::<B::FloatTensorPrimitive>);
    probe.is::<Option<TchTensor>>()
}

/// The libtorch tensor under a burn tensor, or `None` on another backend.
fn to_tch<B: Backend, const D: usize>(t: Tensor<B, D>) -> Option<tch::Tensor> {
    let prim: Box<dyn Any> = Box::new(t.into_primitive().tensor());
    prim.downcast::<TchTensor>().ok().map(|t| t.tensor)
}

/// A burn tensor over a libtorch tensor (`B` must be [`supported`]).
fn from_tch<B: Backend, const D: usize>(t: tch::Tensor) -> Result<Tensor<B, D>> {
    let prim: Box<dyn Any> = Box::new(TchTensor::new(t));
    let prim = prim
        .downcast::<B::FloatTensorPrimitive>()
        .map_err(|_| unsupported::<B>())?;
    Ok(Tensor::from_primitive(TensorPrimitive::Float(*prim)))
}

fn unsupported<B: Backend>() -> Error {
    Error::Backend(format!(
        "retained-graph products need the LibTorch backend; {} keeps no autograd graph of its own",
        std::any::type_name::<B>()
    ))
}

/// Replaces the layout's parameters by fresh libtorch leaves that require grad, collecting the leaves.
struct MakeLeaves<'a> {
    keep: &'a HashMap<ParamId, usize>,
    leaves: Vec<Option<tch::Tensor>>,
    failed: bool,
}

impl<B: Backend> ModuleMapper<B> for MakeLeaves<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, value, mapper) = param.consume();
        let Some(&slot) = self.keep.get(&id) else {
            return Param::from_mapped_value(id, value, mapper);
        };
        let Some(t) = to_tch(value.clone()) else {
            self.failed = true;
            return Param::from_mapped_value(id, value, mapper);
        };
        // A copy, not a view: the leaf must own its storage so no burn op can alias it.
        let leaf = t.detach().copy().set_requires_grad(true);
        self.leaves[slot] = Some(leaf.shallow_clone());
        let value = from_tch::<B, D>(leaf).expect("the backend was checked by to_tch");
        Param::from_mapped_value(id, value, mapper)
    }
}

/// The Hessian of a model's loss on LibTorch, with products on a retained graph. A [`SymOp`] on the same
/// flat vectors as [`crate::HessianOp`] (`Tensor<B, 1>` in the layout's order), so every algorithm runs
/// on it unchanged.
///
/// `M` is the model on the plain backend `B` (no burn autodiff: `Net<B1<B>>::valid()`); the loss closure
/// returns the *mean* loss over its batch as a one-element tensor, with batch norm and dropout in eval mode.
pub struct RetainedHessianOp<B: Backend, M, T, F> {
    model: M,
    layout: ParamLayout,
    /// The layout's parameters as libtorch leaves, in layout order.
    leaves: Vec<tch::Tensor>,
    batches: Vec<Batch<T>>,
    total: usize,
    loss: F,
    device: B::Device,
    /// Per batch, the gradient pieces with their graph (kept when there is one batch).
    graphs: Vec<Vec<Option<tch::Tensor>>>,
    hvps: u64,
    seconds: f64,
    setup_seconds: f64,
}

impl<B, M, T, F> RetainedHessianOp<B, M, T, F>
where
    B: Backend,
    M: Module<B>,
    F: Fn(&M, &T) -> Tensor<B, 1>,
{
    /// The Hessian with respect to the parameters in `layout` (ids of `model`'s parameters). Builds the
    /// gradient graph of a single batch here (one forward and one backward).
    pub fn with_layout(
        model: M,
        layout: ParamLayout,
        batches: Vec<Batch<T>>,
        loss: F,
        device: B::Device,
    ) -> Result<Self> {
        if !supported::<B>() {
            return Err(unsupported::<B>());
        }
        if batches.is_empty() || batches.iter().any(|b| b.size == 0) {
            return Err(Error::InvalidBatches {
                reason: "need at least one batch, none of size 0".into(),
            });
        }
        let keep: HashMap<ParamId, usize> = layout
            .entries()
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i))
            .collect();
        let mut make = MakeLeaves {
            keep: &keep,
            leaves: (0..keep.len()).map(|_| None).collect(),
            failed: false,
        };
        let model = model.map(&mut make);
        if make.failed {
            return Err(unsupported::<B>());
        }
        let leaves = make
            .leaves
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or(Error::NoParameters)?;
        let total = batches.iter().map(|b| b.size).sum();
        let mut op = RetainedHessianOp {
            model,
            layout,
            leaves,
            batches,
            total,
            loss,
            device,
            graphs: Vec::new(),
            hvps: 0,
            seconds: 0.0,
            setup_seconds: 0.0,
        };
        if op.batches.len() == 1 {
            let start = Instant::now();
            let graph = op.gradient_graph(0)?;
            op.graphs.push(graph);
            op.setup_seconds = start.elapsed().as_secs_f64();
        }
        Ok(op)
    }

    /// The parameter layout of the flat vectors.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// The device vectors live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Mean wall time per product so far (NaN before the first).
    pub fn seconds_per_hvp(&self) -> f64 {
        if self.hvps == 0 {
            f64::NAN
        } else {
            self.seconds / self.hvps as f64
        }
    }

    /// Seconds spent building the retained gradient graph (0 when graphs are rebuilt per product).
    pub fn setup_seconds(&self) -> f64 {
        self.setup_seconds
    }

    /// Whether the gradient graph is kept between products (one batch) or rebuilt (several).
    pub fn retains_graph(&self) -> bool {
        !self.graphs.is_empty()
    }

    /// The current parameters as a flat vector.
    pub fn params(&self) -> Result<Tensor<B, 1>> {
        let flat = tch::Tensor::cat(
            &self
                .leaves
                .iter()
                .map(|l| l.detach().reshape([-1]))
                .collect::<Vec<_>>(),
            0,
        );
        from_tch::<B, 1>(flat)
    }

    /// The gradient pieces of batch `b` with their graph (`None` for a parameter the loss does not use).
    fn gradient_graph(&self, b: usize) -> Result<Vec<Option<tch::Tensor>>> {
        let batch = &self.batches[b];
        let loss = (self.loss)(&self.model, &batch.inputs);
        let loss = to_tch(loss).ok_or_else(unsupported::<B>)?;
        finite(loss.double_value(&[0]), "loss")?;
        let grads = tch::Tensor::f_run_backward(&[&loss], &self.leaves, true, true)
            .map_err(|e| Error::Backend(format!("libtorch gradient with graph: {e}")))?;
        Ok(grads
            .into_iter()
            .map(|g| g.defined().then_some(g))
            .collect())
    }

    /// `H_b v` from batch `b`'s gradient graph, as flat pieces in layout order.
    fn batch_hvp(&self, graph: &[Option<tch::Tensor>], pieces: &[tch::Tensor]) -> Result<tch::Tensor> {
        let mut dot: Option<tch::Tensor> = None;
        for (g, v) in graph.iter().zip(pieces) {
            let Some(g) = g else { continue };
            let t = (g * v.view_as(g)).sum(g.kind());
            dot = Some(match dot {
                Some(d) => d + t,
                None => t,
            });
        }
        let numel = self.layout.dim() as i64;
        let kind = self.leaves[0].kind();
        let Some(dot) = dot else {
            // The loss does not depend on the chosen parameters: this block of the Hessian is zero.
            return Ok(tch::Tensor::zeros([numel], (kind, self.leaves[0].device())));
        };
        if !dot.requires_grad() {
            return Ok(tch::Tensor::zeros([numel], (kind, self.leaves[0].device())));
        }
        let hv = tch::Tensor::f_run_backward(&[&dot], &self.leaves, true, false)
            .map_err(|e| Error::Backend(format!("libtorch double backward: {e}")))?;
        let flat: Vec<tch::Tensor> = hv
            .into_iter()
            .zip(&self.leaves)
            .map(|(h, leaf)| {
                if h.defined() {
                    h.reshape([-1])
                } else {
                    tch::Tensor::zeros([leaf.numel() as i64], (kind, leaf.device()))
                }
            })
            .collect();
        Ok(tch::Tensor::cat(&flat, 0))
    }
}

impl<B, M, T, F> SymOp for RetainedHessianOp<B, M, T, F>
where
    B: Backend,
    M: Module<B>,
    F: Fn(&M, &T) -> Tensor<B, 1>,
{
    type V = Tensor<B, 1>;

    fn dim(&self) -> usize {
        self.layout.dim()
    }

    fn apply(&mut self, v: &Tensor<B, 1>) -> Result<Tensor<B, 1>> {
        let start = Instant::now();
        let got = v.dims()[0];
        if got != self.dim() {
            return Err(Error::DimensionMismatch {
                expected: self.dim(),
                got,
            });
        }
        let flat = to_tch(v.clone()).ok_or_else(unsupported::<B>)?;
        let flat = flat.to_kind(self.leaves[0].kind());
        let pieces: Vec<tch::Tensor> = self
            .layout
            .entries()
            .iter()
            .map(|e| flat.narrow(0, e.offset as i64, e.numel() as i64))
            .collect();
        let mut acc: Option<tch::Tensor> = None;
        for b in 0..self.batches.len() {
            let w = self.batches[b].size as f64 / self.total as f64;
            let hv = if let Some(graph) = self.graphs.get(b) {
                self.batch_hvp(graph, &pieces)?
            } else {
                let graph = self.gradient_graph(b)?;
                self.batch_hvp(&graph, &pieces)?
            };
            let hv = if self.batches.len() == 1 { hv } else { hv * w };
            acc = Some(match acc {
                Some(a) => a + hv,
                None => hv,
            });
        }
        let hv = acc.expect("at least one batch (checked at construction)");
        self.hvps += 1;
        self.seconds += start.elapsed().as_secs_f64();
        from_tch::<B, 1>(hv.to_kind(flat_kind(v)))
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

/// The libtorch kind of a burn vector (results are handed back in the caller's precision).
fn flat_kind<B: Backend>(v: &Tensor<B, 1>) -> tch::Kind {
    to_tch(v.clone()).map(|t| t.kind()).unwrap_or(tch::Kind::Float)
}
