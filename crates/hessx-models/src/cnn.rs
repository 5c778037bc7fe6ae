//! The course notebook's small CNN (`seeds/004`): two conv5 + relu + 2x2
//! max-pool stages, then fc30 and the classifier. A few thousand parameters,
//! so its dense Hessian is still tractable.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Tensor, backend::Backend};

use crate::layers::{Activation, Linear, max_pool2};

/// Channels of both convolutions (the notebook's 5).
const CONV_CHANNELS: usize = 5;
/// Width of the hidden fully connected layer (the notebook's 30).
const HIDDEN: usize = 30;
/// Images narrower than this get "same" padding so two pool stages still fit.
const PAD_BELOW: usize = 16;

/// conv5-act-maxpool2-conv5-act-maxpool2-fc30-act-fc.
#[derive(Module, Debug)]
pub struct SmallCnn<B: Backend> {
    /// First convolution, `in -> 5`, 5x5.
    pub conv1: Conv2d<B>,
    /// Second convolution, `5 -> 5`, 5x5.
    pub conv2: Conv2d<B>,
    /// Flattened features to 30.
    pub fc1: Linear<B>,
    /// 30 to classes.
    pub fc2: Linear<B>,
    /// Non-linearity (relu in the notebook).
    pub activation: Activation,
}

/// Padding of both convolutions for an `h x w` image: none (the notebook) on
/// images of at least 16 pixels, 2 ("same") on smaller ones such as 8x8 digits.
fn padding(h: usize, w: usize) -> usize {
    if h.min(w) < PAD_BELOW { 2 } else { 0 }
}

/// Spatial size of the features after both stages (0 if the image is too small).
pub(crate) fn feature_size(h: usize, w: usize) -> (usize, usize) {
    let p = padding(h, w);
    let stage = |s: usize| (s + 2 * p).checked_sub(4).map_or(0, |s| s / 2);
    (stage(stage(h)), stage(stage(w)))
}

impl<B: Backend> SmallCnn<B> {
    /// The network for `channels x h x w` images.
    pub fn new(
        channels: usize,
        h: usize,
        w: usize,
        num_classes: usize,
        activation: Activation,
        device: &B::Device,
    ) -> Self {
        let p = padding(h, w);
        let conv = |c_in: usize| {
            Conv2dConfig::new([c_in, CONV_CHANNELS], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device)
        };
        let (fh, fw) = feature_size(h, w);
        SmallCnn {
            conv1: conv(channels),
            conv2: conv(CONV_CHANNELS),
            fc1: Linear::new(CONV_CHANNELS * fh * fw, HIDDEN, true, device),
            fc2: Linear::new(HIDDEN, num_classes, true, device),
            activation,
        }
    }

    /// Logits `[N, classes]` of images `[N, C, H, W]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let act = self.activation;
        let x = max_pool2(act.apply(self.conv1.forward(images)));
        let x = max_pool2(act.apply(self.conv2.forward(x)));
        let [n, c, h, w] = x.dims();
        let x = act.apply(self.fc1.forward(x.reshape([n, c * h * w])));
        self.fc2.forward(x)
    }
}
