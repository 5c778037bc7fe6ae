//! What a model is, as data: saved next to every checkpoint so a file can be
//! turned back into the network that wrote it, and compared with what a
//! stage expects before any weight is loaded.

use serde::{Deserialize, Serialize};

use crate::layers::Activation;

/// A model: architecture, input shape and number of classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Architecture and its hyper-parameters.
    pub arch: Arch,
    /// Shape of one input sample.
    pub input: InputSpec,
    /// Number of output logits.
    pub num_classes: usize,
}

/// Architectures hessx knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Arch {
    /// Fully connected network over the flattened image.
    Mlp {
        /// Hidden layer widths, in order (empty: multinomial logistic regression).
        hidden: Vec<usize>,
        /// Non-linearity after each hidden layer.
        activation: Activation,
    },
    /// The course notebook's CNN: conv5-relu-maxpool2-conv5-relu-maxpool2-fc30-relu-fc.
    /// 5 channels per conv. On images smaller than 16 pixels (8x8 digits) the
    /// convolutions use padding 2 ("same") so both pooling stages still fit;
    /// on larger ones no padding, exactly as the notebook (32x32: 5x5x5 = 125 features).
    SmallCnn,
    /// PyHessian's CIFAR ResNet (He et al. 2016, option-B shortcuts).
    ResNet {
        /// 20, 32, 44, 56 (any 6n+2): n basic blocks per stage.
        depth: usize,
        /// PyHessian's `batch_norm_not`: false drops every batch norm.
        batch_norm: bool,
        /// PyHessian's `residual_not`: false drops every shortcut.
        residual: bool,
    },
    /// torchvision's ImageNet ResNet (`torchvision.models.resnet18`, ...; v1.5
    /// bottlenecks), whose `state_dict` loads unchanged.
    TorchResNet {
        /// 18 or 34 (basic blocks), 50, 101 or 152 (bottleneck blocks).
        depth: usize,
        /// Base width: stage `i` has `width * 2^i` planes; torchvision's is 64
        /// ([`crate::torchvision_resnet::TORCHVISION_WIDTH`]), narrower ones keep
        /// the layout at a size tests can afford.
        width: usize,
    },
    /// Small pre-norm Transformer encoder classifier on image patches.
    Transformer {
        /// Patch side in pixels (patches are `patch x patch`, non-overlapping).
        patch: usize,
        /// Token width.
        dim: usize,
        /// Number of encoder blocks.
        depth: usize,
        /// Attention heads (must divide `dim`).
        heads: usize,
        /// Hidden width of each block's MLP.
        mlp_dim: usize,
    },
    /// Small pre-norm Transformer encoder classifier on token sequences
    /// (token and position embeddings, mean pooling).
    SequenceTransformer {
        /// Token width.
        dim: usize,
        /// Number of encoder blocks.
        depth: usize,
        /// Attention heads (must divide `dim`).
        heads: usize,
        /// Hidden width of each block's MLP.
        mlp_dim: usize,
    },
    /// Wide & Deep (Cheng et al. 2016) for tabular data.
    WideDeep {
        /// Width of each categorical field's embedding.
        embed_dim: usize,
        /// Hidden widths of the deep MLP (relu).
        hidden: Vec<usize>,
        /// Hash buckets for the crossed ids of every pair of fields in the wide
        /// part (0: no crosses).
        cross_buckets: usize,
    },
}

/// Shape of one input sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InputSpec {
    /// An image `[channels, height, width]`.
    Image {
        /// Colour channels.
        channels: usize,
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
    /// A row of categorical ids plus dense floats.
    Tabular {
        /// Number of distinct ids of each categorical field.
        cardinalities: Vec<usize>,
        /// Number of dense features.
        num_dense: usize,
    },
    /// A fixed-length row of token ids.
    Tokens {
        /// Number of distinct ids (ids are `0..vocab`).
        vocab: usize,
        /// Tokens per row.
        length: usize,
    },
}

impl InputSpec {
    /// What kind of input this is, for error messages: `images`, `tabular rows` or `token sequences`.
    pub fn kind(&self) -> &'static str {
        match self {
            InputSpec::Image { .. } => "images",
            InputSpec::Tabular { .. } => "tabular rows",
            InputSpec::Tokens { .. } => "token sequences",
        }
    }
}

impl ModelSpec {
    /// Short, file-name-safe name, e.g. `resnet20`, `resnet20-nobn`,
    /// `resnet18` and `resnet50-w16` (torchvision's, at base width 64 and 16),
    /// `mlp-32x16-tanh`, `small-cnn`, `transformer-p4-d32-l2-h4`. A CIFAR ResNet
    /// whose depth torchvision also has (50, 152) is `cifar-resnet50`, so a
    /// name never stands for two models.
    pub fn name(&self) -> String {
        match &self.arch {
            Arch::Mlp { hidden, activation } => {
                let widths: Vec<String> = hidden.iter().map(|h| h.to_string()).collect();
                if widths.is_empty() {
                    "mlp-linear".to_string()
                } else {
                    format!("mlp-{}-{}", widths.join("x"), activation.name())
                }
            }
            Arch::SmallCnn => "small-cnn".to_string(),
            Arch::ResNet {
                depth,
                batch_norm,
                residual,
            } => {
                let mut name = if crate::torchvision_resnet::DEPTHS.contains(depth) {
                    format!("cifar-resnet{depth}")
                } else {
                    format!("resnet{depth}")
                };
                if !batch_norm {
                    name.push_str("-nobn");
                }
                if !residual {
                    name.push_str("-nores");
                }
                name
            }
            Arch::TorchResNet { depth, width } => {
                if *width == crate::torchvision_resnet::TORCHVISION_WIDTH {
                    format!("resnet{depth}")
                } else {
                    format!("resnet{depth}-w{width}")
                }
            }
            Arch::Transformer {
                patch,
                dim,
                depth,
                heads,
                ..
            } => {
                format!("transformer-p{patch}-d{dim}-l{depth}-h{heads}")
            }
            Arch::SequenceTransformer { dim, depth, heads, .. } => {
                format!("seq-transformer-d{dim}-l{depth}-h{heads}")
            }
            Arch::WideDeep {
                embed_dim, hidden, ..
            } => {
                let widths: Vec<String> = hidden.iter().map(|h| h.to_string()).collect();
                format!("wide-deep-e{embed_dim}-{}", widths.join("x"))
            }
        }
    }

    /// Checks that the architecture fits the input; `init` panics on what
    /// this rejects, so stages call it first to report a clean error.
    pub fn validate(&self) -> Result<(), String> {
        if self.num_classes == 0 {
            return Err("num_classes must be at least 1".into());
        }
        let image = match &self.input {
            InputSpec::Image {
                channels,
                height,
                width,
            } => Some((*channels, *height, *width)),
            InputSpec::Tabular { .. } | InputSpec::Tokens { .. } => None,
        };
        let name = self.name();
        let wanted = match &self.arch {
            Arch::WideDeep { .. } => "tabular rows",
            Arch::SequenceTransformer { .. } => "token sequences",
            _ => "images",
        };
        if self.input.kind() != wanted {
            return Err(format!("{name} takes {wanted}, not {}", self.input.kind()));
        }
        match (&self.arch, image) {
            (Arch::SequenceTransformer { dim, depth, heads, mlp_dim }, None) => {
                let InputSpec::Tokens { vocab, length } = &self.input else { unreachable!("checked above") };
                if *vocab == 0 || *length == 0 {
                    Err(format!("{name}: needs a positive vocabulary ({vocab}) and sequence length ({length})"))
                } else {
                    check_encoder(&name, *dim, *depth, *heads, *mlp_dim)
                }
            }
            (Arch::WideDeep { embed_dim, .. }, None) => {
                if *embed_dim == 0 {
                    return Err(format!("{name}: embed_dim must be at least 1"));
                }
                if let InputSpec::Tabular { cardinalities, .. } = &self.input
                    && (cardinalities.is_empty() || cardinalities.contains(&0))
                {
                    return Err(format!(
                        "{name}: needs at least one categorical field, each with a positive cardinality"
                    ));
                }
                Ok(())
            }
            (_, Some((c, h, w))) if c == 0 || h == 0 || w == 0 => {
                Err(format!("{name}: empty image shape {c}x{h}x{w}"))
            }
            (Arch::SmallCnn, Some((_, h, w))) => {
                let (fh, fw) = crate::cnn::feature_size(h, w);
                if fh == 0 || fw == 0 {
                    Err(format!(
                        "{name}: image {h}x{w} is too small for two conv5 + pool2 stages"
                    ))
                } else {
                    Ok(())
                }
            }
            (Arch::ResNet { depth, .. }, _) if *depth < 8 || (*depth - 2) % 6 != 0 => Err(format!(
                "resnet depth must be 6n+2 with n >= 1 (20, 32, 44, 56), got {depth}; torchvision's ResNets are 18, 34, 50, 101 and 152"
            )),
            (Arch::TorchResNet { depth, width }, _) => {
                if crate::torchvision_resnet::stages(*depth).is_none() {
                    Err(format!(
                        "torchvision resnet depth must be one of {:?}, got {depth}",
                        crate::torchvision_resnet::DEPTHS
                    ))
                } else if *width == 0 {
                    Err(format!(
                        "{name}: width must be at least 1 (torchvision's is 64)"
                    ))
                } else {
                    Ok(())
                }
            }
            (
                Arch::Transformer {
                    patch,
                    dim,
                    heads,
                    depth,
                    mlp_dim,
                },
                Some((_, h, w)),
            ) => {
                if *patch == 0 || *patch > h || *patch > w {
                    Err(format!(
                        "{name}: patch {patch} does not fit a {h}x{w} image"
                    ))
                } else {
                    check_encoder(&name, *dim, *depth, *heads, *mlp_dim)
                }
            }
            _ => Ok(()),
        }
    }
}

/// What both Transformers need of their encoder: heads that divide the width, and at least one block and MLP unit.
fn check_encoder(name: &str, dim: usize, depth: usize, heads: usize, mlp_dim: usize) -> Result<(), String> {
    if heads == 0 || dim % heads != 0 {
        Err(format!("{name}: heads ({heads}) must divide dim ({dim})"))
    } else if depth == 0 || mlp_dim == 0 {
        Err(format!("{name}: depth and mlp_dim must be positive"))
    } else {
        Ok(())
    }
}
