//! Flat parameter vectors: which parameters, in which order, at which offsets.
//!
//! The algorithms see one flat vector (`Tensor<B, 1>`, on the device); models keep one tensor per parameter.
//! A [`ParamLayout`] fixes the bridge once: the chosen parameter subset (all trainable parameters by
//! default, or those whose dotted path passes a filter, e.g. one layer or "weights without bias/BN") in
//! the module's visit order, with shapes and offsets. Because it stores `ParamId`s, the same layout applies
//! to the model on `B1 = Autodiff<B>` and to its `B2 = Autodiff<B1>` lift (which keeps the ids).

use std::collections::HashMap;

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::error::{Error, Result};

/// One parameter tensor's place in the flat vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamEntry {
    /// The parameter's id (shared by a model and its autodiff lifts).
    pub id: ParamId,
    /// Dotted path of field names, e.g. `layers.0.weight`.
    pub path: String,
    /// Tensor shape.
    pub shape: Vec<usize>,
    /// Offset of the first element in the flat vector.
    pub offset: usize,
}

impl ParamEntry {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The parameter subset and its flat ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLayout {
    entries: Vec<ParamEntry>,
    dim: usize,
}

/// Collects trainable float parameters with their paths (the derive calls `enter_module` with each field
/// name before visiting it; `Option` fields add no level, `Vec` elements add their index).
struct Collect<'a, F> {
    path: Vec<String>,
    keep: &'a F,
    entries: Vec<ParamEntry>,
    dim: usize,
}

impl<B: AutodiffBackend, F: Fn(&str) -> bool> ModuleVisitor<B> for Collect<'_, F> {
    // An enum module (a model family such as hessx-models' `Net`) enters with its variant name; that adds no
    // level, so paths read `layers.1.weight` or `layer3.0.conv1.weight` as hessx-models names them and as
    // users type them after `--params`.
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }
    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        // `val()` also materialises lazily initialised parameters, so later clones share their values.
        let value = param.val();
        let path = self.path.join(".");
        // Running statistics (batch norm) are float parameters too, but never require gradients.
        if value.is_require_grad() && (self.keep)(&path) {
            let shape = value.dims().to_vec();
            let entry = ParamEntry {
                id: param.id,
                path,
                shape,
                offset: self.dim,
            };
            self.dim += entry.numel();
            self.entries.push(entry);
        }
    }
}

impl ParamLayout {
    /// All trainable parameters of `model` (a module on an autodiff backend), in visit order.
    pub fn trainable<B: AutodiffBackend, M: Module<B>>(model: &M) -> Result<Self> {
        Self::filtered(model, |_| true)
    }

    /// Trainable parameters whose dotted path passes `keep`, in visit order.
    ///
    /// ```ignore
    /// // only the first layer; or every weight but no bias:
    /// ParamLayout::filtered(&m1, |p| p.starts_with("fc1."))?;
    /// ParamLayout::filtered(&m1, |p| p.ends_with("weight"))?;
    /// ```
    pub fn filtered<B: AutodiffBackend, M: Module<B>>(
        model: &M,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Self> {
        let mut c = Collect {
            path: Vec::new(),
            keep: &keep,
            entries: Vec::new(),
            dim: 0,
        };
        model.visit(&mut c);
        if c.entries.is_empty() {
            return Err(Error::NoParameters);
        }
        Ok(ParamLayout {
            entries: c.entries,
            dim: c.dim,
        })
    }

    /// The parameters, in flat order.
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }

    /// Length of the flat vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The entry for `id`, if the layout keeps it.
    pub fn entry(&self, id: ParamId) -> Option<&ParamEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The parameters' values as one flat vector on the inner backend's device.
    pub fn flatten<B: AutodiffBackend, M: Module<B>>(
        &self,
        model: &M,
    ) -> Tensor<B::InnerBackend, 1> {
        struct Values<B: AutodiffBackend> {
            out: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
        }
        impl<B: AutodiffBackend> ModuleVisitor<B> for Values<B> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                let v = param.val().inner();
                let n = v.shape().num_elements();
                self.out.insert(param.id, v.reshape([n]));
            }
        }
        let mut values = Values::<B> {
            out: HashMap::new(),
        };
        model.visit(&mut values);
        let device = values
            .out
            .values()
            .next()
            .map(|t| t.device())
            .unwrap_or_default();
        self.assemble(values.out, &device)
    }

    /// Concatenates per-parameter flat pieces in layout order. A missing piece (a parameter the loss does
    /// not depend on, so it has no gradient) is zeros.
    pub(crate) fn assemble<B: Backend>(
        &self,
        mut pieces: HashMap<ParamId, Tensor<B, 1>>,
        device: &B::Device,
    ) -> Tensor<B, 1> {
        let parts: Vec<Tensor<B, 1>> = self
            .entries
            .iter()
            .map(|e| {
                pieces
                    .remove(&e.id)
                    .unwrap_or_else(|| Tensor::zeros([e.numel()], device))
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// Splits a flat vector into one flat piece per parameter.
    pub fn split<B: Backend>(&self, v: &Tensor<B, 1>) -> Result<HashMap<ParamId, Tensor<B, 1>>> {
        let got = v.dims()[0];
        if got != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got,
            });
        }
        Ok(self
            .entries
            .iter()
            .map(|e| (e.id, v.clone().slice(e.offset..e.offset + e.numel())))
            .collect())
    }

    /// A copy of `model` whose layout parameters take their values from the flat vector `v` (other
    /// parameters untouched, ids and `require_grad` kept). Used to move along directions (finite
    /// differences, loss landscapes).
    pub fn assign<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        model: M,
        v: &Tensor<B::InnerBackend, 1>,
    ) -> Result<M> {
        struct Assign<B: AutodiffBackend> {
            pieces: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
        }
        impl<B: AutodiffBackend> ModuleMapper<B> for Assign<B> {
            fn map_float<const D: usize>(
                &mut self,
                param: Param<Tensor<B, D>>,
            ) -> Param<Tensor<B, D>> {
                let (id, old, mapper) = param.consume();
                let value = match self.pieces.remove(&id) {
                    Some(piece) => {
                        let fresh = Tensor::<B, D>::from_inner(piece.reshape(old.dims()));
                        if old.is_require_grad() {
                            fresh.require_grad()
                        } else {
                            fresh
                        }
                    }
                    None => old,
                };
                Param::from_mapped_value(id, value, mapper)
            }
        }
        let pieces = self.split(v)?;
        Ok(model.map(&mut Assign::<B> { pieces }))
    }
}
