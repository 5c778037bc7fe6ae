//! hessx-models: burn models whose Hessian-vector products are exact.
//!
//! Every model here is written only from ops that second-differentiate in
//! burn 0.21 (see `notes/burn-nested-autodiff.md`): linear layers from
//! matmul + add, pooling from reshape or slices + `max_dim`/`mean_dim`, embeddings
//! from `select`, GELU from `erf`, and a batch norm whose train/eval mode is
//! an argument ([`BnMode`]) rather than inferred from the backend. A model
//! built on `Autodiff<Flex>` can be lifted to `Autodiff<Autodiff<Flex>>` with
//! `AutodiffModule::from_inner` (same parameter ids) and differentiated twice.
//!
//! ```
//! use burn::backend::{Autodiff, Flex};
//! use burn::tensor::{Int, Tensor};
//! use hessx_models::{Arch, BnMode, Input, InputSpec, ModelSpec, cross_entropy};
//!
//! let spec = ModelSpec {
//!     arch: Arch::ResNet { depth: 20, batch_norm: true, residual: true },
//!     input: InputSpec::Image { channels: 3, height: 32, width: 32 },
//!     num_classes: 10,
//! };
//! let device = Default::default();
//! let net = spec.init::<Autodiff<Flex>>(&device);
//! assert_eq!(net.num_params(), 272_474); // PyHessian's resnet20
//! let x = Tensor::zeros([2, 3, 32, 32], &device);
//! let logits = net.forward(Input::Images(x), BnMode::Eval);
//! let loss = cross_entropy(logits, Tensor::<_, 1, Int>::from_ints([3, 7], &device));
//! assert_eq!(loss.dims(), [1]);
//! ```
//!
//! Checkpoints ([`save_checkpoint`], [`load_checkpoint`]) carry the
//! [`ModelSpec`] next to the weights; [`load_pytorch`] reads PyTorch
//! state_dicts, PyHessian's and torchvision's ResNets ([`torchvision_resnet`])
//! included.
#![deny(missing_docs)]

mod checkpoint;
pub mod cnn;
mod error;
pub mod layers;
mod loss;
pub mod mlp;
mod net;
mod pytorch;
pub mod resnet;
mod spec;
pub mod torchvision_resnet;
pub mod transformer;
pub mod wide_deep;

pub use checkpoint::{load_checkpoint, read_checkpoint_spec, save_checkpoint};
pub use error::{Error, Result};
pub use layers::{Activation, BnMode, Linear, batch_norm};
pub use loss::{cross_entropy, predicted_labels};
pub use net::{Input, ModulePath, Net, is_trainable};
pub use pytorch::load_pytorch;
pub use spec::{Arch, InputSpec, ModelSpec};
