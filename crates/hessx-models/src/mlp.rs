//! Fully connected network over flattened images: small enough on digits
//! (a few thousand parameters) that the dense Hessian can be formed exactly.

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use crate::layers::{Activation, Linear};

/// `Linear -> act -> ... -> Linear`, over the flattened `[N, C*H*W]` image.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Hidden layers, then the output layer.
    pub layers: Vec<Linear<B>>,
    /// Non-linearity after each hidden layer.
    pub activation: Activation,
}

impl<B: Backend> Mlp<B> {
    /// Layers `d_in -> hidden[0] -> ... -> num_classes`.
    pub fn new(
        d_in: usize,
        hidden: &[usize],
        num_classes: usize,
        activation: Activation,
        device: &B::Device,
    ) -> Self {
        let mut widths = vec![d_in];
        widths.extend_from_slice(hidden);
        widths.push(num_classes);
        let layers = widths
            .windows(2)
            .map(|w| Linear::new(w[0], w[1], true, device))
            .collect();
        Mlp { layers, activation }
    }

    /// Logits `[N, classes]` of images `[N, C, H, W]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let [n, c, h, w] = images.dims();
        let mut x = images.reshape([n, c * h * w]);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = self.activation.apply(x);
            }
        }
        x
    }
}
