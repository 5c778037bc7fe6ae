//! The cells of a sweep (clean, then every corruption x severity), their
//! families, and the images each cell is measured on.

use hessx_data::corrupt::corrupt_set;
use hessx_data::{Corruption, ImageSet, load_images};
use hessx_store::DataDir;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where a corrupted cell's images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The published CIFAR-10-C images where `hx-fetch cifar10c` fetched them, else hessx's own corruption.
    Auto,
    /// Always hessx's corruption of the clean test split (seeded by `--corruption-seed`).
    Computed,
    /// Always the published archive (CIFAR-10 only); a missing cell is an error.
    Archive,
}

/// Hendrycks & Dietterich's four families, with their four extra corruptions
/// placed by kind (speckle noise with the noises, Gaussian blur with the
/// blurs, spatter with the weather, saturate with the digital ones).
pub const FAMILIES: [(&str, &[&str]); 4] = [
    ("noise", &["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"]),
    ("blur", &["defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"]),
    ("weather", &["snow", "frost", "fog", "brightness", "spatter"]),
    ("digital", &["contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate"]),
];

/// The family of corruption `name` (`clean` for `none`).
pub fn family(name: &str) -> &'static str {
    FAMILIES.iter().find(|(_, members)| members.contains(&name)).map_or("clean", |(f, _)| f)
}

/// One cell: the clean data (`corruption` `None`) or one corruption at one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The corruption; `None` for the clean cell.
    pub corruption: Option<Corruption>,
    /// 1..=5, 0 for the clean cell.
    pub severity: u8,
}

impl Cell {
    /// The clean cell.
    pub const CLEAN: Cell = Cell { corruption: None, severity: 0 };

    /// The corruption's name, `none` for the clean cell (the identity column).
    pub fn name(&self) -> &'static str {
        self.corruption.map_or("none", Corruption::name)
    }

    /// A stable number for the cell, the same in every sweep: 0 for clean, then
    /// `1 + 5 x (position in CIFAR-10-C's list) + severity - 1`. It picks the
    /// cell's probe stream, so cells draw independent probes.
    pub fn stream(&self) -> u64 {
        match self.corruption {
            None => 0,
            Some(c) => {
                let position = Corruption::ALL.iter().position(|&a| a == c).expect("every corruption is in ALL");
                1 + 5 * position as u64 + u64::from(self.severity) - 1
            }
        }
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.corruption {
            None => write!(f, "clean"),
            Some(c) => write!(f, "{} severity {}", c.name(), self.severity),
        }
    }
}

/// The cells of a sweep over `corruptions` x `severities` on images with
/// `channels` channels, clean first. Corruptions that do not apply to the
/// images (saturate on one channel) are left out and returned apart when they
/// were not asked for by name (`explicit` false); asked for by name they are
/// an error naming `--corruptions`.
pub fn sweep_cells(corruptions: &[String], severities: &[u8], channels: usize, explicit: bool) -> Result<(Vec<Cell>, Vec<String>)> {
    let mut cells = vec![Cell::CLEAN];
    let mut skipped = Vec::new();
    for name in corruptions {
        let c = Corruption::parse(name).map_err(|e| Error::Input(format!("--corruptions: {e}")))?;
        if let Err(e) = c.check_channels(channels) {
            if explicit {
                return Err(Error::Input(format!("--corruptions {name}: {e}")));
            }
            skipped.push(format!("{name} ({e})"));
            continue;
        }
        for &severity in severities {
            cells.push(Cell { corruption: Some(c), severity });
        }
    }
    Ok((cells, skipped))
}

/// The images of `cell`: `clean` itself, the archive's table for CIFAR-10, or
/// hessx's corruption of `clean` under `seed`. Returns the images and their
/// source (`clean`, `archive` or `computed`). `subset` picks the same images
/// (by position in the clean test split) in every cell.
pub fn cell_images(
    data: &DataDir,
    dataset: &str,
    clean: &ImageSet,
    subset: &[usize],
    cell: Cell,
    source: Source,
    seed: u64,
) -> Result<(ImageSet, &'static str)> {
    let Some(corruption) = cell.corruption else {
        return Ok((clean.select(subset), "clean"));
    };
    let key = Some((corruption.name(), cell.severity));
    let archive = data.table("cifar10c", "test", key);
    let use_archive = match source {
        Source::Computed => false,
        Source::Auto => dataset == "cifar10" && archive.exists(),
        Source::Archive => {
            if dataset != "cifar10" {
                return Err(Error::Input(format!(
                    "--source archive: the published archive exists for cifar10 only, and this run trained on {dataset}; use --source computed"
                )));
            }
            true
        }
    };
    if use_archive {
        let set = load_images(data, "cifar10c", "test", key)?;
        if set.len() != clean.len() || set.shape != clean.shape {
            return Err(Error::Input(format!(
                "{}: {} images of shape {:?}, but the clean test split has {} of shape {:?}; CIFAR-10-C's cells are the \
                 clean test images corrupted in order, so the counts must match (fetch it again with hx-fetch cifar10c)",
                archive.display(),
                set.len(),
                set.shape,
                clean.len(),
                clean.shape
            )));
        }
        return Ok((set.select(subset), "archive"));
    }
    let set = corrupt_set(&clean.select(subset), corruption, cell.severity, seed, false)?;
    Ok((set, "computed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_corruption_has_one_family_and_streams_are_distinct() {
        for c in Corruption::ALL {
            assert_eq!(FAMILIES.iter().filter(|(_, m)| m.contains(&c.name())).count(), 1, "{}", c.name());
        }
        let names: Vec<String> = Corruption::ALL.iter().map(|c| c.name().to_owned()).collect();
        let (cells, skipped) = sweep_cells(&names, &[1, 2, 3, 4, 5], 3, false).unwrap();
        assert_eq!(cells.len(), 96);
        assert!(skipped.is_empty());
        let mut streams: Vec<u64> = cells.iter().map(Cell::stream).collect();
        streams.sort();
        streams.dedup();
        assert_eq!(streams.len(), 96);
    }

    #[test]
    fn saturate_is_left_out_on_grey_images_unless_asked_for() {
        let names = vec!["fog".to_owned(), "saturate".to_owned()];
        let (cells, skipped) = sweep_cells(&names, &[5], 1, false).unwrap();
        assert_eq!(cells.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["clean", "fog severity 5"]);
        assert!(skipped[0].starts_with("saturate"), "{skipped:?}");
        let err = sweep_cells(&names, &[5], 1, true).unwrap_err().to_string();
        assert!(err.contains("--corruptions saturate"), "{err}");
        let err = sweep_cells(&["fgo".to_owned()], &[5], 1, false).unwrap_err().to_string();
        assert!(err.contains("--corruptions") && err.contains("fgo"), "{err}");
    }
}
