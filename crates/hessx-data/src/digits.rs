//! The embedded real dataset: the 1,797 8x8 handwritten digits of the UCI
//! "Optical Recognition of Handwritten Digits" test set (E. Alpaydin,
//! C. Kaynak, 1998; CC BY 4.0), as scikit-learn ships them in
//! `sklearn/datasets/data/digits.csv.gz`. The file is committed under
//! `data/digits/` and compiled into this crate, so everything runs offline.
//!
//! Each CSV row is 64 pixel counts 0..=16 (row-major) then the label 0..=9.
//! Pixels are stored as `min(v * 16, 255)`, so 0 stays black and the full
//! count 16 is white. The train/test split is stratified: each class gives
//! the share of its rows to `test` that makes 360 test rows in all (largest
//! remainder), picked by a Fisher-Yates shuffle of that class's rows under
//! ChaCha8 seed 0; both splits keep the CSV's row order.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, ImageSet, Result};

/// The committed `digits.csv.gz`, compiled in.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../data/digits/digits.csv.gz");
/// SHA-256 of scikit-learn's `digits.csv.gz` (the committed copy).
pub const DIGITS_CSV_SHA256: &str = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22";
/// Rows in the CSV.
pub const DIGITS_ROWS: usize = 1797;
/// Rows in the test split (about 20%).
pub const DIGITS_TEST_ROWS: usize = 360;
/// Seed of the split.
pub const DIGITS_SPLIT_SEED: u64 = 0;
/// How the split and scaling are made, recorded in the manifest.
pub const DIGITS_RECIPE: &str = "digits.csv.gz sha256=09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22; stratified 360-row test split, Fisher-Yates per class under ChaCha8 seed 0; pixels min(v*16, 255)";

/// Parse a gzipped digits CSV into `(pixels 0..=16 as 64 bytes per row, labels)`.
pub fn parse_csv_gz(bytes: &[u8], path: &Path) -> Result<(Vec<u8>, Vec<u16>)> {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| Error::format(path, format!("not a gzipped text CSV ({e})")))?;
    let mut pixels = Vec::with_capacity(DIGITS_ROWS * 64);
    let mut labels = Vec::with_capacity(DIGITS_ROWS);
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let values: Vec<&str> = line.split(',').collect();
        let bad = |m: String| Error::format(path, format!("line {}: {m}", line_no + 1));
        if values.len() != 65 {
            return Err(bad(format!("{} values, expected 64 pixels and a label", values.len())));
        }
        for v in &values[..64] {
            let v: f64 = v.trim().parse().map_err(|_| bad(format!("pixel `{v}` is not a number")))?;
            if !(0.0..=16.0).contains(&v) || v.fract() != 0.0 {
                return Err(bad(format!("pixel {v} is not an integer in 0..=16")));
            }
            pixels.push(v as u8);
        }
        let label: f64 = values[64].trim().parse().map_err(|_| bad(format!("label `{}` is not a number", values[64])))?;
        if !(0.0..=9.0).contains(&label) || label.fract() != 0.0 {
            return Err(bad(format!("label {label} is not a digit 0..=9")));
        }
        labels.push(label as u16);
    }
    Ok((pixels, labels))
}

/// Uniform index below `n` from a 64-bit draw (multiply-shift; the bias is
/// below 2^-50 for our sizes). Written out so the split never changes with
/// the `rand` crate's version.
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((rng.next_u64() as u128 * n as u128) >> 64) as usize
}

/// The rows of each split: `(train, test)`, both in ascending row order.
pub fn split_rows(labels: &[u16], test_rows: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let by_class: Vec<Vec<usize>> = (0..classes).map(|c| (0..labels.len()).filter(|&i| labels[i] as usize == c).collect()).collect();
    // Largest-remainder apportionment of the test rows to the classes.
    let quota: Vec<f64> = by_class.iter().map(|rows| rows.len() as f64 * test_rows as f64 / labels.len() as f64).collect();
    let mut take: Vec<usize> = quota.iter().map(|q| q.floor() as usize).collect();
    let mut order: Vec<usize> = (0..classes).collect();
    order.sort_by(|&a, &b| (quota[b] - quota[b].floor()).total_cmp(&(quota[a] - quota[a].floor())).then(a.cmp(&b)));
    let short = test_rows - take.iter().sum::<usize>();
    for &c in order.iter().take(short) {
        take[c] += 1;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut test = Vec::with_capacity(test_rows);
    for (mut rows, k) in by_class.into_iter().zip(take) {
        for i in (1..rows.len()).rev() {
            let j = below(&mut rng, i + 1);
            rows.swap(i, j);
        }
        test.extend_from_slice(&rows[..k]);
    }
    test.sort_unstable();
    let mut is_test = vec![false; labels.len()];
    test.iter().for_each(|&i| is_test[i] = true);
    let train = (0..labels.len()).filter(|&i| !is_test[i]).collect();
    (train, test)
}

/// The `(train, test)` image sets from a gzipped digits CSV (see the module docs).
pub fn digits_from_csv_gz(bytes: &[u8], path: &Path) -> Result<(ImageSet, ImageSet)> {
    let (counts, labels) = parse_csv_gz(bytes, path)?;
    if labels.len() != DIGITS_ROWS {
        return Err(Error::format(path, format!("{} rows, expected the {DIGITS_ROWS} rows of scikit-learn's digits", labels.len())));
    }
    let all = ImageSet {
        dataset: "digits".into(),
        split: String::new(),
        corruption: "none".into(),
        severity: 0,
        shape: [1, 8, 8],
        num_classes: 10,
        labels: labels.clone(),
        pixels: counts.iter().map(|&v| (v as u16 * 16).min(255) as u8).collect(),
    };
    let (train, test) = split_rows(&labels, DIGITS_TEST_ROWS, DIGITS_SPLIT_SEED);
    let mut train = all.select(&train);
    train.split = "train".into();
    let mut test = all.select(&test);
    test.split = "test".into();
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_csv_is_sklearns_and_splits_as_documented() {
        assert_eq!(crate::manifest::sha256_bytes(DIGITS_CSV_GZ), DIGITS_CSV_SHA256);
        let path = Path::new("digits.csv.gz");
        let (train, test) = digits_from_csv_gz(DIGITS_CSV_GZ, path).unwrap();
        assert_eq!((train.len(), test.len()), (1437, 360));
        // First CSV row: 0,0,5,13,9,1,0,0,... label 0; row 0 must be in one of the splits, pixel 2 = 5*16.
        let (counts, labels) = parse_csv_gz(DIGITS_CSV_GZ, path).unwrap();
        assert_eq!(&counts[..4], &[0, 0, 5, 13]);
        assert_eq!(labels[0], 0);
        let (tr, te) = split_rows(&labels, 360, 0);
        let first = if tr.first() == Some(&0) { train.image(0) } else { assert_eq!(te[0], 0); test.image(0) };
        assert_eq!(&first[..4], &[0, 0, 80, 208]);
        // Stratified: each class's test share is within one row of 360/1797.
        for c in 0..10u16 {
            let n = labels.iter().filter(|&&l| l == c).count() as f64;
            let k = test.labels.iter().filter(|&&l| l == c).count() as f64;
            assert!((k - n * 360.0 / 1797.0).abs() < 1.0, "class {c}: {k} of {n}");
        }
        // Disjoint, complete, sorted.
        let mut all: Vec<usize> = tr.iter().chain(&te).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        assert!(te.windows(2).all(|w| w[0] < w[1]));
        // 16 maps to 255, the cap.
        assert!(train.pixels.contains(&255) && !train.pixels.iter().any(|&v| v != 255 && v % 16 != 0));
    }

    #[test]
    fn bad_csvs_name_the_file_and_line() {
        let gz = |text: &str| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, text.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let path = Path::new("my.csv.gz");
        let row = vec!["1"; 64].join(",");
        let err = parse_csv_gz(&gz(&format!("{row},3\n{row}\n")), path).unwrap_err().to_string();
        assert!(err.contains("my.csv.gz") && err.contains("line 2") && err.contains("64 pixels"), "{err}");
        let err = parse_csv_gz(&gz(&format!("{row},12\n")), path).unwrap_err().to_string();
        assert!(err.contains("label 12"), "{err}");
        let err = parse_csv_gz(b"plain text", path).unwrap_err().to_string();
        assert!(err.contains("gzipped"), "{err}");
        let err = digits_from_csv_gz(&gz(&format!("{row},3\n")), path).unwrap_err().to_string();
        assert!(err.contains("1 rows") && err.contains("1797"), "{err}");
    }
}
