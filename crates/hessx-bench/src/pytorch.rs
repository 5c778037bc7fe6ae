//! The PyTorch and PyHessian figures written by `bench/pytorch_reference.py`
//! (`pytorch.json`), read back to set hessx's figures beside them.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// What `pytorch.json` holds.
#[derive(Debug, Clone, Deserialize)]
pub struct PytorchReference {
    /// PyTorch version.
    pub torch: String,
    /// Threads PyTorch used.
    pub threads: usize,
    /// Batch size.
    pub batch: usize,
    /// Trainable parameters of its ResNet20.
    pub parameters: usize,
    /// Forward without autograd.
    pub forward_seconds: f64,
    /// Forward and backward.
    pub gradient_seconds: f64,
    /// Forward, backward with `create_graph`, double backward.
    pub hvp_from_scratch_seconds: f64,
    /// Double backward on a kept graph: PyHessian's cost per product.
    pub hvp_retained_seconds: f64,
    /// Values that do not depend on the parameter order.
    pub check: CheckValues,
    /// PyHessian's three calls, when they were run.
    pub pyhessian: Option<PyHessianRun>,
    /// How the weights were trained (absent in files from before the benchmark trained them).
    #[serde(default)]
    pub training: Option<Training>,
    /// Peak resident memory of the reference process, PyHessian included.
    #[serde(default)]
    pub peak_rss_mib: Option<f64>,
}

/// The short training run that made the benchmark's weights.
#[derive(Debug, Clone, Deserialize)]
pub struct Training {
    pub examples: usize,
    pub epochs: usize,
    pub train_accuracy: f64,
    pub seconds: f64,
    pub data: String,
}

/// Loss, |g|, g'Hg/|g|^2 and |Hg|/|g| for the gradient g of the workload.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckValues {
    pub loss: f64,
    pub grad_norm: f64,
    #[serde(rename = "gHg_over_gg")]
    pub ghg_over_gg: f64,
    #[serde(rename = "Hg_norm_over_g_norm")]
    pub hg_norm_over_g_norm: f64,
}

/// PyHessian's `hessian(...)`, `eigenvalues(top_n=5)`, `trace()`, `density()`.
#[derive(Debug, Clone, Deserialize)]
pub struct PyHessianRun {
    /// The constructor: one forward and a backward with `create_graph`.
    pub setup_seconds: f64,
    pub eigenvalues: PyHessianEigen,
    pub trace: PyHessianTrace,
    pub density: PyHessianCall,
    pub total_seconds: f64,
    pub total_hvps: u64,
}

/// `eigenvalues(top_n=5)`.
#[derive(Debug, Clone, Deserialize)]
pub struct PyHessianEigen {
    pub seconds: f64,
    pub hvps: u64,
    /// In the order power iteration found them.
    pub values: Vec<f64>,
}

/// `trace()`.
#[derive(Debug, Clone, Deserialize)]
pub struct PyHessianTrace {
    pub seconds: f64,
    pub hvps: u64,
    pub estimate: f64,
    /// Standard error of the mean of its samples (PyHessian reports none; computed by the script).
    #[serde(default = "nan")]
    pub std_error: f64,
}

/// `density()`, with the quadrature it returned (one list per run).
#[derive(Debug, Clone, Deserialize)]
pub struct PyHessianCall {
    pub seconds: f64,
    pub hvps: u64,
    #[serde(default)]
    pub nodes: Vec<Vec<f64>>,
    #[serde(default)]
    pub weights: Vec<Vec<f64>>,
}

fn nan() -> f64 {
    f64::NAN
}

impl PytorchReference {
    /// `dir/pytorch.json`, or `None` when the reference was not run.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("pytorch.json");
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let reference = serde_json::from_str(&text)
            .with_context(|| format!("{}: not the JSON bench/pytorch_reference.py writes", path.display()))?;
        Ok(Some(reference))
    }
}
