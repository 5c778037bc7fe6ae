//! The command-line flags the stage binaries share, and their resolution into
//! the plain settings of `hessx-pipeline` (parse here, resolve here, compute
//! there: no clap type goes below the binaries).
//!
//! ```ignore
//! #[derive(clap::Parser)]
//! struct Cli { #[command(flatten)] hessian: hessx_flags::HessianFlags, /* stage flags */ }
//! let ctx = cli.hessian.open()?;                       // the run, its data and checkpoints
//! let settings = EigenSettings { hessian: cli.hessian.resolve(&ctx), /* .. */ };
//! run_eigen::<B>(&ctx, &settings, cli.hessian.redo(), &device)?;
//! ```
#![deny(missing_docs)]

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use hessx_pipeline::backend::BackendKind;
use hessx_pipeline::curvature::{CheckpointSelection, RunContext};
use hessx_pipeline::models::ModelChoice;
use hessx_pipeline::provenance::Redo;
use hessx_pipeline::settings::{DataSettings, Dtype, HessianBnMode, HessianSettings};
use hessx_store::{DataDir, RunDir};

/// A flag value parser for a vocabulary of `names` that parse as `T`; `--help`
/// lists the names.
pub fn names<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names.iter().copied()).map(|s| s.parse::<T>().unwrap_or_else(|_| unreachable!("`{s}` is a listed name")))
}

/// The parser of `--backend`: flex (alias cpu), libtorch (alias tch) or cuda.
pub fn backend() -> impl TypedValueParser<Value = BackendKind> {
    PossibleValuesParser::new([
        PossibleValue::new("flex").alias("cpu").help("burn's pure-Rust CPU backend (default)"),
        PossibleValue::new("libtorch").alias("tch").help("PyTorch's CPU kernels (cargo feature `tch`)"),
        PossibleValue::new("cuda").help("burn's CUDA backend (cargo feature `cuda`)"),
    ])
    .map(|s| s.parse::<BackendKind>().unwrap_or_else(|_| unreachable!("`{s}` is a listed backend")))
}

/// Value parser of a float flag that must be a finite number (clap's message
/// names the flag: `invalid value 'nan' for '--lr <LR>': ...`).
pub fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("expected a number, got `{s}`"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("must be a finite number, got `{s}`")) }
}

/// Value parser of a float flag that must be finite and greater than 0.
pub fn positive(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v > 0.0 { Ok(v) } else { Err(format!("must be greater than 0, got {v}")) }
}

/// Value parser of a float flag that must be finite and at least 0.
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v >= 0.0 { Ok(v) } else { Err(format!("must be 0 or more, got {v}")) }
}

/// Value parser of a fraction in [0, 1) (momentum, a held-out share).
pub fn fraction(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if (0.0..1.0).contains(&v) { Ok(v) } else { Err(format!("must be in [0, 1), got {v}")) }
}

/// Value parser of a count that must be at least `min`.
pub fn at_least(min: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let v: usize = s.trim().parse().map_err(|_| format!("expected a whole number of at least {min}, got `{s}`"))?;
        if v >= min { Ok(v) } else { Err(format!("must be at least {min}, got {v}")) }
    }
}

/// Value parser of a count that must be at least 1 (sizes, budgets, iterations).
pub fn count(s: &str) -> Result<usize, String> {
    at_least(1)(s)
}

/// Flags shared by the curvature stages: which run, which checkpoints, which
/// loss and which parameters.
#[derive(clap::Args, Debug, Clone)]
pub struct HessianFlags {
    /// Training run directory (written by hx-train).
    #[arg(long)]
    pub run: PathBuf,
    /// Directory holding the datasets written by hx-fetch.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Examples in the batch the Hessian is taken on (PyHessian's default 200).
    #[arg(long, default_value_t = 200, value_parser = count)]
    pub hessian_batch_size: usize,
    /// Take the Hessian of the mean loss over the whole training split instead of one batch.
    #[arg(long)]
    pub full_dataset: bool,
    /// Examples per forward pass (the loss is the size-weighted mean over them).
    #[arg(long, default_value_t = 200, value_parser = count)]
    pub mini_hessian_batch_size: usize,
    /// Batch-norm mode of the loss: eval (running statistics, as PyHessian) or train (batch statistics).
    #[arg(long, default_value = "eval", value_parser = names::<HessianBnMode>(&["eval", "train"]))]
    pub bn_mode: HessianBnMode,
    /// Restrict the Hessian to parameters whose path starts with one of these
    /// prefixes (comma separated, e.g. `layer3` or `fc`; a `*` segment matches
    /// any one, e.g. `blocks.*.attention`); default all.
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// After the whole model (or --params), the same computation for each of
    /// these parameter blocks, one Hessian per block (its diagonal block of the
    /// full Hessian), recorded with the block as its `params` setting and drawn
    /// side by side by hx-analyze. Repeat the flag per block; a block is a
    /// comma-separated list of patterns as --params takes. `auto`: the family's
    /// blocks (Wide&Deep: embedding, wide, deep; Transformers: embeddings,
    /// blocks.*.attention, blocks.*.mlp, head; ResNets: stem, stages, fc).
    #[arg(long = "blocks", value_name = "PATTERNS")]
    pub blocks: Vec<String>,
    /// Leave out biases and batch-norm parameters (loss-landscape's `--xignore biasbn`).
    #[arg(long)]
    pub ignore_biasbn: bool,
    /// Only these checkpoint steps (comma separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub steps: Vec<i64>,
    /// Only every N-th checkpoint (the first and last are always included).
    #[arg(long, default_value_t = 1, value_parser = count)]
    pub every: usize,
    /// Seed of the Hessian batch and of the random vectors.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Compute backend.
    #[arg(long, alias = "device", default_value = "flex", value_parser = backend())]
    pub backend: BackendKind,
    /// Recompute the selected checkpoints even when results with these settings
    /// exist, and drop what earlier settings of the same method wrote for them
    /// (by default new settings add rows beside the old ones).
    #[arg(long)]
    pub replace: bool,
}

impl HessianFlags {
    /// Open the run: its training settings, data and selected checkpoints.
    pub fn open(&self) -> hessx_pipeline::Result<RunContext> {
        let selection = CheckpointSelection { steps: self.steps.clone(), every: self.every };
        RunContext::open(&RunDir::new(&self.run), &DataDir::new(&self.data_dir), &selection)
    }

    /// The Hessian's settings for the opened run `ctx`.
    pub fn resolve(&self, ctx: &RunContext) -> HessianSettings {
        HessianSettings {
            data: DataSettings::of(&ctx.train),
            batch_size: (!self.full_dataset).then_some(self.hessian_batch_size),
            mini_batch_size: self.mini_hessian_batch_size,
            bn_mode: self.bn_mode,
            params: self.params.clone(),
            ignore_biasbn: self.ignore_biasbn,
            seed: self.seed,
            backend: self.backend,
            dtype: Dtype::F32,
        }
        .normalized()
    }

    /// The Hessian settings of each of `--blocks` (none when not given).
    pub fn resolve_blocks(&self, ctx: &RunContext) -> hessx_pipeline::Result<Vec<HessianSettings>> {
        hessx_pipeline::curvature::block_settings(ctx, &self.resolve(ctx), &self.blocks)
    }

    /// What to do with checkpoints that already have results.
    pub fn redo(&self) -> Redo {
        if self.replace { Redo::Replace } else { Redo::Skip }
    }
}

/// Model flags of the stages that build a model.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelFlags {
    /// Architecture. Images: resnet20 (also resnet32/44/56: PyHessian's CIFAR ResNet; any depth 6n+2
    /// as cifar-resnetN), resnet18, resnet34, resnet50, resnet101, resnet152 (torchvision's ImageNet
    /// ResNets, whose state_dicts --init loads unchanged), small-cnn, mlp or transformer (ViT-style).
    /// Tabular rows (hx-fetch ctr / table): wide-deep. Token sequences (hx-fetch sequences): transformer.
    #[arg(long, default_value = "resnet20")]
    pub model: String,
    /// CIFAR ResNet depth (6n+2); overrides the number in the model name (so `--model resnet --depth
    /// 50` is the CIFAR ResNet of depth 50, `--model resnet50` torchvision's). For a transformer: its
    /// number of encoder blocks (default 2).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Base width of a torchvision ResNet: stage i has width * 2^i planes (torchvision: 64).
    #[arg(long, value_parser = count)]
    pub width: Option<usize>,
    /// Outputs of the classifier head (torchvision's num_classes; `fc` for the ResNets). Default: the
    /// dataset's number of classes; a larger head fits a checkpoint trained with more classes.
    #[arg(long, value_parser = count)]
    pub num_classes: Option<usize>,
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
    /// Width of each categorical field's embedding (wide-deep).
    #[arg(long, default_value_t = 8, value_parser = count)]
    pub embed_dim: usize,
    /// Hash buckets for the wide part's crossed ids of every pair of fields (wide-deep; 0: no crosses).
    #[arg(long, default_value_t = 1000)]
    pub cross_buckets: usize,
    /// Token width of a transformer (its MLPs are twice as wide).
    #[arg(long, default_value_t = 32, value_parser = count)]
    pub dim: usize,
    /// Attention heads of a transformer (must divide --dim).
    #[arg(long, default_value_t = 4, value_parser = count)]
    pub heads: usize,
}

impl ModelFlags {
    /// The model as named on the command line.
    pub fn resolve(&self) -> ModelChoice {
        ModelChoice {
            model: self.model.clone(),
            depth: self.depth,
            width: self.width,
            num_classes: self.num_classes,
            no_batch_norm: self.no_batch_norm,
            no_residual: self.no_residual,
            hidden: self.hidden.clone(),
            activation: self.activation.clone(),
            embed_dim: self.embed_dim,
            cross_buckets: self.cross_buckets,
            dim: self.dim,
            heads: self.heads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        hessian: HessianFlags,
    }

    #[test]
    fn vocabularies_and_aliases_parse_and_unknown_values_name_the_choices() {
        let cli = Cli::try_parse_from(["x", "--run", "r", "--backend", "tch", "--bn-mode", "train"]).unwrap();
        assert_eq!(cli.hessian.backend, BackendKind::Libtorch);
        assert_eq!(cli.hessian.bn_mode, HessianBnMode::Train);
        assert_eq!(cli.hessian.redo(), Redo::Skip);
        let err = Cli::try_parse_from(["x", "--run", "r", "--backend", "tpu"]).err().unwrap().to_string();
        assert!(err.contains("tpu") && err.contains("flex") && err.contains("libtorch"), "{err}");
    }

    #[test]
    fn numeric_parsers_accept_their_range_and_name_it_otherwise() {
        assert_eq!(positive("0.1"), Ok(0.1));
        assert_eq!(non_negative("0"), Ok(0.0));
        assert_eq!(fraction("0.9"), Ok(0.9));
        assert_eq!(count("3"), Ok(3));
        assert_eq!(at_least(2)("2"), Ok(2));
        for (parsed, says) in [
            (positive("-0.1"), "greater than 0"),
            (positive("0"), "greater than 0"),
            (positive("nan"), "finite"),
            (finite("inf"), "finite"),
            (non_negative("-1e-9"), "0 or more"),
            (fraction("1"), "[0, 1)"),
            (fraction("-0.5"), "[0, 1)"),
            (positive("fast"), "expected a number"),
        ] {
            assert!(parsed.as_ref().is_err_and(|e| e.contains(says)), "{parsed:?} should say `{says}`");
        }
        assert!(count("0").is_err_and(|e| e.contains("at least 1")));
        assert!(at_least(2)("1").is_err_and(|e| e.contains("at least 2")));
        assert!(count("-3").is_err_and(|e| e.contains("whole number")));
    }

    #[test]
    fn zero_sizes_are_refused_naming_the_flag() {
        for flag in ["--hessian-batch-size", "--mini-hessian-batch-size", "--every"] {
            let err = Cli::try_parse_from(["x", "--run", "r", flag, "0"]).err().unwrap().to_string();
            assert!(err.contains(flag) && err.contains("at least 1"), "{err}");
        }
    }
}
