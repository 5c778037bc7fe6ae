//! Writers of small files in the real source formats (CIFAR-10's binary
//! `.tar.gz`, CIFAR-10-C's `.npy` files in a `.tar`), with their checksums,
//! for tests of hessx and of code built on it: no test needs the network.
//! Pixel values follow known formulas ([`cifar10_pixel`],
//! [`cifar10c_pixel`]) so a test can check any pixel after conversion.

use std::io::Write;
use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::archive::ArchiveSpec;
use crate::cifar10::{CIFAR10_FOLDER, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES};
use crate::cifar10c::CIFAR10C_FOLDER;
use crate::{Error, Result};

/// A file written for a test, with its size and checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its MD5 (hex).
    pub md5: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

impl Fixture {
    /// Describe the file at `path`.
    pub fn of(path: &Path) -> Result<Fixture> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(Fixture {
            path: path.to_owned(),
            size: bytes.len() as u64,
            md5: hex::encode(Md5::digest(&bytes)),
            sha256: hex::encode(Sha256::digest(&bytes)),
        })
    }

    /// An archive spec that this fixture satisfies, named `file_name`, at `url`.
    pub fn spec<'a>(&'a self, file_name: &'a str, url: &'a str) -> ArchiveSpec<'a> {
        ArchiveSpec { file_name, url, size: self.size, md5: &self.md5, sha256: &self.sha256 }
    }
}

/// Pixel `offset` (0..3072, CHW) of record `record` of batch file `batch`
/// (0..=4 the training batches, 5 the test batch) in [`cifar10_tar_gz`].
pub fn cifar10_pixel(batch: usize, record: usize, offset: usize) -> u8 {
    ((batch * 31 + record * 17 + offset * 7 + offset / 1024 * 5) % 256) as u8
}

/// Label of record `record` of batch `batch` in [`cifar10_tar_gz`].
pub fn cifar10_label(batch: usize, record: usize) -> u8 {
    ((batch * 3 + record) % 10) as u8
}

fn append(builder: &mut tar::Builder<impl Write>, name: &str, bytes: &[u8], path: &Path) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, bytes).map_err(|e| Error::io(path, e))
}

/// Write a CIFAR-10 binary archive with `records` records per batch file
/// (under `cifar-10-batches-bin/`, plus `batches.meta.txt` and a readme that
/// must be skipped) to `path`.
pub fn cifar10_tar_gz(path: &Path, records: usize) -> Result<Fixture> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    append(&mut builder, &format!("{CIFAR10_FOLDER}/batches.meta.txt"), crate::cifar10::CIFAR10_CLASSES.join("\n").as_bytes(), path)?;
    append(&mut builder, &format!("{CIFAR10_FOLDER}/readme.html"), b"<html>not a batch</html>", path)?;
    for (batch, name) in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]).enumerate() {
        let mut bytes = Vec::with_capacity(records * 3073);
        for r in 0..records {
            bytes.push(cifar10_label(batch, r));
            bytes.extend((0..3072).map(|o| cifar10_pixel(batch, r, o)));
        }
        append(&mut builder, &format!("{CIFAR10_FOLDER}/{name}"), &bytes, path)?;
    }
    let gz = builder.into_inner().map_err(|e| Error::io(path, e))?;
    gz.finish().map_err(|e| Error::io(path, e))?;
    Fixture::of(path)
}

/// Pixel at (image `n`, row `y`, column `x`, channel `c`) of corruption
/// number `k` (its position in the list given to [`cifar10c_tar`]).
pub fn cifar10c_pixel(k: usize, n: usize, y: usize, x: usize, c: usize) -> u8 {
    ((k * 41 + n * 13 + y * 7 + x * 3 + c * 101) % 256) as u8
}

/// Label of image `n` (in each severity block of `per_severity`) in [`cifar10c_tar`].
pub fn cifar10c_label(n: usize, per_severity: usize) -> u8 {
    ((n % per_severity) % 10) as u8
}

/// The bytes of a CIFAR-10-C `.npy` image file: `5 * per_severity` 32x32x3 HWC images.
pub fn cifar10c_images_npy(k: usize, per_severity: usize) -> Vec<u8> {
    let n = 5 * per_severity;
    let mut bytes = crate::npy::write_header("|u1", &[n, 32, 32, 3]);
    for i in 0..n {
        for y in 0..32 {
            for x in 0..32 {
                bytes.extend((0..3).map(|c| cifar10c_pixel(k, i, y, x, c)));
            }
        }
    }
    bytes
}

/// The bytes of `labels.npy` with dtype `descr` (`|u1`, `<i4` or `<i8`).
pub fn cifar10c_labels_npy(per_severity: usize, descr: &str) -> Vec<u8> {
    let n = 5 * per_severity;
    let mut bytes = crate::npy::write_header(descr, &[n]);
    for i in 0..n {
        let l = cifar10c_label(i, per_severity);
        match descr {
            "<i8" => bytes.extend((l as i64).to_le_bytes()),
            "<i4" => bytes.extend((l as i32).to_le_bytes()),
            _ => bytes.push(l),
        }
    }
    bytes
}

/// Write a CIFAR-10-C archive holding `corruptions` (each `5 * per_severity`
/// images) and `labels.npy` of dtype `labels_descr`, under `CIFAR-10-C/`,
/// with a README first as in the real archive.
pub fn cifar10c_tar(path: &Path, corruptions: &[&str], per_severity: usize, labels_descr: &str) -> Result<Fixture> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut builder = tar::Builder::new(file);
    append(&mut builder, &format!("{CIFAR10C_FOLDER}/README.txt"), b"CIFAR-10-C fixture", path)?;
    for (k, name) in corruptions.iter().enumerate() {
        append(&mut builder, &format!("{CIFAR10C_FOLDER}/{name}.npy"), &cifar10c_images_npy(k, per_severity), path)?;
    }
    append(&mut builder, &format!("{CIFAR10C_FOLDER}/labels.npy"), &cifar10c_labels_npy(per_severity, labels_descr), path)?;
    builder.into_inner().map_err(|e| Error::io(path, e))?.sync_all().map_err(|e| Error::io(path, e))?;
    Fixture::of(path)
}
