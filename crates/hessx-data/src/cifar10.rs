//! CIFAR-10 from its binary distribution (`cifar-10-binary.tar.gz`): six
//! batch files of records `1 label byte + 3072 pixel bytes` (1024 red, then
//! green, then blue, rows top to bottom), read straight from the gzip+tar
//! stream without extracting anything.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::{Error, ImageSet, Result};

/// Class names in label order (from the archive's `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
/// The archive's top-level folder.
pub const CIFAR10_FOLDER: &str = "cifar-10-batches-bin";
/// The training batches, in order.
pub const CIFAR10_TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
/// The test batch.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";
/// Bytes per record: the label then 3 x 32 x 32 pixels.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;
/// Records in each of the six batch files of the real dataset.
pub const CIFAR10_BATCH_RECORDS: usize = 10_000;

/// Parse one batch file's bytes into `(labels, pixels)`; `name` labels errors.
pub fn parse_batch(bytes: &[u8], name: &Path) -> Result<(Vec<u16>, Vec<u8>)> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR10_RECORD) {
        return Err(Error::format(
            name,
            format!("{} bytes is not a whole number of {CIFAR10_RECORD}-byte CIFAR-10 records (truncated?)", bytes.len()),
        ));
    }
    let n = bytes.len() / CIFAR10_RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (CIFAR10_RECORD - 1));
    for (i, record) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
        if record[0] >= 10 {
            return Err(Error::format(name, format!("record {i} has label {}, expected 0..=9", record[0])));
        }
        labels.push(record[0] as u16);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok((labels, pixels))
}

fn is_wanted(name: &str) -> bool {
    CIFAR10_TRAIN_FILES.contains(&name) || name == CIFAR10_TEST_FILE
}

/// The folder holding the batch files of an extracted archive at `path`
/// (`path` itself, or its `cifar-10-batches-bin/`).
pub fn batch_folder(path: &Path) -> PathBuf {
    if path.join(CIFAR10_FOLDER).is_dir() { path.join(CIFAR10_FOLDER) } else { path.to_owned() }
}

/// Read the six batch files from a `.tar.gz` archive or from a folder holding
/// them (directly or under `cifar-10-batches-bin/`); returns `(train, test)`.
/// A folder's batches must hold CIFAR-10's 10,000 records each unless
/// `allow_subset` (an archive is checked by its checksums instead).
pub fn read_cifar10(path: &Path, progress: bool, allow_subset: bool) -> Result<(ImageSet, ImageSet)> {
    let mut files: HashMap<String, (PathBuf, Vec<u8>)> = HashMap::new();
    let from_folder = path.is_dir();
    if from_folder {
        let dir = batch_folder(path);
        for name in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
            let file = dir.join(name);
            if file.exists() {
                let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
                files.insert((*name).to_owned(), (file, bytes));
            }
        }
    } else {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let bar = crate::progress::bar(progress, len, "reading CIFAR-10", true);
        let mut archive = tar::Archive::new(GzDecoder::new(bar.wrap_read(BufReader::new(file))));
        let broken = |e: std::io::Error| Error::format(path, format!("not a readable .tar.gz archive ({e}); it may be truncated"));
        for entry in archive.entries().map_err(broken)? {
            let mut entry = entry.map_err(broken)?;
            let member = entry.path().map_err(broken)?.into_owned();
            let name = member.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if is_wanted(&name) {
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes).map_err(broken)?;
                files.insert(name, (PathBuf::from(format!("{}!{}", path.display(), member.display())), bytes));
            }
        }
        bar.finish_and_clear();
    }
    let missing: Vec<&str> =
        CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]).filter(|n| !files.contains_key(**n)).copied().collect();
    if !missing.is_empty() {
        return Err(Error::format(path, format!("has no {} (expected CIFAR-10's binary batches under {CIFAR10_FOLDER}/)", missing.join(", "))));
    }
    let set = |split: &str, names: &[&str]| -> Result<ImageSet> {
        let mut set = ImageSet {
            dataset: "cifar10".into(),
            split: split.into(),
            corruption: "none".into(),
            severity: 0,
            shape: [3, 32, 32],
            num_classes: 10,
            labels: Vec::new(),
            pixels: Vec::new(),
        };
        for name in names {
            let (member, bytes) = &files[*name];
            let (labels, pixels) = parse_batch(bytes, member)?;
            if from_folder && !allow_subset && labels.len() != CIFAR10_BATCH_RECORDS {
                return Err(Error::format(
                    member,
                    format!(
                        "holds {} records, but each CIFAR-10 batch holds {CIFAR10_BATCH_RECORDS}: this folder is not the \
                         complete dataset (pass --allow-subset to import a subset on purpose; the manifest will say so)",
                        labels.len()
                    ),
                ));
            }
            set.labels.extend(labels);
            set.pixels.extend(pixels);
        }
        Ok(set)
    };
    Ok((set("train", &CIFAR10_TRAIN_FILES)?, set("test", &[CIFAR10_TEST_FILE])?))
}
