//! How the curvature stages keep their results apart: every row carries the
//! fingerprint of the settings that made it, the settings themselves go into
//! `settings.parquet` (and `config/<stage>-<id>.toml`), and tables are merged
//! so that new settings add rows beside the old ones. Only rows of the same
//! fingerprint are replaced, or, with `--replace`, the rows a stage's method
//! wrote earlier for the same checkpoints.

use std::path::Path;

use hessx_store::tables::{Row, SettingsRow, read_rows, write_rows};
use hessx_store::{RunDir, RunIdentity, Stage};
use serde::Serialize;

use crate::Result;
use crate::settings::{Dtype, HessianSettings};

/// What a stage does with checkpoints it already has results for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Redo {
    /// Skip a checkpoint that has rows with the same settings fingerprint (the default).
    #[default]
    Skip,
    /// Recompute the selected checkpoints and drop the rows (and eigenvector
    /// tables) that earlier settings of the same method wrote for them.
    Replace,
}

/// Rows already in the table at `path` (none when it does not exist).
pub fn existing_rows<R: Row>(path: &Path) -> Result<Vec<R>> {
    if path.exists() { Ok(read_rows(path)?) } else { Ok(Vec::new()) }
}

/// Merge `new` rows into the table at `path`: existing rows for which
/// `replaced` is true are dropped, the rest kept, and the table rewritten
/// atomically.
pub fn merge_rows<R: Row + Clone>(path: &Path, id: &RunIdentity, new: &[R], replaced: impl Fn(&R) -> bool) -> Result<()> {
    let mut rows: Vec<R> = existing_rows(path)?;
    rows.retain(|r| !replaced(r));
    rows.extend_from_slice(new);
    write_rows(path, id, &rows)?;
    Ok(())
}

/// The summary columns of one settings row; the full settings go beside them.
pub struct SettingsRecord<'a> {
    /// The stage.
    pub stage: Stage,
    /// The fingerprint.
    pub settings_id: &'a str,
    /// The methods, e.g. `lanczos` or `slq+hutchinson`.
    pub methods: String,
    /// The Hessian's settings.
    pub hessian: &'a HessianSettings,
    /// Examples the loss is averaged over.
    pub examples: usize,
}

/// Record `settings`: one row of `settings.parquet` (replacing a row of the
/// same fingerprint) and `config/<stage>-<id>.toml`.
pub fn record_settings<T: Serialize>(run: &RunDir, identity: &RunIdentity, rec: &SettingsRecord, settings: &T) -> Result<()> {
    let SettingsRecord { stage, settings_id, hessian, .. } = *rec;
    let config = run.settings_config(stage.name(), settings_id);
    let text = crate::config::to_toml(settings, &config)?;
    hessx_store::write_bytes_atomic(&config, text.as_bytes())?;
    let row = SettingsRow {
        settings_id: settings_id.to_owned(),
        stage,
        methods: rec.methods.clone(),
        params: hessian.params_label(),
        ignore_biasbn: hessian.ignore_biasbn,
        hessian_batch_size: hessian.batch_size.unwrap_or(0) as i64,
        full_dataset: hessian.batch_size.is_none(),
        examples: rec.examples as i64,
        mini_hessian_batch_size: hessian.mini_batch_size as i64,
        bn_mode: hessian.bn_mode.name().into(),
        seed: hessian.seed as i64,
        backend: hessian.backend.name().into(),
        dtype: match hessian.dtype {
            Dtype::F32 => "f32".into(),
        },
        settings: text,
    };
    merge_rows(&run.settings(), identity, &[row], |r: &SettingsRow| r.settings_id == settings_id)
}

/// The settings recorded in `run`, by fingerprint.
pub fn recorded_settings(run: &RunDir) -> Result<Vec<SettingsRow>> {
    existing_rows(&run.settings())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::{eigen, hessian};

    #[test]
    fn settings_are_recorded_once_per_fingerprint_with_their_full_text() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let identity = RunIdentity::new("r", "mlp", "tiny", "none", 0);
        let a = eigen();
        let b = crate::settings::EigenSettings {
            top_k: 2,
            hessian: HessianSettings { params: vec!["fc".into()], batch_size: None, ..hessian() },
            ..eigen()
        };
        for (s, examples) in [(&a, 200), (&b, 96), (&a, 200)] {
            let id = s.id();
            let rec =
                SettingsRecord { stage: Stage::Eigen, settings_id: &id, methods: "lanczos".into(), hessian: &s.hessian, examples };
            record_settings(&run, &identity, &rec, s).unwrap();
        }
        let rows = recorded_settings(&run).unwrap();
        assert_eq!(rows.len(), 2, "recording the same settings again replaces its row");
        let row_b = rows.iter().find(|r| r.settings_id == b.id()).unwrap();
        assert_eq!((row_b.params.as_str(), row_b.full_dataset, row_b.hessian_batch_size, row_b.examples), ("fc", true, 0, 96));
        let back: crate::settings::EigenSettings = toml::from_str(&row_b.settings).unwrap();
        assert_eq!(back, b, "the settings column holds the full settings");
        assert_eq!(back.id(), b.id(), "and they fingerprint back to the same id");
        assert!(run.settings_config("eigen", &a.id()).exists());
    }
}
