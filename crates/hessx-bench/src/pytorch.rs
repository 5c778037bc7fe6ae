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
    /// When the script finished, UTC (absent in files from before it was recorded).
    #[serde(default)]
    pub measured_at: Option<String>,
    /// The same instant in seconds since the Unix epoch.
    #[serde(default)]
    pub measured_unix: Option<f64>,
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

/// Older than this, the reference's times and the ratios against them compare
/// different hours of a machine whose speed drifts (10-30 % within a day here).
pub const STALE_AFTER_SECONDS: f64 = 3600.0;

impl PytorchReference {
    /// How long before `now_unix` the reference was measured (None: not recorded).
    pub fn age_seconds(&self, now_unix: f64) -> Option<f64> {
        self.measured_unix.map(|t| now_unix - t)
    }

    /// Whether the reference is known to be older than [`STALE_AFTER_SECONDS`].
    pub fn is_stale(&self, now_unix: f64) -> bool {
        self.age_seconds(now_unix).is_some_and(|age| age > STALE_AFTER_SECONDS)
    }

    /// One sentence (plain text) on when the reference was measured, with a
    /// warning when it is too old to time against (`just bench` runs it right
    /// before hessx-bench).
    pub fn when(&self, now_unix: f64) -> String {
        match (&self.measured_at, self.age_seconds(now_unix)) {
            (Some(at), Some(age)) if age > STALE_AFTER_SECONDS => format!(
                "Measured at {at}, {:.1} h before this run: its times, and every ratio against them, compare different hours of this machine; `just bench` runs the reference right before hessx-bench for a side-by-side figure.",
                age / 3600.0
            ),
            (Some(at), Some(age)) => format!("Measured at {at}, {:.0} min before this run.", age.max(0.0) / 60.0),
            _ => "When it was measured is not recorded (a pytorch.json from before the script recorded it): its times may come from another hour of this machine.".into(),
        }
    }
}

/// Seconds since the Unix epoch now.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(measured: Option<f64>) -> PytorchReference {
        let mut json = serde_json::json!({
            "torch": "2.9.0", "threads": 2, "batch": 200, "parameters": 272474,
            "forward_seconds": 0.1, "gradient_seconds": 0.3, "hvp_from_scratch_seconds": 0.9, "hvp_retained_seconds": 0.6,
            "check": {"loss": 1.0, "grad_norm": 1.0, "gHg_over_gg": 1.0, "Hg_norm_over_g_norm": 1.0},
            "pyhessian": null
        });
        if let Some(t) = measured {
            json["measured_unix"] = t.into();
            json["measured_at"] = "2026-12-02T01:00:00Z".into();
        }
        serde_json::from_value(json).expect("pytorch.json fixture")
    }

    #[test]
    fn says_how_old_the_reference_is_and_warns_past_an_hour() {
        let now = 1_000_000.0;
        let fresh = reference(Some(now - 600.0)).when(now);
        assert!(fresh.contains("2026-12-02T01:00:00Z") && fresh.contains("10 min before") && !fresh.contains("**"), "{fresh}");
        let stale = reference(Some(now - 2.5 * 3600.0)).when(now);
        assert!(stale.contains("2.5 h before this run") && stale.contains("different hours"), "{stale}");
        assert!(reference(Some(now - 2.5 * 3600.0)).is_stale(now) && !reference(Some(now - 600.0)).is_stale(now));
        let unknown = reference(None);
        assert_eq!(unknown.age_seconds(now), None);
        assert!(unknown.when(now).contains("not recorded"), "{}", unknown.when(now));
    }
}
