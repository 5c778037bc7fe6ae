//! PyHessian's CIFAR ResNet (`models/resnet.py`; He et al. 2016): a 3x3 stem,
//! three stages of n basic blocks (16/32/64 channels, stride 2 at the start
//! of stages 2 and 3), 1x1-convolution + batch-norm shortcuts where the shape
//! changes, global average pooling and a linear classifier.
//!
//! Field names follow PyHessian's `state_dict` (`conv1`, `bn1`,
//! `layer1.0.conv1`, ..., `fc`), so its checkpoints load unchanged; the one
//! difference is the shortcut, a `Sequential` in PyTorch (`downsample.0`,
//! `downsample.1`), here a struct with `conv` and `bn`, which the importer
//! remaps. Convolutions have no bias, as in PyHessian. The network is
//! size-agnostic thanks to the global average pooling (PyHessian's
//! `AvgPool2d(8)` is the same thing on 32x32 inputs).

use burn::module::{Initializer, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::{Tensor, backend::Backend};

use crate::layers::{Activation, BnMode, Linear, batch_norm, batch_norm_layer, global_avg_pool};

/// Stage widths of the CIFAR ResNet.
const WIDTHS: [usize; 3] = [16, 32, 64];

/// Convolution without bias, padding `k / 2`, initialised as PyHessian and
/// torchvision (Kaiming normal, fan-out, relu gain): N(0, 2 / (k*k*c_out)).
pub(crate) fn conv<B: Backend>(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    device: &B::Device,
) -> Conv2d<B> {
    let pad = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: 2f64.sqrt(),
            fan_out_only: true,
        })
        .init(device)
}

/// Applies `bn` if present.
fn maybe_bn<B: Backend>(bn: &Option<BatchNorm<B>>, x: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 4> {
    match bn {
        Some(bn) => batch_norm(bn, x, mode),
        None => x,
    }
}

/// Projection shortcut: 1x1 convolution (stride 2) + batch norm.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    /// PyTorch's `downsample.0`.
    pub conv: Conv2d<B>,
    /// PyTorch's `downsample.1` (absent without batch norm).
    pub bn: Option<BatchNorm<B>>,
}

impl<B: Backend> Downsample<B> {
    /// The shortcut's value for the block input `x`.
    pub(crate) fn forward(&self, x: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 4> {
        maybe_bn(&self.bn, self.conv.forward(x), mode)
    }
}

/// conv3x3-bn-act-conv3x3-bn (+ shortcut) -act.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    /// First 3x3 convolution (carries the stride).
    pub conv1: Conv2d<B>,
    /// Its batch norm.
    pub bn1: Option<BatchNorm<B>>,
    /// Second 3x3 convolution.
    pub conv2: Conv2d<B>,
    /// Its batch norm.
    pub bn2: Option<BatchNorm<B>>,
    /// Projection shortcut where the shape changes (and residuals are on).
    pub downsample: Option<Downsample<B>>,
    /// Whether the shortcut is added.
    pub residual: bool,
    /// Non-linearity (relu in PyHessian).
    pub activation: Activation,
}

impl<B: Backend> BasicBlock<B> {
    pub(crate) fn forward(&self, x: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 4> {
        let act = self.activation;
        let out = act.apply(maybe_bn(&self.bn1, self.conv1.forward(x.clone()), mode));
        let out = maybe_bn(&self.bn2, self.conv2.forward(out), mode);
        let out = if self.residual {
            let shortcut = match &self.downsample {
                Some(d) => d.forward(x, mode),
                None => x,
            };
            out + shortcut
        } else {
            out
        };
        act.apply(out)
    }
}

/// The CIFAR ResNet of depth 6n+2.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    /// 3x3 stem convolution, `in -> 16`.
    pub conv1: Conv2d<B>,
    /// Stem batch norm.
    pub bn1: Option<BatchNorm<B>>,
    /// Stage 1, 16 channels.
    pub layer1: Vec<BasicBlock<B>>,
    /// Stage 2, 32 channels, stride 2.
    pub layer2: Vec<BasicBlock<B>>,
    /// Stage 3, 64 channels, stride 2.
    pub layer3: Vec<BasicBlock<B>>,
    /// Classifier, 64 -> classes.
    pub fc: Linear<B>,
    /// Non-linearity (relu in PyHessian).
    pub activation: Activation,
}

impl<B: Backend> ResNet<B> {
    /// A ResNet of `depth` (6n+2) on `channels`-channel images. `activation`
    /// is relu for the real model; smooth ones exist for derivative tests.
    pub fn new(
        channels: usize,
        num_classes: usize,
        depth: usize,
        batch_norm: bool,
        residual: bool,
        activation: Activation,
        device: &B::Device,
    ) -> Self {
        assert!(
            depth >= 8 && (depth - 2) % 6 == 0,
            "resnet depth must be 6n+2, got {depth}"
        );
        let blocks = (depth - 2) / 6;
        let bn = |c: usize| batch_norm.then(|| batch_norm_layer(c, device));
        let mut in_planes = WIDTHS[0];
        let mut stage = |planes: usize, stride: usize| -> Vec<BasicBlock<B>> {
            (0..blocks)
                .map(|i| {
                    let (c_in, s) = if i == 0 {
                        (in_planes, stride)
                    } else {
                        (planes, 1)
                    };
                    let downsample = (residual && (s != 1 || c_in != planes)).then(|| Downsample {
                        conv: conv(c_in, planes, 1, s, device),
                        bn: bn(planes),
                    });
                    in_planes = planes;
                    BasicBlock {
                        conv1: conv(c_in, planes, 3, s, device),
                        bn1: bn(planes),
                        conv2: conv(planes, planes, 3, 1, device),
                        bn2: bn(planes),
                        downsample,
                        residual,
                        activation,
                    }
                })
                .collect()
        };
        let layer1 = stage(WIDTHS[0], 1);
        let layer2 = stage(WIDTHS[1], 2);
        let layer3 = stage(WIDTHS[2], 2);
        ResNet {
            conv1: conv(channels, WIDTHS[0], 3, 1, device),
            bn1: bn(WIDTHS[0]),
            layer1,
            layer2,
            layer3,
            fc: Linear::new(WIDTHS[2], num_classes, true, device),
            activation,
        }
    }

    /// Logits `[N, classes]` of images `[N, C, H, W]`.
    pub fn forward(&self, images: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 2> {
        let mut x = self
            .activation
            .apply(maybe_bn(&self.bn1, self.conv1.forward(images), mode));
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3) {
            x = block.forward(x, mode);
        }
        self.fc.forward(global_avg_pool(x))
    }
}
