//! The resolved settings of the curvature stages, and their fingerprints.
//!
//! A stage binary turns its flags into one of these plain values (no clap
//! here) and hands it to [`run_eigen`](crate::eigen::run_eigen) or
//! [`run_spectrum`](crate::spectrum::run_spectrum). A settings value names
//! everything that changes the numbers: the data and model of the run, the
//! Hessian's batch, parameter group and batch-norm mode, the method, its
//! tolerances and budgets, the seed, backend and dtype. Which checkpoints to
//! visit is not part of it: the step is a column of every row.
//!
//! The fingerprint ([`fingerprint`]) is the first 12 hex digits of the
//! SHA-256 of the settings' JSON (fields in declaration order, so it is
//! stable across runs and machines). Every row a stage writes carries it as
//! `settings_id`; `settings.parquet` maps it back to the full settings. New
//! fields change every fingerprint, so add them only when they change numbers.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use hessx_store::{DensityRule, DensityWeights, EigenMethod, Stage, TraceMethod, Which};

use crate::backend::BackendKind;
use crate::batches::Normalization;
use crate::train_config::TrainConfig;
use crate::{Error, Result};

/// Batch-norm mode of the loss whose Hessian is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HessianBnMode {
    /// Running statistics, as PyHessian (`model.eval()`).
    #[default]
    Eval,
    /// Batch statistics (running statistics left untouched).
    Train,
}

impl std::str::FromStr for HessianBnMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "eval" => Ok(HessianBnMode::Eval),
            "train" => Ok(HessianBnMode::Train),
            other => Err(format!("`{other}` is not a batch-norm mode; expected eval or train")),
        }
    }
}

impl HessianBnMode {
    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            HessianBnMode::Eval => "eval",
            HessianBnMode::Train => "train",
        }
    }
}

/// Floating-point type of the Hessian-vector products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats (what the stage binaries compute in).
    #[default]
    F32,
}

/// The data and model a run's checkpoints are evaluated on, from its
/// training settings (`config/train.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSettings {
    /// The model's name (architecture and sizes).
    pub model: String,
    /// Dataset.
    pub dataset: String,
    /// Corruption (`none` for clean data).
    pub corruption: String,
    /// Corruption severity (0 for clean data).
    pub severity: u8,
    /// The split the Hessian's examples come from.
    pub split: String,
    /// Fraction of a test-only corrupted set held out of that split.
    pub heldout_fraction: f64,
    /// Seed of that hold-out.
    pub split_seed: u64,
    /// Input normalisation.
    pub normalization: Normalization,
}

impl DataSettings {
    /// The data of the run trained with `train`.
    pub fn of(train: &TrainConfig) -> Self {
        DataSettings {
            model: train.model.name(),
            dataset: train.identity.dataset.clone(),
            corruption: train.identity.corruption.clone(),
            severity: train.identity.severity,
            split: "train".into(),
            heldout_fraction: train.heldout_fraction,
            split_seed: train.seed,
            normalization: train.normalization.clone(),
        }
    }
}

/// Which Hessian: of which loss, over which examples and parameters, computed how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HessianSettings {
    /// Data and model.
    pub data: DataSettings,
    /// Examples in the fixed, seeded batch (PyHessian's 200); `None`: the whole split.
    pub batch_size: Option<usize>,
    /// Examples per forward pass; the loss is the size-weighted mean over them.
    pub mini_batch_size: usize,
    /// Batch-norm mode of the loss.
    pub bn_mode: HessianBnMode,
    /// Parameter path prefixes the Hessian is restricted to, sorted (empty: all).
    pub params: Vec<String>,
    /// Leave out biases and batch-norm parameters.
    pub ignore_biasbn: bool,
    /// Seed of the batch and of the random vectors.
    pub seed: u64,
    /// Compute backend.
    pub backend: BackendKind,
    /// Floating-point type of the products.
    pub dtype: Dtype,
}

impl HessianSettings {
    /// Sort and de-duplicate `params`, so that `--params b,a` and `--params a,b` are one setting.
    pub fn normalized(mut self) -> Self {
        self.params.sort();
        self.params.dedup();
        self
    }

    fn validate(&self) -> Result<()> {
        if self.batch_size == Some(0) {
            return Err(Error::invalid("--hessian-batch-size must be at least 1"));
        }
        if self.mini_batch_size == 0 {
            return Err(Error::invalid("--mini-hessian-batch-size must be at least 1"));
        }
        Ok(())
    }

    /// The parameter group as one string: `all`, or the prefixes joined by commas.
    pub fn params_label(&self) -> String {
        let mut label = if self.params.is_empty() { "all".to_owned() } else { self.params.join(",") };
        if self.ignore_biasbn {
            label.push_str(" without bias/bn");
        }
        label
    }
}

/// Everything that determines `hx-eigen`'s numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EigenSettings {
    /// The Hessian.
    pub hessian: HessianSettings,
    /// The solver.
    pub method: EigenMethod,
    /// Number of top eigenpairs.
    pub top_k: usize,
    /// Lanczos: `residual <= tol * |lambda|`; power: relative change of the eigenvalue.
    pub tol: f64,
    /// Lanczos: maximum Krylov steps; power: maximum products per eigenpair.
    pub max_iter: usize,
    /// Which end(s) of the spectrum (`--which`). Default `largest`, and then left out of the JSON the
    /// fingerprint hashes, so settings from before this field keep their fingerprints (issue 18).
    #[serde(default, skip_serializing_if = "is_largest")]
    pub which: Which,
}

fn is_largest(which: &Which) -> bool {
    *which == Which::Largest
}

/// The engine's name for a stage's `--density-weights` (hx-spectrum's and hx-robustness's).
pub fn engine_weights(weights: DensityWeights) -> hessx_hessian::DensityWeights {
    match weights {
        DensityWeights::Plain => hessx_hessian::DensityWeights::Plain,
        DensityWeights::Deflated => hessx_hessian::DensityWeights::Deflated,
    }
}

/// The engine's name for `hx-spectrum`'s `--density-rule`.
pub fn engine_rule(rule: DensityRule) -> hessx_hessian::DensityRule {
    match rule {
        DensityRule::Gauss => hessx_hessian::DensityRule::Gauss,
        DensityRule::RadauZero => hessx_hessian::DensityRule::RadauZero,
    }
}

/// Refuse a `--which` the method cannot compute: power iteration with
/// deflation converges to the largest |eigenvalue|, so it takes `largest`
/// (the default, whose rows it labels `magnitude`, what they are) or
/// `magnitude`, never the bottom end. Checked when the flags
/// are resolved, before any run directory is opened.
pub fn check_which(method: EigenMethod, which: Which) -> Result<()> {
    if method == EigenMethod::Power && matches!(which, Which::Smallest | Which::Both) {
        return Err(Error::invalid(format!(
            "--which {which} needs --method lanczos: --method power (iteration with deflation) converges to the \
             largest |eigenvalue|, so it supports only --which largest or --which magnitude"
        )));
    }
    Ok(())
}

impl EigenSettings {
    /// The fingerprint of these settings.
    pub fn id(&self) -> String {
        fingerprint(Stage::Eigen, self)
    }

    /// Refuse settings that cannot work, naming the flag.
    pub fn validate(&self) -> Result<()> {
        self.hessian.validate()?;
        if self.top_k == 0 {
            return Err(Error::invalid("--top-k must be at least 1"));
        }
        if self.method == EigenMethod::OnePass {
            return Err(Error::invalid("--method one-pass: one-pass eigenpairs come from hx-spectrum --one-pass"));
        }
        check_which(self.method, self.which)?;
        if !(self.tol > 0.0) || self.max_iter == 0 {
            return Err(Error::invalid("--tol must be positive and --max-iter at least 1"));
        }
        Ok(())
    }
}

/// Default probes of the one-pass trace: the fewest with which its stopping rule counts it converged.
pub const ONE_PASS_TRACE_PROBES: usize = hessx_hessian::MIN_TRACE_PROBES;

/// Top eigenpairs taken from the first quadrature run of `hx-spectrum`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnePassSettings {
    /// Number of eigenpairs.
    pub top_k: usize,
    /// Convergence test `residual <= tol * |lambda|`.
    pub tol: f64,
    /// Probes (one product each) of the Krylov-deflated trace on the complement of the first run's
    /// Krylov space.
    pub trace_probes: usize,
    /// Steps the first run may take in all, past `iter`, until the eigenpairs meet `tol`
    /// (`hessx_hessian::OnePassConfig::max_iter`). Runs from before the field took exactly `iter`
    /// (`None`); it is left out of the fingerprinted JSON then, so their fingerprints stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iter: Option<usize>,
}

/// Everything that determines `hx-spectrum`'s numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectrumSettings {
    /// The Hessian.
    pub hessian: HessianSettings,
    /// Lanczos steps per quadrature run (PyHessian's `iter`).
    pub iter: usize,
    /// Quadrature runs (PyHessian's `n_v`).
    pub n_v: usize,
    /// Grid points of the density.
    pub num_bins: usize,
    /// Kernel variance per unit of spectrum width (PyHessian's `sigma_squared`).
    pub sigma_squared: f64,
    /// The density's weights (`--density-weights`). `plain` is left out of the JSON the fingerprint
    /// hashes, so settings from before this field keep their fingerprints.
    #[serde(default, skip_serializing_if = "DensityWeights::is_plain")]
    pub density_weights: DensityWeights,
    /// The density's quadrature rule (`--density-rule`). `gauss` is left out of the JSON the fingerprint
    /// hashes, so settings from before this field keep their fingerprints.
    #[serde(default, skip_serializing_if = "DensityRule::is_gauss")]
    pub density_rule: DensityRule,
    /// Trace estimators, in order, without repeats.
    pub trace: Vec<TraceMethod>,
    /// Product budget of Hutchinson (maximum probes) and Hutch++.
    pub trace_hvps: usize,
    /// Hutchinson stops when its standard error <= `trace_tol * |estimate|`.
    pub trace_tol: f64,
    /// Also report top eigenpairs from the first run.
    pub one_pass: Option<OnePassSettings>,
}

impl SpectrumSettings {
    /// The fingerprint of these settings.
    pub fn id(&self) -> String {
        fingerprint(Stage::Spectrum, self)
    }

    /// Refuse settings that cannot work, naming the flag.
    pub fn validate(&self) -> Result<()> {
        self.hessian.validate()?;
        if self.iter < 2 || self.n_v == 0 {
            return Err(Error::invalid("--iter must be at least 2 and --n-v at least 1"));
        }
        if self.num_bins < 2 || !(self.sigma_squared > 0.0) {
            return Err(Error::invalid("--num-bins must be at least 2 and --sigma-squared positive"));
        }
        let mut seen = self.trace.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.trace.len() {
            return Err(Error::invalid(format!("--trace {:?}: each estimator at most once", self.trace)));
        }
        if self.trace.contains(&TraceMethod::OnePass) {
            return Err(Error::invalid("--trace one-pass: the one-pass trace comes with --one-pass"));
        }
        if let Some(one_pass) = &self.one_pass {
            if one_pass.top_k == 0 || one_pass.top_k > self.iter {
                return Err(Error::invalid(format!(
                    "--top-k {} with --one-pass: between 1 and --iter ({}) eigenpairs",
                    one_pass.top_k, self.iter
                )));
            }
            if one_pass.trace_probes < 2 {
                return Err(Error::invalid("--trace-probes must be at least 2 (the one-pass trace's standard error needs two)"));
            }
        }
        Ok(())
    }

    /// The trace rows each checkpoint gets: the requested estimators, then the one-pass trace.
    pub fn trace_methods(&self) -> Vec<TraceMethod> {
        let mut methods = self.trace.clone();
        if self.one_pass.is_some() {
            methods.push(TraceMethod::OnePass);
        }
        methods
    }

    /// The methods as one label, e.g. `slq+hutchinson+one-pass`.
    pub fn methods_label(&self) -> String {
        let mut names: Vec<&str> = self.trace.iter().map(|t| t.name()).collect();
        if names.is_empty() {
            names.push("density");
        }
        if self.one_pass.is_some() {
            names.push(EigenMethod::OnePass.name());
        }
        names.join("+")
    }
}

/// The stable short fingerprint of `settings` for `stage`: 12 hex digits of
/// the SHA-256 of `{"stage": .., "settings": ..}` as JSON.
pub fn fingerprint<T: Serialize>(stage: Stage, settings: &T) -> String {
    #[derive(Serialize)]
    struct Tagged<'a, T> {
        stage: Stage,
        settings: &'a T,
    }
    let json = serde_json::to_vec(&Tagged { stage, settings }).expect("settings serialise to JSON");
    hex::encode(Sha256::digest(&json))[..12].to_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn hessian() -> HessianSettings {
        HessianSettings {
            data: DataSettings {
                model: "mlp-12-tanh".into(),
                dataset: "tiny".into(),
                corruption: "none".into(),
                severity: 0,
                split: "train".into(),
                heldout_fraction: 0.1,
                split_seed: 1,
                normalization: Normalization { mean: vec![0.5], std: vec![0.25] },
            },
            batch_size: Some(200),
            mini_batch_size: 200,
            bn_mode: HessianBnMode::Eval,
            params: vec![],
            ignore_biasbn: false,
            seed: 1,
            backend: BackendKind::Flex,
            dtype: Dtype::F32,
        }
    }

    pub(crate) fn eigen() -> EigenSettings {
        EigenSettings {
            hessian: hessian(),
            method: EigenMethod::Lanczos,
            top_k: 5,
            tol: 1e-3,
            max_iter: 100,
            which: Which::Largest,
        }
    }

    #[test]
    fn fingerprint_is_stable_and_changes_with_every_setting_that_changes_numbers() {
        let base = eigen();
        assert_eq!(base.id(), eigen().id());
        assert_eq!(base.id().len(), 12);
        assert!(base.id().chars().all(|c| c.is_ascii_hexdigit()));
        let variants: Vec<EigenSettings> = vec![
            EigenSettings { top_k: 10, ..eigen() },
            EigenSettings { method: EigenMethod::Power, ..eigen() },
            EigenSettings { tol: 1e-4, ..eigen() },
            EigenSettings { hessian: HessianSettings { seed: 2, ..hessian() }, ..eigen() },
            EigenSettings { hessian: HessianSettings { params: vec!["fc".into()], ..hessian() }, ..eigen() },
            EigenSettings { hessian: HessianSettings { batch_size: None, ..hessian() }, ..eigen() },
            EigenSettings { hessian: HessianSettings { bn_mode: HessianBnMode::Train, ..hessian() }, ..eigen() },
            EigenSettings { hessian: HessianSettings { backend: BackendKind::Libtorch, ..hessian() }, ..eigen() },
            EigenSettings { which: Which::Smallest, ..eigen() },
            EigenSettings { which: Which::Both, ..eigen() },
            EigenSettings { which: Which::Magnitude, ..eigen() },
        ];
        let mut ids: Vec<String> = variants.iter().map(EigenSettings::id).collect();
        ids.push(base.id());
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "every variant has its own fingerprint");
    }

    /// `EigenSettings` as it was before `which` (issue 18).
    #[derive(Serialize)]
    struct EigenSettingsBefore18 {
        hessian: HessianSettings,
        method: EigenMethod,
        top_k: usize,
        tol: f64,
        max_iter: usize,
    }

    #[test]
    fn largest_keeps_the_fingerprints_settings_had_before_which_existed() {
        let s = eigen();
        let before = EigenSettingsBefore18 {
            hessian: s.hessian.clone(),
            method: s.method,
            top_k: s.top_k,
            tol: s.tol,
            max_iter: s.max_iter,
        };
        assert_eq!(s.id(), fingerprint(Stage::Eigen, &before));
        assert_ne!(EigenSettings { which: Which::Both, ..eigen() }.id(), s.id());
        // Saved settings without the field read back as `largest`; others round-trip.
        let text = toml::to_string(&before).unwrap();
        assert!(!toml::to_string(&s).unwrap().contains("which"));
        assert_eq!(toml::from_str::<EigenSettings>(&text).unwrap(), s);
        let both = EigenSettings { which: Which::Both, ..eigen() };
        assert_eq!(toml::from_str::<EigenSettings>(&toml::to_string(&both).unwrap()).unwrap(), both);
    }

    /// `SpectrumSettings` as it was before `density_weights` (issue 20).
    #[derive(Serialize)]
    struct SpectrumSettingsBefore20 {
        hessian: HessianSettings,
        iter: usize,
        n_v: usize,
        num_bins: usize,
        sigma_squared: f64,
        trace: Vec<TraceMethod>,
        trace_hvps: usize,
        trace_tol: f64,
        one_pass: Option<OnePassSettings>,
    }

    #[test]
    fn plain_density_weights_keep_the_fingerprints_settings_had_before_the_flag() {
        let plain = SpectrumSettings {
            hessian: hessian(),
            iter: 100,
            n_v: 1,
            num_bins: 10_000,
            sigma_squared: 1e-5,
            density_weights: DensityWeights::Plain,
            density_rule: DensityRule::Gauss,
            trace: vec![TraceMethod::Slq],
            trace_hvps: 100,
            trace_tol: 1e-3,
            one_pass: None,
        };
        let before = SpectrumSettingsBefore20 {
            hessian: hessian(),
            iter: 100,
            n_v: 1,
            num_bins: 10_000,
            sigma_squared: 1e-5,
            trace: vec![TraceMethod::Slq],
            trace_hvps: 100,
            trace_tol: 1e-3,
            one_pass: None,
        };
        assert_eq!(plain.id(), fingerprint(Stage::Spectrum, &before));
        let deflated = SpectrumSettings { density_weights: DensityWeights::Deflated, ..plain.clone() };
        assert_ne!(deflated.id(), plain.id(), "other weights, other numbers, other fingerprint");
        // Saved settings without the field read back as plain; deflated round-trips.
        assert_eq!(toml::from_str::<SpectrumSettings>(&toml::to_string(&before).unwrap()).unwrap(), plain);
        assert_eq!(toml::from_str::<SpectrumSettings>(&toml::to_string(&deflated).unwrap()).unwrap(), deflated);
        // The same for the Gauss rule, the rule before --density-rule.
        let radau = SpectrumSettings { density_rule: DensityRule::RadauZero, ..deflated.clone() };
        assert_ne!(radau.id(), deflated.id(), "another rule, other numbers, other fingerprint");
        assert!(!toml::to_string(&deflated).unwrap().contains("density_rule"));
        assert_eq!(toml::from_str::<SpectrumSettings>(&toml::to_string(&radau).unwrap()).unwrap(), radau);
    }

    #[test]
    fn power_iteration_refuses_the_bottom_end_naming_both_flags() {
        for which in [Which::Smallest, Which::Both] {
            let err = EigenSettings { method: EigenMethod::Power, which, ..eigen() }.validate().unwrap_err().to_string();
            assert!(err.contains("--which") && err.contains("--method"), "{err}");
        }
        for which in [Which::Largest, Which::Magnitude] {
            EigenSettings { method: EigenMethod::Power, which, ..eigen() }.validate().unwrap();
        }
    }

    #[test]
    fn parameter_order_does_not_change_the_fingerprint() {
        let a = HessianSettings { params: vec!["layer3".into(), "fc".into()], ..hessian() }.normalized();
        let b = HessianSettings { params: vec!["fc".into(), "layer3".into(), "fc".into()], ..hessian() }.normalized();
        assert_eq!(EigenSettings { hessian: a, ..eigen() }.id(), EigenSettings { hessian: b, ..eigen() }.id());
    }

    #[test]
    fn eigen_and_spectrum_settings_never_share_a_fingerprint() {
        // The same value under two stages.
        assert_ne!(fingerprint(Stage::Eigen, &hessian()), fingerprint(Stage::Spectrum, &hessian()));
    }

    #[test]
    fn settings_that_cannot_work_name_their_flag() {
        let err = EigenSettings { top_k: 0, ..eigen() }.validate().unwrap_err().to_string();
        assert!(err.contains("--top-k"), "{err}");
        let err = EigenSettings { hessian: HessianSettings { batch_size: Some(0), ..hessian() }, ..eigen() }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--hessian-batch-size"), "{err}");
    }
}
