//! [`ImageSet`]: one split of an image classification dataset in memory, and
//! its Parquet layout, which is the same for every image dataset hessx knows.
//!
//! # Parquet layout
//!
//! One row per image, in the split's order:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `index` | Int64 | position of the image in the split (0-based) |
//! | `dataset` | Utf8 | dataset name, e.g. `cifar10` |
//! | `split` | Utf8 | `train` or `test` |
//! | `corruption` | Utf8 | corruption name, `none` for clean data |
//! | `severity` | UInt8 | 1..=5, 0 for clean data |
//! | `label` | UInt32 | class index in `0..num_classes` |
//! | `channels`, `height`, `width` | UInt32 | image shape |
//! | `image` | FixedSizeBinary(c*h*w) | pixels 0..=255, channel-major (CHW), as in CIFAR's binary records |
//!
//! The number of classes is kept in the Arrow schema metadata under
//! `hessx.num_classes` (a split may lack a class, so it cannot be inferred).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, FixedSizeBinaryArray};
use arrow::buffer::Buffer;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use hessx_store::column::{Column, batch_from_columns, read_array, read_column, read_parquet, write_parquet};

use crate::{Error, Result};

/// Schema metadata key holding the number of classes.
pub const NUM_CLASSES_KEY: &str = "hessx.num_classes";

/// An image classification split in memory: pixels u8, CHW per image
/// (channel-major, like CIFAR's binary records).
///
/// # Shapes
///
/// `pixels` has `len() * shape[0] * shape[1] * shape[2]` bytes; image `i`
/// occupies `pixels[i * c*h*w .. (i + 1) * c*h*w]`, channel planes one after
/// another, rows top to bottom within a plane.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Dataset name, e.g. `cifar10`, `digits`.
    pub dataset: String,
    /// `train` or `test`.
    pub split: String,
    /// Corruption name, `none` for clean data.
    pub corruption: String,
    /// Corruption severity 1..=5, 0 for clean data.
    pub severity: u8,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Number of classes of the dataset (labels are `0..num_classes`).
    pub num_classes: usize,
    /// One label per image.
    pub labels: Vec<u16>,
    /// All pixels, image after image, CHW within an image.
    pub pixels: Vec<u8>,
}

/// The one value a column holds in every row (empty for no rows); a second
/// value is an error naming the file and the column: one table holds one
/// `holds` (a split, or a shift of one).
pub(crate) fn single_value(path: &Path, column: &str, values: Vec<String>, holds: &str) -> Result<String> {
    let first = values.first().cloned().unwrap_or_default();
    match values.iter().find(|v| **v != first) {
        Some(other) => Err(Error::format(path, format!("column `{column}` mixes `{first}` and `{other}`; one table holds one {holds}"))),
        None => Ok(first),
    }
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image: `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The pixels of image `i` (CHW).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Check that the fields agree with each other; `what` names the set in the error.
    pub fn validate(&self, what: &Path) -> Result<()> {
        let n = self.image_len();
        if n == 0 {
            return Err(Error::format(what, format!("image shape {:?} has no pixels", self.shape)));
        }
        if self.pixels.len() != self.len() * n {
            return Err(Error::format(
                what,
                format!("{} pixels for {} images of shape {:?} (expected {})", self.pixels.len(), self.len(), self.shape, self.len() * n),
            ));
        }
        if let Some(bad) = self.labels.iter().find(|&&l| l as usize >= self.num_classes) {
            return Err(Error::format(what, format!("label {bad} is not below num_classes = {}", self.num_classes)));
        }
        if (self.corruption == "none") != (self.severity == 0) {
            return Err(Error::format(
                what,
                format!("corruption `{}` with severity {}: clean data has severity 0, corrupted data 1..=5", self.corruption, self.severity),
            ));
        }
        Ok(())
    }

    /// Per-channel mean and standard deviation of the pixels scaled to
    /// [0, 1], over all images and positions (for input normalisation).
    /// Both vectors have one entry per channel; an empty set gives zeros.
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let plane = h * w;
        let mut sum = vec![0f64; c];
        let mut sum_sq = vec![0f64; c];
        for image in self.pixels.chunks_exact(c * plane) {
            for (ch, values) in image.chunks_exact(plane).enumerate() {
                // Integer sums are exact; the u64s cannot overflow for any realistic set.
                let (s, s2) = values.iter().fold((0u64, 0u64), |(s, s2), &v| (s + v as u64, s2 + (v as u64) * (v as u64)));
                sum[ch] += s as f64;
                sum_sq[ch] += s2 as f64;
            }
        }
        let count = (self.len() * plane) as f64;
        if count == 0.0 {
            return (vec![0.0; c], vec![0.0; c]);
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count / 255.0).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(s2, m)| ((s2 / count / (255.0 * 255.0)) - m * m).max(0.0).sqrt() as f32)
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }

    /// The images at `indices`, in that order (labels follow).
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            pixels,
            ..self.header_clone()
        }
    }

    /// A copy of everything but the images.
    pub(crate) fn header_clone(&self) -> ImageSet {
        ImageSet {
            dataset: self.dataset.clone(),
            split: self.split.clone(),
            corruption: self.corruption.clone(),
            severity: self.severity,
            shape: self.shape,
            num_classes: self.num_classes,
            labels: Vec::new(),
            pixels: Vec::new(),
        }
    }

    fn to_batch(&self, path: &Path) -> Result<RecordBatch> {
        self.validate(path)?;
        let n = self.len();
        let size = self.image_len();
        let [c, h, w] = self.shape.map(|v| v as u32);
        let image: ArrayRef = Arc::new(
            FixedSizeBinaryArray::try_new(size as i32, Buffer::from_slice_ref(&self.pixels), None)
                .map_err(|source| hessx_store::Error::Arrow { path: path.to_owned(), source })?,
        );
        let repeat = |s: &String| String::to_array(vec![s; n]);
        let columns = vec![
            ("index", i64::to_array((0..n as i64).collect::<Vec<_>>().iter().collect())),
            ("dataset", repeat(&self.dataset)),
            ("split", repeat(&self.split)),
            ("corruption", repeat(&self.corruption)),
            ("severity", u8::to_array(vec![&self.severity; n])),
            ("label", u32::to_array(self.labels.iter().map(|&l| l as u32).collect::<Vec<_>>().iter().collect())),
            ("channels", u32::to_array(vec![&c; n])),
            ("height", u32::to_array(vec![&h; n])),
            ("width", u32::to_array(vec![&w; n])),
            ("image", image),
        ];
        let arrow_err = |source| hessx_store::Error::Arrow { path: path.to_owned(), source };
        let batch = batch_from_columns(columns).map_err(arrow_err)?;
        let metadata = HashMap::from([(NUM_CLASSES_KEY.to_owned(), self.num_classes.to_string())]);
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        Ok(RecordBatch::try_new(schema, batch.columns().to_vec()).map_err(arrow_err)?)
    }

    /// Write the set to the Parquet file `path` atomically (layout in the module docs).
    pub fn write(&self, path: &Path) -> Result<()> {
        let batch = self.to_batch(path)?;
        Ok(write_parquet(path, &[batch])?)
    }

    /// Read a set written by [`ImageSet::write`]; errors name the file and what is wrong.
    pub fn read(path: &Path) -> Result<ImageSet> {
        let batch = read_parquet(path)?;
        let n = batch.num_rows();
        let one = |name: &str, values: Vec<String>| single_value(path, name, values, "split");
        let dataset = one("dataset", read_column::<String>(&batch, "dataset", path)?)?;
        let split = one("split", read_column::<String>(&batch, "split", path)?)?;
        let corruption = one("corruption", read_column::<String>(&batch, "corruption", path)?)?;
        let severity = one("severity", read_column::<u8>(&batch, "severity", path)?.iter().map(u8::to_string).collect())?;
        let mut shape = [0usize; 3];
        for (dim, name) in shape.iter_mut().zip(["channels", "height", "width"]) {
            *dim = one(name, read_column::<u32>(&batch, name, path)?.iter().map(u32::to_string).collect())?.parse().unwrap_or(0);
        }
        let labels: Vec<u16> = read_column::<u32>(&batch, "label", path)?
            .into_iter()
            .map(|l| u16::try_from(l).map_err(|_| Error::format(path, format!("label {l} does not fit in u16"))))
            .collect::<Result<_>>()?;
        let size: usize = shape.iter().product();
        // Cast on read: a set rewritten by polars or pandas holds variable-length binary.
        let image = read_array(&batch, "image", &DataType::FixedSizeBinary(size as i32), path)?;
        let image = image.as_fixed_size_binary();
        if n > 0 && image.value_length() as usize != size {
            return Err(Error::format(
                path,
                format!("images have {} bytes but channels*height*width = {size} ({shape:?})", image.value_length()),
            ));
        }
        let pixels = if n == 0 {
            Vec::new()
        } else {
            // The values buffer of an array starts at its first row (offsets are applied when slicing).
            image.value_data()[..n * size].to_vec()
        };
        let num_classes = match batch.schema().metadata().get(NUM_CLASSES_KEY) {
            Some(v) => v.parse().map_err(|_| Error::format(path, format!("schema metadata {NUM_CLASSES_KEY} = `{v}` is not a number")))?,
            None => labels.iter().max().map_or(0, |&m| m as usize + 1),
        };
        let set = ImageSet {
            dataset,
            split,
            corruption,
            severity: severity.parse().unwrap_or(0),
            shape,
            num_classes,
            labels,
            pixels,
        };
        set.validate(path)?;
        Ok(set)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small set with distinct, position-dependent pixels.
    pub(crate) fn sample(n: usize, shape: [usize; 3]) -> ImageSet {
        let size: usize = shape.iter().product();
        ImageSet {
            dataset: "toy".into(),
            split: "train".into(),
            corruption: "none".into(),
            severity: 0,
            shape,
            num_classes: 7,
            labels: (0..n).map(|i| (i % 5) as u16).collect(),
            pixels: (0..n * size).map(|i| (i * 37 % 256) as u8).collect(),
        }
    }

    #[test]
    fn parquet_round_trip_is_pixel_exact_and_keeps_num_classes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let set = sample(13, [3, 4, 5]);
        set.write(&path).unwrap();
        let back = ImageSet::read(&path).unwrap();
        assert_eq!(back, set);
        // num_classes 7 is above max label + 1 = 5, so it must come from the metadata.
        assert_eq!(back.num_classes, 7);
        assert_eq!(back.image(12), set.image(12));
    }

    #[test]
    fn channel_stats_match_a_direct_computation() {
        let set = sample(9, [3, 2, 2]);
        let (mean, std) = set.channel_stats();
        for ch in 0..3 {
            let vals: Vec<f64> = (0..set.len()).flat_map(|i| set.image(i)[ch * 4..ch * 4 + 4].to_vec()).map(|v| v as f64 / 255.0).collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let s = (vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
            assert!((mean[ch] as f64 - m).abs() < 1e-6 && (std[ch] as f64 - s).abs() < 1e-5, "{ch}: {mean:?} {std:?} vs {m} {s}");
        }
    }

    #[test]
    fn inconsistent_sets_are_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        let mut set = sample(4, [1, 2, 2]);
        set.labels[2] = 9;
        let err = set.write(&path).unwrap_err().to_string();
        assert!(err.contains("bad.parquet") && err.contains("num_classes"), "{err}");
        let mut set = sample(4, [1, 2, 2]);
        set.pixels.pop();
        assert!(set.write(&path).unwrap_err().to_string().contains("pixels"));
    }

    #[test]
    fn a_table_of_another_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.parquet");
        let batch = batch_from_columns(vec![("x", i64::to_array(vec![&1]))]).unwrap();
        write_parquet(&path, &[batch]).unwrap();
        let err = ImageSet::read(&path).unwrap_err().to_string();
        assert!(err.contains("other.parquet") && err.contains("`dataset`"), "{err}");
    }

    /// Issue 19: a split rewritten the way pandas through pyarrow stores it
    /// (large strings, Int64 integers, the pixels as variable-length binary,
    /// an index column, columns reordered) reads back pixel-exact.
    #[test]
    fn a_set_rewritten_by_pandas_reads_back() {
        use arrow::compute::cast;
        use arrow::datatypes::{Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let set = sample(6, [3, 2, 2]);
        set.write(&path).unwrap();
        let batch = read_parquet(&path).unwrap();
        let schema = batch.schema();
        let mut columns: Vec<(Field, ArrayRef)> = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, a)| {
                let to = match a.data_type() {
                    DataType::Utf8 => DataType::LargeUtf8,
                    DataType::UInt8 | DataType::UInt32 => DataType::Int64,
                    DataType::FixedSizeBinary(_) => DataType::LargeBinary,
                    other => other.clone(),
                };
                (Field::new(f.name(), to.clone(), true), cast(a, &to).unwrap())
            })
            .collect();
        columns.reverse();
        columns.push((Field::new("__index_level_0__", DataType::Int64, true), i64::to_array((0..6i64).collect::<Vec<_>>().iter().collect())));
        // pyarrow keeps the schema metadata (num_classes); polars drops it and the maximum label is used.
        let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
        let foreign = Schema::new(fields).with_metadata(schema.metadata().clone());
        write_parquet(&path, &[RecordBatch::try_new(Arc::new(foreign), arrays).unwrap()]).unwrap();
        assert_eq!(read_parquet(&path).unwrap().column_by_name("image").unwrap().data_type(), &DataType::LargeBinary);
        assert_eq!(ImageSet::read(&path).unwrap(), set);
    }
}
