//! Small pre-norm Transformer encoder classifiers showing that the curvature
//! engine is not CNN-only: [`Transformer`] (ViT-style, patch embedding by a
//! strided convolution) on images and [`SequenceTransformer`] (token
//! embedding by `select`, as Wide&Deep's tables) on token sequences. Both:
//! learned position embedding, multi-head self-attention from
//! matmul + softmax, layer norm, an erf-GELU MLP, mean pooling over tokens and
//! a linear classifier. Every op second-differentiates in burn 0.21
//! (`nn::attention::MultiHeadAttention` does not: it uses `nn::Linear`).

use burn::module::{Initializer, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Int, Tensor, activation::softmax, backend::Backend};

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
        Transformer {
            patch_embed: Conv2dConfig::new([channels, dim], [patch, patch])
                .with_stride([patch, patch])
                .init(device),
            position: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([tokens, dim], device),
            blocks: encoder_blocks(dim, depth, heads, mlp_dim, device),
            norm: LayerNormConfig::new(dim).init(device),
            head: Linear::new(dim, num_classes, true, device),
        }
    }

    /// Logits `[N, classes]` of images `[N, C, H, W]` (the size the model was built for).
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let patches = self.patch_embed.forward(images);
        let [n, d, ph, pw] = patches.dims();
        let x = patches.reshape([n, d, ph * pw]).swap_dims(1, 2) + self.position.val().unsqueeze::<3>();
        self.head.forward(encode(&self.blocks, &self.norm, x))
    }
}

/// `depth` encoder blocks of width `dim`.
fn encoder_blocks<B: Backend>(dim: usize, depth: usize, heads: usize, mlp_dim: usize, device: &B::Device) -> Vec<EncoderBlock<B>> {
    (0..depth)
        .map(|_| EncoderBlock {
            norm1: LayerNormConfig::new(dim).init(device),
            attention: SelfAttention::new(dim, heads, device),
            norm2: LayerNormConfig::new(dim).init(device),
            mlp_in: Linear::new(dim, mlp_dim, true, device),
            mlp_out: Linear::new(mlp_dim, dim, true, device),
        })
        .collect()
}

/// Tokens `[N, T, D]` through the blocks and the final norm, mean-pooled to `[N, D]`.
fn encode<B: Backend>(blocks: &[EncoderBlock<B>], norm: &LayerNorm<B>, mut x: Tensor<B, 3>) -> Tensor<B, 2> {
    let [n, _, d] = x.dims();
    for block in blocks {
        x = block.forward(x);
    }
    norm.forward(x).mean_dim(1).reshape([n, d])
}

/// Token-embedding Transformer encoder with mean pooling, for fixed-length
/// sequences of ids below `vocab`.
#[derive(Module, Debug)]
pub struct SequenceTransformer<B: Backend> {
    /// Token embedding table, `[vocab, dim]`.
    pub token_embedding: Param<Tensor<B, 2>>,
    /// Learned position embedding, `[length, dim]`.
    pub position: Param<Tensor<B, 2>>,
    /// Encoder blocks.
    pub blocks: Vec<EncoderBlock<B>>,
    /// Final norm.
    pub norm: LayerNorm<B>,
    /// Classifier over the mean token.
    pub head: Linear<B>,
}

impl<B: Backend> SequenceTransformer<B> {
    /// The network for sequences of `length` ids below `vocab`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (vocab, length): (usize, usize),
        dim: usize,
        depth: usize,
        heads: usize,
        mlp_dim: usize,
        num_classes: usize,
        device: &B::Device,
    ) -> Self {
        let normal = |std| Initializer::Normal { mean: 0.0, std };
        SequenceTransformer {
            token_embedding: normal(1.0).init([vocab, dim], device),
            position: normal(0.02).init([length, dim], device),
            blocks: encoder_blocks(dim, depth, heads, mlp_dim, device),
            norm: LayerNormConfig::new(dim).init(device),
            head: Linear::new(dim, num_classes, true, device),
        }
    }

    /// Logits `[N, classes]` of token ids `[N, T]` (T the length the model was built for).
    ///
    /// # Panics
    /// If an id is not below the vocabulary size (a silent out-of-range
    /// `select` would read another row or garbage).
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [n, t] = tokens.dims();
        let [vocab, d] = self.token_embedding.dims();
        let ids: Vec<i64> = tokens.clone().into_data().convert::<i64>().to_vec().expect("token ids should be integers");
        if let Some(bad) = ids.iter().find(|&&id| id < 0 || id as usize >= vocab) {
            panic!("sequence transformer: token id {bad} is outside 0..{vocab}");
        }
        let x = self.token_embedding.val().select(0, tokens.reshape([n * t])).reshape([n, t, d]);
        let x = x + self.position.val().unsqueeze::<3>();
        self.head.forward(encode(&self.blocks, &self.norm, x))
    }
}
