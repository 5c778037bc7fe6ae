//! A small pre-norm Transformer encoder classifier (ViT-style) showing that
//! the curvature engine is not CNN-only: patch embedding by a strided
//! convolution, learned position embedding, multi-head self-attention from
//! matmul + softmax, layer norm, an erf-GELU MLP, mean pooling over tokens and
//! a linear classifier. Every op second-differentiates in burn 0.21
//! (`nn::attention::MultiHeadAttention` does not: it uses `nn::Linear`).

use burn::module::{Initializer, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Tensor, activation::softmax, backend::Backend};

use crate::layers::{Activation, Linear};

/// Multi-head self-attention.
#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    /// Query projection.
    pub query: Linear<B>,
    /// Key projection.
    pub key: Linear<B>,
    /// Value projection.
    pub value: Linear<B>,
    /// Output projection.
    pub output: Linear<B>,
    /// Number of heads.
    pub heads: usize,
}

impl<B: Backend> SelfAttention<B> {
    fn new(dim: usize, heads: usize, device: &B::Device) -> Self {
        let lin = || Linear::new(dim, dim, true, device);
        SelfAttention {
            query: lin(),
            key: lin(),
            value: lin(),
            output: lin(),
            heads,
        }
    }

    /// `[N, T, D]` to `[N, T, D]`: `softmax(Q K^T / sqrt(d_head)) V` per head.
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [n, t, d] = x.dims();
        let dh = d / self.heads;
        let split = |y: Tensor<B, 3>| y.reshape([n, t, self.heads, dh]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let scores = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt();
        let mixed = softmax(scores, 3).matmul(v);
        self.output
            .forward(mixed.swap_dims(1, 2).reshape([n, t, d]))
    }
}

/// Pre-norm encoder block: `x + attn(ln(x))`, then `x + mlp(ln(x))`.
#[derive(Module, Debug)]
pub struct EncoderBlock<B: Backend> {
    /// Norm before attention.
    pub norm1: LayerNorm<B>,
    /// Self-attention.
    pub attention: SelfAttention<B>,
    /// Norm before the MLP.
    pub norm2: LayerNorm<B>,
    /// MLP expansion.
    pub mlp_in: Linear<B>,
    /// MLP projection back.
    pub mlp_out: Linear<B>,
}

impl<B: Backend> EncoderBlock<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.attention.forward(self.norm1.forward(x));
        let h = Activation::Gelu.apply(self.mlp_in.forward(self.norm2.forward(x.clone())));
        x + self.mlp_out.forward(h)
    }
}

/// Patch-embedding Transformer encoder with mean pooling.
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    /// `patch x patch` convolution with stride `patch`: one token per patch.
    pub patch_embed: Conv2d<B>,
    /// Learned position embedding, `[tokens, dim]`.
    pub position: Param<Tensor<B, 2>>,
    /// Encoder blocks.
    pub blocks: Vec<EncoderBlock<B>>,
    /// Final norm.
    pub norm: LayerNorm<B>,
    /// Classifier over the mean token.
    pub head: Linear<B>,
}

impl<B: Backend> Transformer<B> {
    /// The network for `channels x h x w` images.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (channels, h, w): (usize, usize, usize),
        patch: usize,
        dim: usize,
        depth: usize,
        heads: usize,
        mlp_dim: usize,
        num_classes: usize,
        device: &B::Device,
    ) -> Self {
        let tokens = (h / patch) * (w / patch);
        let blocks = (0..depth)
            .map(|_| EncoderBlock {
                norm1: LayerNormConfig::new(dim).init(device),
                attention: SelfAttention::new(dim, heads, device),
                norm2: LayerNormConfig::new(dim).init(device),
                mlp_in: Linear::new(dim, mlp_dim, true, device),
                mlp_out: Linear::new(mlp_dim, dim, true, device),
            })
            .collect();
        Transformer {
            patch_embed: Conv2dConfig::new([channels, dim], [patch, patch])
                .with_stride([patch, patch])
                .init(device),
            position: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([tokens, dim], device),
            blocks,
            norm: LayerNormConfig::new(dim).init(device),
            head: Linear::new(dim, num_classes, true, device),
        }
    }

    /// Logits `[N, classes]` of images `[N, C, H, W]` (the size the model was built for).
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let patches = self.patch_embed.forward(images);
        let [n, d, ph, pw] = patches.dims();
        let mut x =
            patches.reshape([n, d, ph * pw]).swap_dims(1, 2) + self.position.val().unsqueeze::<3>();
        for block in &self.blocks {
            x = block.forward(x);
        }
        let pooled = self.norm.forward(x).mean_dim(1).reshape([n, d]);
        self.head.forward(pooled)
    }
}
