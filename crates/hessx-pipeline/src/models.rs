//! Choosing a model by name, and where pretrained weights come from. The
//! input shape always comes from the data, the number of classes too unless
//! `--num-classes` asks for a larger head.

use std::path::{Path, PathBuf};

use hessx_data::{Examples, ImageSet};
use hessx_models::{Activation, Arch, InputSpec, ModelSpec, torchvision_resnet};
use hessx_store::RunDir;
use hessx_store::tables::{CheckpointRow, read_rows};

use crate::batches::Normalization;
use crate::train_config::TrainConfig;
use crate::{Error, Result};

/// A model as a user names it (`hx-train --model resnet20 ...`), before the
/// data fixes its input shape (and, unless `num_classes` says otherwise, its
/// classes).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    /// Architecture: resnet20 (also resnet32/44/56, any 6n+2 as cifar-resnetN),
    /// resnet18/34/50/101/152 (torchvision's), small-cnn, mlp or transformer
    /// on images; wide-deep on tabular rows; transformer on token sequences.
    pub model: String,
    /// CIFAR ResNet depth (6n+2), overriding the number in the model name;
    /// for a Transformer, its number of encoder blocks (default 2).
    pub depth: Option<usize>,
    /// Base width of a torchvision ResNet (64 = torchvision's model).
    pub width: Option<usize>,
    /// Outputs of the classifier head; default the dataset's number of classes.
    pub num_classes: Option<usize>,
    /// Drop every batch norm from the ResNet.
    pub no_batch_norm: bool,
    /// Drop every residual connection from the ResNet.
    pub no_residual: bool,
    /// Hidden widths of the MLP.
    pub hidden: Vec<usize>,
    /// Non-linearity of the MLP: relu, tanh, softplus or gelu.
    pub activation: String,
    /// Width of each categorical field's embedding (Wide&Deep).
    pub embed_dim: usize,
    /// Hash buckets of the wide part's crossed ids (Wide&Deep; 0: no crosses).
    pub cross_buckets: usize,
    /// Token width of a Transformer.
    pub dim: usize,
    /// Attention heads of a Transformer (must divide `dim`).
    pub heads: usize,
}

/// The model names `--model` takes, for error messages.
const MODEL_NAMES: &str = "resnet20, resnet32, resnet44, resnet56 (CIFAR ResNets; any depth 6n+2 as cifar-resnetN), \
     resnet18, resnet34, resnet50, resnet101, resnet152 (torchvision's), small-cnn, mlp or transformer for images; \
     wide-deep for tabular rows; transformer for token sequences";

impl ModelChoice {
    /// The model spec for the examples `data` (images, tabular rows or token sequences).
    pub fn spec(&self, data: &Examples) -> Result<ModelSpec> {
        let name = self.model.to_ascii_lowercase().replace('_', "-");
        match data {
            Examples::Images(images) => self.image_spec(&name, images),
            Examples::Tabular(rows) => {
                if !matches!(name.as_str(), "wide-deep" | "widedeep") {
                    return Err(Error::invalid(format!(
                        "--model {}: the data are tabular rows, which wide-deep takes; the image and sequence models do not",
                        self.model
                    )));
                }
                let arch = Arch::WideDeep { embed_dim: self.embed_dim, hidden: self.hidden.clone(), cross_buckets: self.cross_buckets };
                let input = InputSpec::Tabular { cardinalities: rows.cardinalities.clone(), num_dense: rows.num_dense };
                // One logit with binary cross-entropy, as a click-through model is written in PyTorch.
                self.checked(ModelSpec { arch, input, num_classes: self.num_classes.unwrap_or(1) }, 2)
            }
            Examples::Tokens(tokens) => {
                if name != "transformer" {
                    return Err(Error::invalid(format!(
                        "--model {}: the data are token sequences, which transformer takes; the image and tabular models do not",
                        self.model
                    )));
                }
                let arch = Arch::SequenceTransformer { dim: self.dim, depth: self.depth.unwrap_or(2), heads: self.heads, mlp_dim: 2 * self.dim };
                let input = InputSpec::Tokens { vocab: tokens.vocab, length: tokens.length };
                let classes = self.num_classes.unwrap_or(tokens.num_classes);
                self.checked(ModelSpec { arch, input, num_classes: classes }, tokens.num_classes)
            }
        }
    }

    /// `spec` after checking that its head covers `data_classes` labels and that the architecture fits.
    fn checked(&self, spec: ModelSpec, data_classes: usize) -> Result<ModelSpec> {
        // A single logit is a binary model: it covers labels 0 and 1.
        let covers = if spec.num_classes == 1 { data_classes <= 2 } else { spec.num_classes >= data_classes };
        if !covers {
            return Err(Error::invalid(format!(
                "--num-classes {}: the data has {data_classes} classes (labels 0..{}), so the head needs at least that many outputs",
                spec.num_classes,
                data_classes.saturating_sub(1)
            )));
        }
        spec.validate().map_err(|e| Error::invalid(format!("--model {}: {e}", self.model)))?;
        Ok(spec)
    }

    /// The model spec for images shaped like `data`.
    fn image_spec(&self, name: &str, data: &ImageSet) -> Result<ModelSpec> {
        let [channels, height, width] = data.shape;
        let arch = match name {
            n if n.starts_with("resnet") || n.starts_with("cifar-resnet") => self.resnet(n)?,
            "small-cnn" | "cnn" => Arch::SmallCnn,
            "mlp" => Arch::Mlp { hidden: self.hidden.clone(), activation: parse_activation(&self.activation)? },
            "transformer" => {
                let patch = if height % 4 == 0 && width % 4 == 0 { 4 } else { 2 };
                Arch::Transformer { patch, dim: self.dim, depth: self.depth.unwrap_or(2), heads: self.heads, mlp_dim: 2 * self.dim }
            }
            "wide-deep" | "widedeep" => {
                return Err(Error::invalid(format!(
                    "--model {}: Wide&Deep takes tabular rows, but the data are images \
                     (make tabular data with `hx-fetch ctr` or `hx-fetch table`)",
                    self.model
                )));
            }
            other => {
                return Err(Error::invalid(format!("--model {other}: unknown model; expected {MODEL_NAMES}")));
            }
        };
        if self.width.is_some() && !matches!(arch, Arch::TorchResNet { .. }) {
            return Err(Error::invalid(format!(
                "--width applies to torchvision's ResNets (resnet18/34/50/101/152), not --model {}",
                self.model
            )));
        }
        let num_classes = self.num_classes.unwrap_or(data.num_classes);
        self.checked(ModelSpec { arch, input: InputSpec::Image { channels, height, width }, num_classes }, data.num_classes)
    }

    /// `resnetN`: torchvision's for N in 18, 34, 50, 101, 152, else the CIFAR
    /// ResNet (PyHessian's) of depth N; `cifar-resnetN` and `resnet --depth N`
    /// are always the CIFAR ResNet, so its depths 50 and 152 stay reachable.
    fn resnet(&self, name: &str) -> Result<Arch> {
        let cifar_only = name.starts_with("cifar-");
        let digits = name.trim_start_matches("cifar-").trim_start_matches("resnet");
        let named_depth = match digits {
            "" => None,
            d => Some(d.parse::<usize>().map_err(|_| {
                Error::invalid(format!("--model {}: unknown model; expected {MODEL_NAMES}", self.model))
            })?),
        };
        let torchvision = !cifar_only
            && self.depth.is_none()
            && named_depth.is_some_and(|d| torchvision_resnet::stages(d).is_some());
        if torchvision {
            let depth = named_depth.expect("checked above");
            if self.no_batch_norm || self.no_residual {
                return Err(Error::invalid(format!(
                    "--no-batch-norm and --no-residual apply to the CIFAR ResNet, not torchvision's {name} \
                     (use cifar-resnet{depth} for the CIFAR ResNet of that depth)"
                )));
            }
            let width = self.width.unwrap_or(torchvision_resnet::TORCHVISION_WIDTH);
            return Ok(Arch::TorchResNet { depth, width });
        }
        let depth = self.depth.or(named_depth).unwrap_or(20);
        Ok(Arch::ResNet { depth, batch_norm: !self.no_batch_norm, residual: !self.no_residual })
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

    fn cifar_shaped(num_classes: usize) -> ImageSet {
        ImageSet {
            dataset: "synthetic".into(),
            split: "train".into(),
            corruption: "none".into(),
            severity: 0,
            shape: [3, 32, 32],
            num_classes,
            labels: vec![0],
            pixels: vec![0; 3 * 32 * 32],
        }
    }

    fn choice(model: &str) -> ModelChoice {
        ModelChoice {
            model: model.into(),
            depth: None,
            width: None,
            num_classes: None,
            no_batch_norm: false,
            no_residual: false,
            hidden: vec![],
            activation: "tanh".into(),
            embed_dim: 4,
            cross_buckets: 7,
            dim: 32,
            heads: 4,
        }
    }

    #[test]
    fn resnet_names_pick_torchvision_or_cifar_without_ambiguity() {
        let data = Examples::Images(cifar_shaped(10));
        let arch = |c: ModelChoice| c.spec(&data).map(|s| s.arch);
        assert_eq!(arch(choice("resnet18")).unwrap(), Arch::TorchResNet { depth: 18, width: 64 });
        assert_eq!(arch(choice("ResNet50")).unwrap(), Arch::TorchResNet { depth: 50, width: 64 });
        let cifar = |depth| Arch::ResNet { depth, batch_norm: true, residual: true };
        assert_eq!(arch(choice("resnet20")).unwrap(), cifar(20));
        assert_eq!(arch(choice("resnet")).unwrap(), cifar(20));
        // 50 is 6n+2 too: the CIFAR ResNet of that depth is named, or asked for with --depth.
        assert_eq!(arch(choice("cifar-resnet50")).unwrap(), cifar(50));
        assert_eq!(arch(ModelChoice { depth: Some(50), ..choice("resnet") }).unwrap(), cifar(50));
        let narrow = ModelChoice { width: Some(16), ..choice("resnet50") };
        let spec = narrow.spec(&data).unwrap();
        assert_eq!((spec.arch.clone(), spec.name()), (Arch::TorchResNet { depth: 50, width: 16 }, "resnet50-w16".into()));
        // Errors name the flag and what was expected.
        let err = arch(choice("resnet19")).unwrap_err().to_string();
        assert!(err.contains("6n+2"), "{err}");
        let err = arch(choice("resnet-big")).unwrap_err().to_string();
        assert!(err.contains("--model resnet-big") && err.contains("resnet18") && err.contains("resnet56"), "{err}");
        let err = arch(ModelChoice { width: Some(8), ..choice("resnet20") }).unwrap_err().to_string();
        assert!(err.contains("--width") && err.contains("resnet18"), "{err}");
        let err = arch(ModelChoice { no_batch_norm: true, ..choice("resnet18") }).unwrap_err().to_string();
        assert!(err.contains("--no-batch-norm") && err.contains("cifar-resnet18"), "{err}");
    }

    #[test]
    fn num_classes_sets_the_head_and_must_cover_the_labels() {
        let data = Examples::Images(cifar_shaped(10));
        assert_eq!(choice("resnet18").spec(&data).unwrap().num_classes, 10);
        let wide = ModelChoice { num_classes: Some(100), ..choice("resnet18") };
        assert_eq!(wide.spec(&data).unwrap().num_classes, 100);
        let err = ModelChoice { num_classes: Some(5), ..choice("resnet18") }.spec(&data).unwrap_err().to_string();
        assert!(err.contains("--num-classes 5") && err.contains("10 classes"), "{err}");
    }

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
