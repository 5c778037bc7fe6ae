//! CIFAR-10-C from its archive (`CIFAR-10-C.tar`): one `.npy` per corruption,
//! `N x 32 x 32 x 3` uint8 HWC images with the five severities stacked in
//! blocks of `N / 5` (10,000 each in the real archive), and `labels.npy`
//! alongside. The tar is read entry by entry, seeking past what is not
//! asked for, so converting one corruption never unpacks the 2.9 GB.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::npy::{self, Dtype};
use crate::{Error, ImageSet, Result};

/// The archive's top-level folder.
pub const CIFAR10C_FOLDER: &str = "CIFAR-10-C";

/// Convert CHW from one HWC image.
pub fn hwc_to_chw(hwc: &[u8], h: usize, w: usize, c: usize, out: &mut Vec<u8>) {
    for ch in 0..c {
        out.extend((0..h * w).map(|p| hwc[p * c + ch]));
    }
}

/// Where the `.npy` files are: an archive, or a folder (with or without the `CIFAR-10-C/` level).
enum Source {
    Archive(PathBuf),
    Folder(PathBuf),
}

fn member_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Visit the `.npy` members whose file names satisfy `wanted`, in archive order.
fn visit(source: &Source, wanted: &dyn Fn(&str) -> bool, visit: &mut dyn FnMut(&str, &Path, &mut dyn Read) -> Result<()>) -> Result<()> {
    match source {
        Source::Folder(dir) => {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| wanted(n))
                .collect();
            names.sort();
            for name in names {
                let path = dir.join(&name);
                let mut file = BufReader::new(File::open(&path).map_err(|e| Error::io(&path, e))?);
                visit(&name, &path, &mut file)?;
            }
        }
        Source::Archive(path) => {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let mut archive = tar::Archive::new(BufReader::new(file));
            let broken = |e: std::io::Error| Error::format(path, format!("not a readable .tar archive ({e}); it may be truncated"));
            for entry in archive.entries_with_seek().map_err(broken)? {
                let mut entry = entry.map_err(broken)?;
                let member = entry.path().map_err(broken)?.into_owned();
                let name = member_name(&member);
                if wanted(&name) {
                    let label = PathBuf::from(format!("{}!{}", path.display(), member.display()));
                    visit(&name, &label, &mut entry)?;
                }
            }
        }
    }
    Ok(())
}

/// Convert the requested corruptions and severities of CIFAR-10-C at `path`
/// (the `.tar`, or a folder of `.npy` files), handing each converted split
/// (`test`, corruption and severity set) to `sink` as soon as it is read.
pub fn read_cifar10c(
    path: &Path,
    corruptions: &[&str],
    severities: &[u8],
    progress: bool,
    sink: &mut dyn FnMut(ImageSet) -> Result<()>,
) -> Result<()> {
    for name in corruptions {
        crate::corrupt::check_cifar10c_name(name)?;
    }
    for &s in severities {
        crate::corrupt::check_severity(s)?;
    }
    let source = if path.is_dir() {
        let nested = path.join(CIFAR10C_FOLDER);
        Source::Folder(if nested.is_dir() { nested } else { path.to_owned() })
    } else {
        Source::Archive(path.to_owned())
    };

    let mut labels: Option<Vec<u16>> = None;
    visit(&source, &|n| n == "labels.npy", &mut |_, name, reader| {
        let header = npy::read_header(reader, name)?;
        labels = Some(npy::read_labels(reader, &header, name)?);
        Ok(())
    })?;
    let labels = labels.ok_or_else(|| Error::format(path, format!("has no labels.npy (expected CIFAR-10-C's files under {CIFAR10C_FOLDER}/)")))?;
    if let Some(bad) = labels.iter().find(|&&l| l >= 10) {
        return Err(Error::format(path, format!("labels.npy holds label {bad}, expected 0..=9")));
    }

    let bar = crate::progress::bar(progress, (corruptions.len() * 5) as u64, "converting CIFAR-10-C", false);
    let mut found = Vec::new();
    let is_requested = |n: &str| corruptions.iter().any(|c| n.strip_suffix(".npy") == Some(*c));
    visit(&source, &is_requested, &mut |file, name, reader| {
        let corruption = file.trim_end_matches(".npy").to_owned();
        let header = npy::read_header(reader, name)?;
        let &[n, h, w, c] = header.shape.as_slice() else {
            return Err(Error::format(name, format!("shape {:?}, expected (images, height, width, channels)", header.shape)));
        };
        if header.dtype != Dtype::U8 {
            return Err(Error::format(name, format!("dtype {:?}, expected '|u1' pixels", header.dtype)));
        }
        if !n.is_multiple_of(5) || n != labels.len() {
            return Err(Error::format(
                name,
                format!("{n} images, expected 5 severity blocks matching the {} labels of labels.npy", labels.len()),
            ));
        }
        let block = n / 5;
        let mut buf = vec![0u8; block * h * w * c];
        for severity in 1..=5u8 {
            reader
                .read_exact(&mut buf)
                .map_err(|e| Error::format(name, format!("truncated in the severity {severity} block ({e})")))?;
            if severities.contains(&severity) {
                let mut pixels = Vec::with_capacity(buf.len());
                for image in buf.chunks_exact(h * w * c) {
                    hwc_to_chw(image, h, w, c, &mut pixels);
                }
                let start = (severity as usize - 1) * block;
                sink(ImageSet {
                    dataset: "cifar10c".into(),
                    split: "test".into(),
                    corruption: corruption.clone(),
                    severity,
                    shape: [c, h, w],
                    num_classes: 10,
                    labels: labels[start..start + block].to_vec(),
                    pixels,
                })?;
            }
            bar.inc(1);
        }
        found.push(corruption);
        Ok(())
    })?;
    bar.finish_and_clear();
    let missing: Vec<&&str> = corruptions.iter().filter(|c| !found.iter().any(|f| f == *c)).collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|c| format!("{c}.npy")).collect();
        return Err(Error::format(path, format!("has no {}", names.join(", "))));
    }
    Ok(())
}
