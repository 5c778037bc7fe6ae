//! Resolved stage configurations, saved beside a run's outputs so that later
//! stages (and people) know exactly how the run was made.

use std::path::Path;

use hessx_store::{RunDir, write_bytes_atomic};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Save `config` as `config/<stage>.toml` in the run directory (atomically).
pub fn save_stage_config<T: Serialize>(run: &RunDir, stage: &str, config: &T) -> Result<()> {
    save_config(&run.stage_config(stage), config)
}

/// Save `config` as TOML at `path` (atomically).
pub fn save_config<T: Serialize>(path: &Path, config: &T) -> Result<()> {
    let text = to_toml(config, path)?;
    write_bytes_atomic(path, text.as_bytes())?;
    Ok(())
}

/// `config` as TOML text; `path` is only named in the error.
pub fn to_toml<T: Serialize>(config: &T, path: &Path) -> Result<String> {
    toml::to_string_pretty(config)
        .map_err(|e| Error::Config { path: path.to_owned(), message: format!("cannot serialise the settings: {e}") })
}

/// Load a saved stage configuration.
pub fn load_stage_config<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| Error::Config {
        path: path.to_owned(),
        message: format!("not a configuration this version of hessx understands: {e}"),
    })
}

/// Whether `path` names a PyTorch file (`.pt`, `.pth`, `.pkl`, `.tar`, `.bin`)
/// rather than a hessx checkpoint (`.mpk`).
pub fn is_pytorch_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("pt" | "pth" | "pkl" | "tar" | "bin" | "t7"))
}
