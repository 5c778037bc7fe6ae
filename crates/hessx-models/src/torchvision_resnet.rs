//! torchvision's ImageNet ResNets (`torchvision.models.resnet18/34/50/101/152`;
//! He et al. 2016, v1.5): a 7x7 stride-2 stem convolution, batch norm, relu
//! and a 3x3 stride-2 max-pool, four stages of basic blocks (18, 34) or
//! bottleneck blocks (50, 101, 152; expansion 4, the stride on the 3x3
//! convolution as torchvision does), adaptive average pooling to 1x1 and
//! the classifier `fc`.
//!
//! Field names are torchvision's `state_dict` keys (`conv1`, `bn1`,
//! `layer1.0.conv1`, ..., `layer4.1.downsample.0`, `fc`), so
//! `torch.save(torchvision.models.resnet50(num_classes=N).state_dict())`
//! loads unchanged through [`crate::load_pytorch`] (which maps the shortcut's
//! `downsample.0`/`.1` onto [`Downsample`]'s `conv`/`bn`, as for PyHessian's
//! ResNet). The base width is a parameter: 64 is torchvision's model, a
//! narrow one (2, 4) gives the same layout at a size tests can afford.
//!
//! The max-pool is written from slices, concatenation and `max_dim`, which
//! burn 0.21 differentiates twice (its `max_pool2d` has no second
//! derivative); see [`max_pool3_stride2`].

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Tensor, backend::Backend};

use crate::layers::{Activation, BnMode, Linear, batch_norm, batch_norm_layer, global_avg_pool};
use crate::resnet::{BasicBlock, Downsample, conv};

/// The depths torchvision ships, with their block kind and blocks per stage.
pub const DEPTHS: [usize; 5] = [18, 34, 50, 101, 152];

/// torchvision's base width: stage `i` has `64 * 2^i` planes.
pub const TORCHVISION_WIDTH: usize = 64;

/// Output channels of a bottleneck block per plane (torchvision's `expansion`).
const BOTTLENECK_EXPANSION: usize = 4;

/// Blocks per stage and whether they are bottlenecks, for a depth in [`DEPTHS`].
pub fn stages(depth: usize) -> Option<([usize; 4], bool)> {
    match depth {
        18 => Some(([2, 2, 2, 2], false)),
        34 => Some(([3, 4, 6, 3], false)),
        50 => Some(([3, 4, 6, 3], true)),
        101 => Some(([3, 4, 23, 3], true)),
        152 => Some(([3, 8, 36, 3], true)),
        _ => None,
    }
}

/// conv1x1-bn-act-conv3x3(stride)-bn-act-conv1x1-bn (+ shortcut) -act, with
/// `planes` channels inside and `4 * planes` out (torchvision's `Bottleneck`).
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    /// 1x1 reduction, `in -> planes`.
    pub conv1: Conv2d<B>,
    /// Its batch norm.
    pub bn1: BatchNorm<B>,
    /// 3x3 convolution, `planes -> planes`, carries the stride (v1.5).
    pub conv2: Conv2d<B>,
    /// Its batch norm.
    pub bn2: BatchNorm<B>,
    /// 1x1 expansion, `planes -> 4 * planes`.
    pub conv3: Conv2d<B>,
    /// Its batch norm.
    pub bn3: BatchNorm<B>,
    /// Projection shortcut where the shape changes.
    pub downsample: Option<Downsample<B>>,
    /// Non-linearity (relu in torchvision).
    pub activation: Activation,
}

impl<B: Backend> Bottleneck<B> {
    fn new(c_in: usize, planes: usize, stride: usize, act: Activation, device: &B::Device) -> Self {
        let c_out = planes * BOTTLENECK_EXPANSION;
        Bottleneck {
            conv1: conv(c_in, planes, 1, 1, device),
            bn1: batch_norm_layer(planes, device),
            conv2: conv(planes, planes, 3, stride, device),
            bn2: batch_norm_layer(planes, device),
            conv3: conv(planes, c_out, 1, 1, device),
            bn3: batch_norm_layer(c_out, device),
            downsample: (stride != 1 || c_in != c_out).then(|| Downsample {
                conv: conv(c_in, c_out, 1, stride, device),
                bn: Some(batch_norm_layer(c_out, device)),
            }),
            activation: act,
        }
    }

    fn forward(&self, x: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 4> {
        let act = self.activation;
        let out = act.apply(batch_norm(&self.bn1, self.conv1.forward(x.clone()), mode));
        let out = act.apply(batch_norm(&self.bn2, self.conv2.forward(out), mode));
        let out = batch_norm(&self.bn3, self.conv3.forward(out), mode);
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x, mode),
            None => x,
        };
        act.apply(out + shortcut)
    }
}

/// One residual block of a torchvision ResNet.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Block<B: Backend> {
    /// Two 3x3 convolutions (resnet18, resnet34): the same block as the CIFAR
    /// ResNet's, with batch norm and shortcut always on.
    Basic(BasicBlock<B>),
    /// 1x1, 3x3, 1x1 (resnet50, 101, 152).
    Bottleneck(Bottleneck<B>),
}

impl<B: Backend> Block<B> {
    fn forward(&self, x: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 4> {
        match self {
            Block::Basic(b) => b.forward(x, mode),
            Block::Bottleneck(b) => b.forward(x, mode),
        }
    }
}

/// A torchvision ResNet of depth 18, 34, 50, 101 or 152.
#[derive(Module, Debug)]
pub struct TorchResNet<B: Backend> {
    /// 7x7 stride-2 stem convolution, `in -> width`.
    pub conv1: Conv2d<B>,
    /// Stem batch norm.
    pub bn1: BatchNorm<B>,
    /// Stage 1, `width` planes, after the max-pool.
    pub layer1: Vec<Block<B>>,
    /// Stage 2, `2 * width` planes, stride 2.
    pub layer2: Vec<Block<B>>,
    /// Stage 3, `4 * width` planes, stride 2.
    pub layer3: Vec<Block<B>>,
    /// Stage 4, `8 * width` planes, stride 2.
    pub layer4: Vec<Block<B>>,
    /// Classifier, `8 * width * expansion -> classes`.
    pub fc: Linear<B>,
    /// Non-linearity (relu in torchvision).
    pub activation: Activation,
}

impl<B: Backend> TorchResNet<B> {
    /// torchvision's `resnet{depth}` on `channels`-channel images with base
    /// width `width` (64 for torchvision's model) and `num_classes` outputs,
    /// initialised as torchvision (Kaiming-normal fan-out convolutions, unit
    /// batch norms, PyTorch's default linear layer).
    ///
    /// # Panics
    /// If `depth` is not in [`DEPTHS`] or `width` is 0 (`ModelSpec::validate`
    /// reports both first).
    pub fn new(
        channels: usize,
        num_classes: usize,
        depth: usize,
        width: usize,
        activation: Activation,
        device: &B::Device,
    ) -> Self {
        let (blocks, bottleneck) = stages(depth).unwrap_or_else(|| {
            panic!("torchvision resnet depth must be one of {DEPTHS:?}, got {depth}")
        });
        assert!(width > 0, "torchvision resnet width must be positive");
        let expansion = if bottleneck { BOTTLENECK_EXPANSION } else { 1 };
        let mut in_planes = width;
        let mut stage = |index: usize| -> Vec<Block<B>> {
            let planes = width << index;
            let stride = if index == 0 { 1 } else { 2 };
            (0..blocks[index])
                .map(|i| {
                    let (c_in, s) = (in_planes, if i == 0 { stride } else { 1 });
                    in_planes = planes * expansion;
                    if bottleneck {
                        Block::Bottleneck(Bottleneck::new(c_in, planes, s, activation, device))
                    } else {
                        Block::Basic(basic_block(c_in, planes, s, activation, device))
                    }
                })
                .collect()
        };
        let (layer1, layer2, layer3, layer4) = (stage(0), stage(1), stage(2), stage(3));
        TorchResNet {
            conv1: conv(channels, width, 7, 2, device),
            bn1: batch_norm_layer(width, device),
            layer1,
            layer2,
            layer3,
            layer4,
            fc: Linear::new(8 * width * expansion, num_classes, true, device),
            activation,
        }
    }

    /// Logits `[N, classes]` of images `[N, C, H, W]` (any size: the pooling
    /// at the end is global).
    pub fn forward(&self, images: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 2> {
        let x = self
            .activation
            .apply(batch_norm(&self.bn1, self.conv1.forward(images), mode));
        let mut x = max_pool3_stride2(x);
        for block in self
            .layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
        {
            x = block.forward(x, mode);
        }
        self.fc.forward(global_avg_pool(x))
    }
}

/// torchvision's `BasicBlock`: 3x3 (stride) and 3x3, both with batch norm, and
/// a 1x1 + batch-norm shortcut where the shape changes.
fn basic_block<B: Backend>(
    c_in: usize,
    planes: usize,
    stride: usize,
    activation: Activation,
    device: &B::Device,
) -> BasicBlock<B> {
    BasicBlock {
        conv1: conv(c_in, planes, 3, stride, device),
        bn1: Some(batch_norm_layer(planes, device)),
        conv2: conv(planes, planes, 3, 1, device),
        bn2: Some(batch_norm_layer(planes, device)),
        downsample: (stride != 1 || c_in != planes).then(|| Downsample {
            conv: conv(c_in, planes, 1, stride, device),
            bn: Some(batch_norm_layer(planes, device)),
        }),
        residual: true,
        activation,
    }
}

/// PyTorch's `MaxPool2d(kernel_size=3, stride=2, padding=1)`, from ops that
/// burn differentiates twice.
///
/// The padding repeats the edge row or column instead of PyTorch's -inf: a
/// 3-wide window that reaches a padded position also holds the edge element
/// it copies, so every window's maximum is the same, and no sentinel value
/// enters the graph. The 3x3 maximum is taken as a maximum over columns,
/// then over rows (the same number). Each 1-D pass views the padded axis as
/// pairs `(p[2i], p[2i+1])`; window `i` is `p[2i], p[2i+1], p[2i+2]`.
///
/// # Shapes
/// `[N, C, H, W]` to `[N, C, (H - 1) / 2 + 1, (W - 1) / 2 + 1]`.
pub fn max_pool3_stride2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let x = max_pool3_stride2_last(x);
    max_pool3_stride2_last(x.swap_dims(2, 3)).swap_dims(2, 3)
}

/// [`max_pool3_stride2`] along the last axis only.
fn max_pool3_stride2_last<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let out = (w - 1) / 2 + 1;
    // Padded length 2 * out + 2: one copy of the first element in front, and
    // one or two of the last behind (two when w is odd; the second only fills
    // the last pair and is never in a window).
    let first = x.clone().narrow(3, 0, 1);
    let last = x.clone().narrow(3, w - 1, 1);
    let mut parts = vec![first, x, last.clone()];
    if w + 2 < 2 * out + 2 {
        parts.push(last);
    }
    let pairs = Tensor::cat(parts, 3).reshape([n, c, h, out + 1, 2]);
    let even = pairs.clone().slice([0..n, 0..c, 0..h, 0..out, 0..1]);
    let odd = pairs.clone().slice([0..n, 0..c, 0..h, 0..out, 1..2]);
    let next_even = pairs.slice([0..n, 0..c, 0..h, 1..out + 1, 0..1]);
    Tensor::cat(vec![even, odd, next_even], 4)
        .max_dim(4)
        .reshape([n, c, h, out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, TensorData};

    /// Max-pool 3x3, stride 2, padding -inf, by loops.
    fn reference(x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (ho, wo) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
        let mut out = Vec::new();
        for i in 0..ho {
            for j in 0..wo {
                let mut m = f32::NEG_INFINITY;
                for di in 0..3 {
                    for dj in 0..3 {
                        let (r, s) = ((2 * i + di) as isize - 1, (2 * j + dj) as isize - 1);
                        if r >= 0 && s >= 0 && (r as usize) < h && (s as usize) < w {
                            m = m.max(x[r as usize * w + s as usize]);
                        }
                    }
                }
                out.push(m);
            }
        }
        out
    }

    #[test]
    fn max_pool_matches_pytorch_windows_on_even_odd_and_tiny_sizes() {
        let dev = Default::default();
        for (h, w) in [(8, 8), (7, 9), (1, 1), (2, 3), (16, 5)] {
            let x = Tensor::<Flex, 4>::random([1, 1, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let values: Vec<f32> = x.clone().into_data().to_vec().unwrap();
            let y = max_pool3_stride2(x);
            let (ho, wo) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
            assert_eq!(y.dims(), [1, 1, ho, wo], "{h}x{w}");
            y.into_data().assert_eq(
                &TensorData::new(reference(&values, h, w), [1, 1, ho, wo]),
                false,
            );
        }
    }

    #[test]
    fn names_never_stand_for_two_models() {
        use crate::{Arch, InputSpec, ModelSpec};
        let name = |arch| {
            let input = InputSpec::Image {
                channels: 3,
                height: 32,
                width: 32,
            };
            ModelSpec {
                arch,
                input,
                num_classes: 10,
            }
            .name()
        };
        assert_eq!(
            name(Arch::TorchResNet {
                depth: 50,
                width: 64
            }),
            "resnet50"
        );
        assert_eq!(
            name(Arch::TorchResNet {
                depth: 18,
                width: 16
            }),
            "resnet18-w16"
        );
        // 50 is also 6n+2: the CIFAR ResNet of that depth says so.
        let cifar = |depth| Arch::ResNet {
            depth,
            batch_norm: true,
            residual: true,
        };
        assert_eq!(name(cifar(50)), "cifar-resnet50");
        assert_eq!(name(cifar(20)), "resnet20");
        let bad = ModelSpec {
            arch: Arch::TorchResNet {
                depth: 20,
                width: 64,
            },
            input: InputSpec::Image {
                channels: 3,
                height: 32,
                width: 32,
            },
            num_classes: 10,
        };
        let err = bad.validate().unwrap_err();
        assert!(
            err.contains("[18, 34, 50, 101, 152]") && err.contains("20"),
            "{err}"
        );
    }

    #[test]
    fn stage_shapes_follow_torchvision() {
        let dev = Default::default();
        let net = TorchResNet::<Flex>::new(3, 5, 50, 2, Activation::Relu, &dev);
        assert_eq!(
            [
                net.layer1.len(),
                net.layer2.len(),
                net.layer3.len(),
                net.layer4.len()
            ],
            [3, 4, 6, 3]
        );
        let Block::Bottleneck(b) = &net.layer2[0] else {
            panic!("resnet50 has bottlenecks")
        };
        // v1.5: the stride is on the 3x3 convolution; layer1 expands 2 -> 8 channels.
        assert_eq!(b.conv1.stride, [1, 1]);
        assert_eq!(b.conv2.stride, [2, 2]);
        assert_eq!(b.conv3.weight.dims(), [16, 4, 1, 1]);
        assert_eq!(net.fc.weight.dims(), [64, 5]);
        let x = Tensor::<Flex, 4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &dev);
        assert_eq!(net.forward(x, BnMode::Eval).dims(), [2, 5]);
    }
}
