//! Choosing a model by name, and where pretrained weights come from. The
//! input shape and number of classes always come from the data.

use std::path::{Path, PathBuf};

use hessx_data::ImageSet;
use hessx_models::{Activation, Arch, InputSpec, ModelSpec};
use hessx_store::RunDir;
use hessx_store::tables::{CheckpointRow, read_rows};

use crate::batches::Normalization;
use crate::train_config::TrainConfig;
use crate::{Error, Result};

/// A model as a user names it (`hx-train --model resnet20 ...`), before the
/// data fixes its input shape and classes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    /// Architecture: resnet20 (also resnet32/44/56), small-cnn, mlp or transformer.
    pub model: String,
    /// ResNet depth (6n+2); overrides the number in the model name.
    pub depth: Option<usize>,
    /// Drop every batch norm from the ResNet.
    pub no_batch_norm: bool,
    /// Drop every residual connection from the ResNet.
    pub no_residual: bool,
    /// Hidden widths of the MLP.
    pub hidden: Vec<usize>,
    /// Non-linearity of the MLP: relu, tanh, softplus or gelu.
    pub activation: String,
}

impl ModelChoice {
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
            "wide-deep" | "widedeep" => {
                return Err(Error::invalid(format!(
                    "--model {}: Wide&Deep takes tabular click-through data; hx-train trains image models \
                     (use hx-fetch ctr and the hessx-models API for Wide&Deep)",
                    self.model
                )));
            }
            other => {
                return Err(Error::invalid(format!(
                    "--model {other}: unknown model; expected resnet20, resnet32, resnet44, resnet56, small-cnn, mlp or transformer"
                )));
            }
        };
        let spec = ModelSpec { arch, input: InputSpec::Image { channels, height, width }, num_classes: data.num_classes };
        spec.validate().map_err(|e| Error::invalid(format!("--model {}: {e}", self.model)))?;
        Ok(spec)
    }
}

fn parse_activation(name: &str) -> Result<Activation> {
    Ok(match name {
        "relu" => Activation::Relu,
        "tanh" => Activation::Tanh,
        "softplus" => Activation::Softplus,
        "gelu" => Activation::Gelu,
        other => return Err(Error::invalid(format!("--activation {other}: expected relu, tanh, softplus or gelu"))),
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
        return Err(Error::invalid(format!(
            "--init {}: a directory must be a training run, but {} is missing",
            path.display(),
            run.checkpoints().display()
        )));
    }
    let rows: Vec<CheckpointRow> = read_rows(&run.checkpoints())?;
    match rows.last() {
        Some(last) => Ok(run.root().join(&last.file)),
        None => Err(Error::invalid(format!("--init {}: the run has no checkpoints yet", path.display()))),
    }
}

/// The normalisation the weights at `init` were trained with, when they come
/// from a hessx run (the run directory, or a checkpoint inside it); `None`
/// for weights from elsewhere (a PyTorch file, a lone checkpoint). A run
/// whose saved training settings cannot be read is an error: guessing would
/// silently feed the weights differently scaled inputs.
pub fn normalization_of_init(init: &Path) -> Result<Option<Normalization>> {
    let run = if init.is_dir() { Some(RunDir::new(init)) } else { RunDir::of_checkpoint(init) };
    let Some(run) = run.filter(|r| r.checkpoints().exists()) else {
        return Ok(None);
    };
    let config = run.stage_config("train");
    let cfg: TrainConfig = crate::config::load_stage_config(&config).map_err(|e| Error::Config {
        path: config.clone(),
        message: format!(
            "--init {} comes from this run, but its training settings cannot be read ({e}); they say how inputs \
             were normalised. Restore the file, or pass the checkpoint from outside the run directory to use \
             the dataset's own normalisation",
            init.display()
        ),
    })?;
    Ok(Some(cfg.normalization))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_init_run_without_readable_settings_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("pre"));
        hessx_store::write_bytes_atomic(&run.checkpoints(), b"not read here").unwrap();
        let err = normalization_of_init(run.root()).unwrap_err().to_string();
        assert!(err.contains("train.toml") && err.contains("--init"), "{err}");
        hessx_store::write_bytes_atomic(&run.stage_config("train"), b"epochs = 'many'").unwrap();
        let err = normalization_of_init(&run.checkpoint_model(0)).unwrap_err().to_string();
        assert!(err.contains("cannot be read"), "{err}");
        // Weights from outside a run: no saved normalisation, and that is fine.
        assert_eq!(normalization_of_init(&dir.path().join("resnet20.pkl")).unwrap(), None);
    }
}
