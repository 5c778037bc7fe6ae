//! The per-dataset manifest (`data/<dataset>/manifest.json`): for every table,
//! its row count, SHA-256 and how it was made. It is what lets `hx-fetch` skip
//! work that is already done and refuse a table that was truncated or changed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Everything recorded about one dataset folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Dataset name (the folder's name).
    pub dataset: String,
    /// Where the data comes from (URL or file) and its licence.
    #[serde(default)]
    pub source: String,
    /// Class names in label order, where the source gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_names: Vec<String>,
    /// One entry per table, keyed by file name.
    #[serde(default)]
    pub tables: BTreeMap<String, TableEntry>,
}

/// What the manifest records about one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    /// File name inside the dataset folder.
    pub file: String,
    /// `train` or `test`.
    pub split: String,
    /// Number of rows.
    pub rows: usize,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// Number of classes (2 for click-through data).
    pub num_classes: usize,
    /// `[channels, height, width]` for images; `[categorical fields, dense
    /// features]` for click-through data; `[length]` for token data.
    pub shape: Vec<usize>,
    /// Corruption name, `none` for clean data.
    pub corruption: String,
    /// Severity 1..=5, 0 for clean data.
    pub severity: u8,
    /// Seed of the random numbers that made the table (generated data, computed noise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Cardinality of each categorical field (click-through data only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cardinalities: Vec<usize>,
    /// Vocabulary size (token data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab: Option<usize>,
    /// How the table was made (source checksum, parameters). A table whose
    /// recipe changed is rebuilt.
    pub recipe: String,
}

/// The state of one table on disk compared with the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableState {
    /// No file.
    Missing,
    /// The file exists but the manifest does not know it, or knows a different recipe.
    Stale,
    /// The file's checksum differs from the recorded one (truncated, corrupted, edited).
    Corrupt {
        /// The recorded checksum.
        expected: String,
        /// The file's checksum now.
        found: String,
    },
    /// The file matches the manifest: nothing to do.
    Complete,
}

impl Manifest {
    /// An empty manifest for `dataset`.
    pub fn new(dataset: &str) -> Self {
        Manifest { dataset: dataset.into(), source: String::new(), class_names: Vec::new(), tables: BTreeMap::new() }
    }

    /// Read the manifest at `path`, or start an empty one when there is none.
    pub fn load_or_new(path: &Path, dataset: &str) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new(dataset)),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Read the manifest at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::Manifest { path: path.to_owned(), message: e.to_string() })
    }

    /// Write the manifest to `path` atomically, as pretty-printed JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        json.push('\n');
        Ok(hessx_store::write_bytes_atomic(path, json.as_bytes())?)
    }

    /// Compare the table `dir/file` with its entry; `recipe` is how it would be made now.
    pub fn check(&self, dir: &Path, file: &str, recipe: &str) -> Result<TableState> {
        let path = dir.join(file);
        if !path.exists() {
            return Ok(TableState::Missing);
        }
        let Some(entry) = self.tables.get(file).filter(|e| e.recipe == recipe) else {
            return Ok(TableState::Stale);
        };
        let found = sha256_file(&path)?;
        Ok(if found == entry.sha256 { TableState::Complete } else { TableState::Corrupt { expected: entry.sha256.clone(), found } })
    }

    /// Verify the table at `path` against its entry, if the manifest has one:
    /// `Ok(true)` when it matches, `Ok(false)` when it is not recorded, and an
    /// error naming `command` (the fix) when the checksum differs.
    pub fn verify(&self, manifest_path: &Path, path: &Path, command: &str) -> Result<bool> {
        let file = file_name(path);
        let Some(entry) = self.tables.get(&file) else { return Ok(false) };
        let found = sha256_file(path)?;
        if found != entry.sha256 {
            return Err(Error::CorruptTable {
                path: path.to_owned(),
                manifest: manifest_path.to_owned(),
                expected: entry.sha256.clone(),
                found,
                command: command.to_owned(),
            });
        }
        Ok(true)
    }
}

/// The last component of `path` as a string.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// SHA-256 of the file at `path`, read in 1 MiB pieces (hex).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 of `bytes` (hex).
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, sha: &str) -> TableEntry {
        TableEntry {
            file: file.into(),
            split: "train".into(),
            rows: 3,
            sha256: sha.into(),
            num_classes: 10,
            shape: vec![1, 8, 8],
            corruption: "none".into(),
            severity: 0,
            seed: None,
            cardinalities: vec![],
            vocab: None,
            recipe: "r1".into(),
        }
    }

    #[test]
    fn states_follow_the_file_and_the_recipe() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("toy");
        assert_eq!(m.check(dir.path(), "t.parquet", "r1").unwrap(), TableState::Missing);
        std::fs::write(dir.path().join("t.parquet"), b"abc").unwrap();
        assert_eq!(m.check(dir.path(), "t.parquet", "r1").unwrap(), TableState::Stale);
        m.tables.insert("t.parquet".into(), entry("t.parquet", &sha256_bytes(b"abc")));
        assert_eq!(m.check(dir.path(), "t.parquet", "r1").unwrap(), TableState::Complete);
        assert_eq!(m.check(dir.path(), "t.parquet", "r2").unwrap(), TableState::Stale);
        std::fs::write(dir.path().join("t.parquet"), b"ab").unwrap();
        assert!(matches!(m.check(dir.path(), "t.parquet", "r1").unwrap(), TableState::Corrupt { .. }));
        let path = dir.path().join("manifest.json");
        m.save(&path).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), Some(m.clone()));
        let err = m.verify(&path, &dir.path().join("t.parquet"), "hx-fetch toy").unwrap_err().to_string();
        assert!(err.contains("t.parquet") && err.contains("manifest.json") && err.contains("hx-fetch toy"), "{err}");
    }

    #[test]
    fn a_broken_manifest_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, b"{ not json").unwrap();
        let err = Manifest::load_or_new(&path, "x").unwrap_err().to_string();
        assert!(err.contains("manifest.json") && err.contains("delete it"), "{err}");
    }

    #[test]
    fn sha256_of_a_known_string() {
        assert_eq!(sha256_bytes(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), sha256_bytes(b"abc"));
    }
}
