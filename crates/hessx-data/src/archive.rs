//! Source archives: their published sizes and checksums, verification, and a
//! resumable download into `data/downloads/` (HTTP Range on a `.part` file).
//!
//! The expected size and checksums are values of [`ArchiveSpec`], not
//! hard-wired, so tests can run the same code on small fixtures.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A downloadable archive: where it lives and what it must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSpec<'a> {
    /// File name under `data/downloads/`.
    pub file_name: &'a str,
    /// Where to download it from.
    pub url: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// MD5 (hex), as published by the dataset's authors.
    pub md5: &'a str,
    /// SHA-256 (hex).
    pub sha256: &'a str,
}

/// CIFAR-10, binary version (Krizhevsky, 2009).
pub const CIFAR10_ARCHIVE: ArchiveSpec<'static> = ArchiveSpec {
    file_name: "cifar-10-binary.tar.gz",
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    size: 170_052_171,
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
    sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
};

/// CIFAR-10-C (Hendrycks & Dietterich, 2019), from Zenodo record 2535967.
pub const CIFAR10C_ARCHIVE: ArchiveSpec<'static> = ArchiveSpec {
    file_name: "CIFAR-10-C.tar",
    url: "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar",
    size: 2_918_471_680,
    md5: "56bf5dcef84df0e2308c6dcbcbbd8499",
    sha256: "c72763e101c723b7c507b96205f7e938912a5d587376173b825850cf3cb876a7",
};

impl ArchiveSpec<'_> {
    /// Check the file at `path` has this archive's size, SHA-256 and MD5.
    pub fn verify(&self, path: &Path, progress: bool) -> Result<()> {
        let size = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
        let hint = |what: &str| {
            format!(
                "the file is {what}: delete it and download it again from {} (hx-fetch resumes or restarts the download itself)",
                self.url
            )
        };
        if size != self.size {
            let what = if size < self.size { "truncated (an interrupted download?)" } else { "not this archive" };
            return Err(Error::Verify {
                path: path.to_owned(),
                what: "size",
                expected: format!("{} bytes", self.size),
                found: format!("{size} bytes"),
                hint: hint(what),
            });
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let bar = crate::progress::bar(progress, size, &format!("verifying {}", self.file_name), true);
        let mut reader = bar.wrap_read(BufReader::with_capacity(1 << 20, file));
        let (mut sha, mut md5) = (Sha256::new(), Md5::new());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            md5.update(&buf[..n]);
        }
        bar.finish_and_clear();
        for (what, expected, found) in
            [("SHA-256", self.sha256, hex::encode(sha.finalize())), ("MD5", self.md5, hex::encode(md5.finalize()))]
        {
            if !found.eq_ignore_ascii_case(expected) {
                return Err(Error::Verify {
                    path: path.to_owned(),
                    what,
                    expected: expected.to_owned(),
                    found,
                    hint: hint("corrupted or a different file"),
                });
            }
        }
        Ok(())
    }

    /// The archive to read: `from` when given (an archive is verified, a
    /// folder of extracted files is used as is), else the verified copy in
    /// `downloads`, downloaded (or resumed) first when needed.
    pub fn obtain(&self, downloads: &Path, from: Option<&Path>, progress: bool) -> Result<PathBuf> {
        match from {
            Some(path) if path.is_dir() => Ok(path.to_owned()),
            Some(path) => {
                if !path.exists() {
                    return Err(Error::invalid(
                        format!("--from {}", path.display()),
                        format!("no such file or folder (expected {} or the folder it unpacks to)", self.file_name),
                    ));
                }
                self.verify(path, progress)?;
                Ok(path.to_owned())
            }
            None => self.download(downloads, progress),
        }
    }

    /// Download the archive into `downloads` (resuming a `.part` file left by
    /// an interrupted run), verify it and return its path. A complete,
    /// verified file already there is used without any network access.
    pub fn download(&self, downloads: &Path, progress: bool) -> Result<PathBuf> {
        let dest = downloads.join(self.file_name);
        let part = downloads.join(format!("{}.part", self.file_name));
        if dest.exists() {
            let size = fs::metadata(&dest).map_err(|e| Error::io(&dest, e))?.len();
            if size < self.size && !part.exists() {
                // A short file under the final name is an interrupted copy: resume it.
                fs::rename(&dest, &part).map_err(|e| Error::io(&dest, e))?;
            } else {
                self.verify(&dest, progress)?;
                return Ok(dest);
            }
        }
        fs::create_dir_all(downloads).map_err(|e| Error::io(downloads, e))?;
        self.fetch_into(&part, &dest, progress)?;
        if let Err(e) = self.verify(&part, progress) {
            // Bad bytes cannot be resumed from: start over next time.
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        fs::rename(&part, &dest).map_err(|e| Error::io(&dest, e))?;
        Ok(dest)
    }

    /// Fill `part` up to `self.size` bytes over HTTP, appending to what it holds.
    fn fetch_into(&self, part: &Path, dest: &Path, progress: bool) -> Result<()> {
        let fail = |message: String| Error::Download { url: self.url.to_owned(), dest: dest.to_owned(), message };
        let mut offset = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if offset > self.size {
            fs::remove_file(part).map_err(|e| Error::io(part, e))?;
            offset = 0;
        }
        if offset == self.size {
            return Ok(());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(self.url).header("Accept-Encoding", "identity");
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        let response = request.call().map_err(|e| fail(e.to_string()))?;
        let status = response.status().as_u16();
        let append = match status {
            206 => {
                let range = response.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or("");
                let start = range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse::<u64>().ok());
                if start != Some(offset) {
                    return Err(fail(format!("asked for bytes {offset}- but the server sent range `{range}`")));
                }
                true
            }
            200 => false,
            416 if offset > 0 => {
                // The server thinks we are past the end: start over.
                fs::remove_file(part).map_err(|e| Error::io(part, e))?;
                return self.fetch_into(part, dest, progress);
            }
            other => return Err(fail(format!("the server answered HTTP {other}"))),
        };
        if !append {
            offset = 0;
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(part)
            .map_err(|e| Error::io(part, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let bar = crate::progress::bar(progress, self.size, &format!("downloading {}", self.file_name), true);
        bar.set_position(offset);
        let mut body = response.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut written = offset;
        let outcome = loop {
            match body.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = out.write_all(&buf[..n]) {
                        break Err(Error::io(part, e));
                    }
                    written += n as u64;
                    bar.set_position(written);
                }
                Err(e) => break Err(fail(format!(
                    "the connection broke after {written} of {} bytes ({e}); run the same command again to resume from {}",
                    self.size,
                    part.display()
                ))),
            }
        };
        // Keep what arrived, even on failure: the next run resumes from it.
        out.flush().map_err(|e| Error::io(part, e))?;
        bar.finish_and_clear();
        outcome?;
        if written < self.size {
            return Err(fail(format!(
                "the server stopped after {written} of {} bytes; run the same command again to resume from {}",
                self.size,
                part.display()
            )));
        }
        Ok(())
    }
}
