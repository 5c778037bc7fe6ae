//! Resolved stage configurations, saved beside a run's outputs so that later
//! stages (and people) know exactly how the run was made.

use std::path::Path;

use anyhow::{Context, Result};
use hessx_store::{RunDir, write_bytes_atomic};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Save `config` as `config/<stage>.toml` in the run directory (atomically).
pub fn save_stage_config<T: Serialize>(run: &RunDir, stage: &str, config: &T) -> Result<()> {
    let path = run.stage_config(stage);
    let text = toml::to_string_pretty(config).with_context(|| format!("cannot serialise the {stage} config"))?;
    write_bytes_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// Load a saved stage configuration.
pub fn load_stage_config<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a configuration this version of hessx understands", path.display()))
}

/// Whether `path` names a PyTorch file (`.pt`, `.pth`, `.pkl`, `.tar`, `.bin`)
/// rather than a hessx checkpoint (`.mpk`).
pub fn is_pytorch_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("pt" | "pth" | "pkl" | "tar" | "bin" | "t7"))
}
