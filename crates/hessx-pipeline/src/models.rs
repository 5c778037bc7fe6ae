//! Choosing a model on the command line, and where pretrained weights come
//! from. The input shape and number of classes always come from the data.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use hessx_data::ImageSet;
use hessx_models::{Activation, Arch, InputSpec, ModelSpec};
use hessx_store::RunDir;
use hessx_store::tables::{CheckpointRow, read_rows};

use crate::batches::Normalization;
use crate::train::TrainConfig;

/// Model flags shared by the stages that build a model.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Architecture: resnet20 (also resnet32/44/56), small-cnn, mlp or transformer.
    #[arg(long, default_value = "resnet20")]
    pub model: String,
    /// ResNet depth (6n+2); overrides the number in the model name.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Drop every batch norm from the ResNet (PyHessian's --batch-norm off).
    #[arg(long)]
    pub no_batch_norm: bool,
    /// Drop every residual connection from the ResNet (PyHessian's --residual off).
    #[arg(long)]
    pub no_residual: bool,
    /// Hidden widths of the MLP, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [32, 16])]
    pub hidden: Vec<usize>,
    /// Non-linearity of the MLP: relu, tanh, softplus or gelu.
    #[arg(long, default_value = "tanh")]
    pub activation: String,
}

impl ModelArgs {
    /// The model spec for images shaped like `data`.
    pub fn spec(&self, data: &ImageSet) -> Result<ModelSpec> {
        let [channels, height, width] = data.shape;
        let name = self.model.to_ascii_lowercase().replace('_', "-");
        let arch = match name.as_str() {
            n if n.starts_with("resnet") => {
                let depth = match (self.depth, n.trim_start_matches("resnet").parse::<usize>()) {
                    (Some(d), _) => d,
                    (None, Ok(d)) => d,
                    (None, Err(_)) => 20,
                };
                Arch::ResNet { depth, batch_norm: !self.no_batch_norm, residual: !self.no_residual }
            }
            "small-cnn" | "cnn" => Arch::SmallCnn,
            "mlp" => Arch::Mlp { hidden: self.hidden.clone(), activation: parse_activation(&self.activation)? },
            "transformer" => {
                let patch = if height % 4 == 0 && width % 4 == 0 { 4 } else { 2 };
                Arch::Transformer { patch, dim: 32, depth: 2, heads: 4, mlp_dim: 64 }
            }
            "wide-deep" | "widedeep" => bail!(
                "--model {}: Wide&Deep takes tabular click-through data; hx-train trains image models \
                 (use hx-fetch ctr and the hessx-models API for Wide&Deep)",
                self.model
            ),
            other => bail!("--model {other}: unknown model; expected resnet20, resnet32, resnet44, resnet56, small-cnn, mlp or transformer"),
        };
        let spec = ModelSpec { arch, input: InputSpec::Image { channels, height, width }, num_classes: data.num_classes };
        spec.validate().map_err(|e| anyhow::anyhow!("--model {}: {e}", self.model))?;
        Ok(spec)
    }
}

fn parse_activation(name: &str) -> Result<Activation> {
    Ok(match name {
        "relu" => Activation::Relu,
        "tanh" => Activation::Tanh,
        "softplus" => Activation::Softplus,
        "gelu" => Activation::Gelu,
        other => bail!("--activation {other}: expected relu, tanh, softplus or gelu"),
    })
}

/// `--init` may name a checkpoint file or a whole run directory, which
/// stands for its last checkpoint.
pub fn resolve_init(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_owned());
    }
    let run = RunDir::new(path);
    if !run.checkpoints().exists() {
        bail!("--init {}: a directory must be a training run with checkpoints.parquet", path.display());
    }
    let rows: Vec<CheckpointRow> = read_rows(&run.checkpoints())?;
    match rows.last() {
        Some(last) => Ok(run.root().join(&last.file)),
        None => bail!("--init {}: the run has no checkpoints yet", path.display()),
    }
}

/// The normalisation the weights at `init` were trained with, when they come
/// from a hessx run (a checkpoint inside it, or the run directory).
pub fn normalization_of_init(init: &Path) -> Option<Normalization> {
    let run_root = if init.is_dir() { init.to_owned() } else { init.parent()?.parent()?.to_owned() };
    let config = RunDir::new(run_root).stage_config("train");
    let cfg: TrainConfig = crate::config::load_stage_config(&config).ok()?;
    Some(cfg.normalization)
}
