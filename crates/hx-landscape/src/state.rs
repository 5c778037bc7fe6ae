//! A model's whole state as one flat host vector: every float tensor
//! (trainable parameters and batch-norm running statistics) in the module's
//! visiting order. Directions live in this space, so a `states` direction
//! (loss-landscape's `--dir_type states`) can move the running statistics
//! too, and a `weights` direction simply leaves their entries at zero.
//!
//! Points of a surface are evaluated by writing `w + x dx + y dy` into the
//! model. Batch-norm running statistics are shared cells in burn (clones of a
//! model share them), so every write sets *all* tensors: the model never
//! carries a previous point's values.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use hessx_models::{ModulePath, Net, is_trainable};

/// One tensor's place in the flat state.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Dotted path, e.g. `layer1.0.conv1.weight` (the record's, as `Net::param_shapes`).
    pub path: String,
    /// Its id (shared by every load of the same checkpoint and by autodiff lifts).
    pub id: ParamId,
    /// Shape.
    pub shape: Vec<usize>,
    /// First element in the flat vector.
    pub offset: usize,
    /// A batch-norm running statistic (not trainable).
    pub running: bool,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// The entries of this tensor in a flat vector.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.numel()
    }
}

/// Every float tensor of a model, in visiting order, with offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct StateLayout {
    /// The tensors.
    pub tensors: Vec<TensorInfo>,
    /// Length of the flat vector.
    pub len: usize,
}

impl StateLayout {
    /// The layout of `net`.
    pub fn of<B: Backend>(net: &Net<B>) -> Self {
        let mut v = Collect { path: ModulePath::default(), tensors: Vec::new(), len: 0 };
        net.visit(&mut v);
        StateLayout { tensors: v.tensors, len: v.len }
    }

    /// A short description of the shapes (for error messages and fingerprints).
    pub fn signature(&self) -> String {
        let parts: Vec<String> = self.tensors.iter().map(|t| format!("{}{:?}", t.path, t.shape)).collect();
        parts.join(";")
    }

    /// Number of trainable parameters (running statistics excluded).
    pub fn num_trainable(&self) -> usize {
        self.tensors.iter().filter(|t| !t.running).map(TensorInfo::numel).sum()
    }

    /// The current values of `net` (a model of the same architecture) as one
    /// flat vector. Tensors are matched by visiting order, not by ParamId:
    /// checkpoints of different runs (or initialisations) of one network
    /// carry different ids.
    ///
    /// # Panics
    /// If `net` has other tensor shapes (callers load checkpoints against the
    /// origin's model spec first).
    pub fn read<B: Backend>(&self, net: &Net<B>) -> Vec<f32> {
        let mut v = Values { out: Vec::new() };
        net.visit(&mut v);
        assert_eq!(v.out.len(), self.tensors.len(), "the layout was taken from a model of this architecture");
        let mut flat = vec![0f32; self.len];
        for (t, (shape, values)) in self.tensors.iter().zip(v.out) {
            assert_eq!(shape, t.shape, "{}: the layout was taken from a model of this architecture", t.path);
            flat[t.range()].copy_from_slice(&values);
        }
        flat
    }

    /// `net` with every float tensor set from `flat`.
    ///
    /// # Panics
    /// If `flat` is not `self.len` long (callers check lengths when loading directions).
    pub fn write<B: Backend>(&self, net: Net<B>, flat: &[f32], device: &B::Device) -> Net<B> {
        assert_eq!(flat.len(), self.len, "state vector length");
        let pieces = self.tensors.iter().map(|t| (t.id, (t.offset, t.numel()))).collect();
        net.map(&mut Assign::<B> { pieces, flat, device: device.clone() })
    }
}

struct Collect {
    path: ModulePath,
    tensors: Vec<TensorInfo>,
    len: usize,
}

impl<B: Backend> ModuleVisitor<B> for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }
    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.path.exit(container_type);
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let path = self.path.current();
        let running = !is_trainable(&path);
        let shape = param.val().dims().to_vec();
        let info = TensorInfo { path, id: param.id, shape, offset: self.len, running };
        self.len += info.numel();
        self.tensors.push(info);
    }
}

/// Every float tensor's shape and values, in visiting order.
struct Values {
    out: Vec<(Vec<usize>, Vec<f32>)>,
}

impl<B: Backend> ModuleVisitor<B> for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let shape = value.dims().to_vec();
        let values: Vec<f32> = value.into_data().iter::<f32>().collect();
        self.out.push((shape, values));
    }
}

struct Assign<'a, B: Backend> {
    pieces: HashMap<ParamId, (usize, usize)>,
    flat: &'a [f32],
    device: B::Device,
}

impl<B: Backend> ModuleMapper<B> for Assign<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, old, mapper) = param.consume();
        let value = match self.pieces.get(&id) {
            Some(&(offset, n)) => {
                let shape = old.dims();
                let fresh = Tensor::from_data(TensorData::new(self.flat[offset..offset + n].to_vec(), shape), &self.device);
                // On an autodiff backend trainable leaves stay trainable (curvature needs them).
                if old.is_require_grad() { fresh.require_grad() } else { fresh }
            }
            None => old,
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use hessx_models::{Arch, BnMode, Input, InputSpec, ModelSpec};

    fn resnet() -> ModelSpec {
        ModelSpec {
            arch: Arch::ResNet { depth: 8, batch_norm: true, residual: true },
            input: InputSpec::Image { channels: 1, height: 8, width: 8 },
            num_classes: 3,
        }
    }

    #[test]
    fn layout_covers_every_tensor_and_round_trips() {
        let dev = Default::default();
        let net = resnet().init::<Flex>(&dev);
        let layout = StateLayout::of(&net);
        let shapes = net.param_shapes();
        assert_eq!(layout.tensors.len(), shapes.len());
        assert_eq!(layout.num_trainable(), net.num_params());
        assert!(layout.tensors.iter().any(|t| t.running && t.path.ends_with("bn1.running_var")));
        for (t, (path, shape)) in layout.tensors.iter().zip(&shapes) {
            assert_eq!((&t.path, &t.shape), (path, shape));
        }
        let w = layout.read(&net);
        let moved: Vec<f32> = w.iter().enumerate().map(|(i, v)| v + (i % 7) as f32 * 0.01).collect();
        let net = layout.write(net, &moved, &dev);
        assert_eq!(layout.read(&net), moved);
        // The running statistics really took the new values: eval-mode outputs change back when restored.
        let x = Tensor::<Flex, 4>::ones([2, 1, 8, 8], &dev);
        let y_moved = net.forward(Input::Images(x.clone()), BnMode::Eval).into_data();
        let net = layout.write(net, &w, &dev);
        let y_back = net.forward(Input::Images(x), BnMode::Eval).into_data();
        assert_ne!(y_moved, y_back);
        assert_eq!(layout.read(&net), w);
    }
}
