//! Token sequences for the sequence Transformer: fixed-length rows of token
//! ids with a class label each, and their Parquet layout.
//!
//! # Parquet layout
//!
//! One row per sequence, in the split's order:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `index` | Int64 | position of the row in the split (0-based) |
//! | `dataset` | Utf8 | dataset name, e.g. `sequences` |
//! | `split` | Utf8 | `train` or `test` |
//! | `corruption` | Utf8 | shift name, `none` for clean data |
//! | `severity` | UInt8 | 1..=5, 0 for clean data |
//! | `label` | UInt32 | class index in `0..num_classes` |
//! | `tokens` | FixedSizeList<UInt32>(length) | token ids, each below the vocabulary size |
//!
//! The schema metadata holds the vocabulary size (`hessx.vocab`, which marks
//! the table as a token table), the number of classes (`hessx.num_classes`,
//! as for images: a split may lack a class) and the row length
//! (`hessx.length`, so that an empty split still knows it). Readers also
//! accept a `List`/`LargeList` of any integer type for `tokens` (a table
//! rewritten by pandas or polars) as long as every row has the same length.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, UInt32Array};
use arrow::datatypes::{DataType, Field, UInt32Type};
use arrow::record_batch::RecordBatch;
use hessx_store::column::{Column, batch_from_columns, read_column, read_parquet, write_parquet};

use crate::image_set::{NUM_CLASSES_KEY, single_value};
use crate::{Error, Result};

/// Schema metadata key holding the vocabulary size of a token table.
pub const VOCAB_KEY: &str = "hessx.vocab";

/// Schema metadata key holding the number of tokens per row.
pub const LENGTH_KEY: &str = "hessx.length";

/// A split of a sequence classification dataset.
///
/// # Shapes
///
/// `tokens` is `len() x length`, row-major (token `t` of row `i` at
/// `i * length + t`), every id below `vocab`; `labels` has `len()` entries
/// below `num_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    /// Dataset name, e.g. `sequences`.
    pub dataset: String,
    /// `train` or `test`.
    pub split: String,
    /// Shift name, `none` for the clean data.
    pub corruption: String,
    /// Shift severity 1..=5, 0 for the clean data.
    pub severity: u8,
    /// Number of distinct token ids.
    pub vocab: usize,
    /// Tokens per row.
    pub length: usize,
    /// Number of classes (labels are `0..num_classes`).
    pub num_classes: usize,
    /// Token ids, row-major.
    pub tokens: Vec<u32>,
    /// One label per row.
    pub labels: Vec<u16>,
}

impl TokenSet {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no row.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The tokens of row `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.tokens[i * self.length..(i + 1) * self.length]
    }

    /// The rows at `indices`, in that order (labels follow).
    pub fn select(&self, indices: &[usize]) -> TokenSet {
        TokenSet {
            tokens: indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            dataset: self.dataset.clone(),
            split: self.split.clone(),
            corruption: self.corruption.clone(),
            ..*self
        }
    }

    /// Check that the fields agree with each other; `what` names the set
    /// (its file) in the error, which also names the first bad row.
    pub fn validate(&self, what: &Path) -> Result<()> {
        if self.length == 0 || self.vocab == 0 || self.num_classes == 0 {
            return Err(Error::format(
                what,
                format!("length {}, vocab {}, num_classes {}: all must be at least 1", self.length, self.vocab, self.num_classes),
            ));
        }
        if self.vocab > u32::MAX as usize + 1 || self.num_classes > u16::MAX as usize + 1 {
            return Err(Error::format(what, format!("vocab {} or num_classes {} too large", self.vocab, self.num_classes)));
        }
        if self.tokens.len() != self.len() * self.length {
            return Err(Error::format(
                what,
                format!(
                    "{} token ids for {} rows of length {} (expected {})",
                    self.tokens.len(),
                    self.len(),
                    self.length,
                    self.len() * self.length
                ),
            ));
        }
        if let Some(i) = self.tokens.iter().position(|&t| t as usize >= self.vocab) {
            return Err(Error::format(
                what,
                format!("row {} position {} has token id {}, not below the vocabulary size {}", i / self.length, i % self.length, self.tokens[i], self.vocab),
            ));
        }
        if let Some(i) = self.labels.iter().position(|&l| l as usize >= self.num_classes) {
            return Err(Error::format(what, format!("row {i} has label {}, not below num_classes = {}", self.labels[i], self.num_classes)));
        }
        if (self.corruption == "none") != (self.severity == 0) {
            return Err(Error::format(
                what,
                format!("shift `{}` with severity {}: clean data has severity 0, shifted data 1..=5", self.corruption, self.severity),
            ));
        }
        Ok(())
    }

    /// Write the set to the Parquet file `path` atomically (layout in the module docs).
    pub fn write(&self, path: &Path) -> Result<()> {
        self.validate(path)?;
        let n = self.len();
        let item = Arc::new(Field::new("item", DataType::UInt32, false));
        let values = Arc::new(UInt32Array::from(self.tokens.clone()));
        let arrow_err = |source| hessx_store::Error::Arrow { path: path.to_owned(), source };
        let tokens: ArrayRef = Arc::new(FixedSizeListArray::try_new(item, self.length as i32, values, None).map_err(arrow_err)?);
        let repeat = |s: &String| String::to_array(vec![s; n]);
        let columns = vec![
            ("index", i64::to_array((0..n as i64).collect::<Vec<_>>().iter().collect())),
            ("dataset", repeat(&self.dataset)),
            ("split", repeat(&self.split)),
            ("corruption", repeat(&self.corruption)),
            ("severity", u8::to_array(vec![&self.severity; n])),
            ("label", u32::to_array(self.labels.iter().map(|&l| l as u32).collect::<Vec<_>>().iter().collect())),
            ("tokens", tokens),
        ];
        let batch = batch_from_columns(columns).map_err(arrow_err)?;
        let metadata = HashMap::from([
            (VOCAB_KEY.to_owned(), self.vocab.to_string()),
            (NUM_CLASSES_KEY.to_owned(), self.num_classes.to_string()),
            (LENGTH_KEY.to_owned(), self.length.to_string()),
        ]);
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        let batch = RecordBatch::try_new(schema, batch.columns().to_vec()).map_err(arrow_err)?;
        Ok(write_parquet(path, &[batch])?)
    }

    /// Read a set written by [`TokenSet::write`]; errors name the file and what is wrong.
    pub fn read(path: &Path) -> Result<TokenSet> {
        let batch = read_parquet(path)?;
        let metadata = batch.schema().metadata().clone();
        let number = |key: &str| -> Result<usize> {
            let v = metadata
                .get(key)
                .ok_or_else(|| Error::format(path, format!("schema metadata has no {key}: not a hessx token table")))?;
            v.parse().map_err(|_| Error::format(path, format!("schema metadata {key} = `{v}` is not a number")))
        };
        let vocab = number(VOCAB_KEY)?;
        let num_classes = number(NUM_CLASSES_KEY)?;
        let length = number(LENGTH_KEY)?;
        let one = |name: &str, values: Vec<String>| single_value(path, name, values, "split");
        let dataset = one("dataset", read_column::<String>(&batch, "dataset", path)?)?;
        let split = one("split", read_column::<String>(&batch, "split", path)?)?;
        let corruption = one("corruption", read_column::<String>(&batch, "corruption", path)?)?;
        let severity = one("severity", read_column::<u8>(&batch, "severity", path)?.iter().map(u8::to_string).collect())?;
        let labels: Vec<u16> = read_column::<u32>(&batch, "label", path)?
            .into_iter()
            .enumerate()
            .map(|(i, l)| u16::try_from(l).map_err(|_| Error::format(path, format!("row {i} has label {l}, which does not fit in u16"))))
            .collect::<Result<_>>()?;
        let tokens = read_tokens(&batch, length, path)?;
        // An empty table has no row to say which shift it holds: read it as clean.
        let (corruption, severity) = if labels.is_empty() { ("none".into(), 0) } else { (corruption, severity.parse().unwrap_or(0)) };
        let set = TokenSet { dataset, split, corruption, severity, vocab, length, num_classes, tokens, labels };
        set.validate(path)?;
        Ok(set)
    }
}

/// The `tokens` column, flattened row-major, whatever list and integer type
/// it was stored as; every row must hold `length` ids.
fn read_tokens(batch: &RecordBatch, length: usize, path: &Path) -> Result<Vec<u32>> {
    let array = batch
        .column_by_name("tokens")
        .ok_or_else(|| Error::format(path, "has no column `tokens` (expected a FixedSizeList<UInt32> column)"))?;
    if array.null_count() > 0 {
        return Err(Error::format(path, format!("column `tokens` has {} missing rows", array.null_count())));
    }
    let list_item = |dt: &DataType| {
        matches!(dt, DataType::FixedSizeList(f, _) | DataType::List(f) | DataType::LargeList(f) if f.data_type().is_integer())
    };
    if !list_item(array.data_type()) {
        return Err(Error::format(path, format!("column `tokens` is {}, expected a list of UInt32 token ids", array.data_type())));
    }
    let target = DataType::List(Arc::new(Field::new("item", DataType::UInt32, true)));
    let checked = arrow::compute::CastOptions { safe: false, ..Default::default() };
    let list = arrow::compute::cast_with_options(array, &target, &checked)
        .map_err(|e| Error::format(path, format!("column `tokens` holds ids that are not valid UInt32 ({e})")))?;
    let list = list.as_list::<i32>();
    let mut out = Vec::with_capacity(list.len() * length);
    for i in 0..list.len() {
        let row = list.value(i);
        if row.len() != length || row.null_count() > 0 {
            return Err(Error::format(
                path,
                format!("row {i} has {} token ids ({} missing), expected {length} (schema metadata {LENGTH_KEY})", row.len(), row.null_count()),
            ));
        }
        out.extend_from_slice(row.as_primitive::<UInt32Type>().values());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenSet {
        TokenSet {
            dataset: "toy".into(),
            split: "train".into(),
            corruption: "none".into(),
            severity: 0,
            vocab: 11,
            length: 3,
            num_classes: 5,
            tokens: (0..15).map(|i| (i * 7 % 11) as u32).collect(),
            labels: vec![0, 4, 2, 1, 3],
        }
    }

    #[test]
    fn parquet_round_trip_keeps_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let set = sample();
        set.write(&path).unwrap();
        assert_eq!(TokenSet::read(&path).unwrap(), set);
        let meta = hessx_store::column::read_schema_metadata(&path).unwrap();
        assert_eq!((meta[VOCAB_KEY].as_str(), meta[NUM_CLASSES_KEY].as_str(), meta[LENGTH_KEY].as_str()), ("11", "5", "3"));
        // An empty split keeps its shape in the metadata.
        set.select(&[]).write(&path).unwrap();
        let empty = TokenSet::read(&path).unwrap();
        assert_eq!((empty.len(), empty.length, empty.vocab, empty.num_classes), (0, 3, 11, 5));
        let shifted = TokenSet { corruption: "truncate".into(), severity: 2, ..set.select(&[4, 0]) };
        shifted.write(&path).unwrap();
        let back = TokenSet::read(&path).unwrap();
        assert_eq!((back.row(0), back.labels.as_slice(), back.severity), (&[7u32, 3, 10][..], &[3u16, 0][..], 2));
    }

    #[test]
    fn bad_sets_are_refused_naming_the_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        let mut set = sample();
        set.tokens[7] = 11;
        let err = set.write(&path).unwrap_err().to_string();
        assert!(err.contains("bad.parquet") && err.contains("row 2 position 1") && err.contains("vocabulary size 11"), "{err}");
        let mut set = sample();
        set.labels[3] = 5;
        let err = set.write(&path).unwrap_err().to_string();
        assert!(err.contains("row 3") && err.contains("num_classes = 5"), "{err}");
        let mut set = sample();
        set.tokens.pop();
        assert!(set.write(&path).unwrap_err().to_string().contains("14 token ids for 5 rows of length 3"));
        let set = TokenSet { severity: 3, ..sample() };
        assert!(set.write(&path).unwrap_err().to_string().contains("severity 3"));
    }

    #[test]
    fn a_table_rewritten_with_int64_lists_reads_back_and_others_are_refused() {
        use arrow::compute::cast;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let set = sample();
        set.write(&path).unwrap();
        let batch = read_parquet(&path).unwrap();
        let to = DataType::LargeList(Arc::new(Field::new("element", DataType::Int64, true)));
        let columns: Vec<ArrayRef> =
            batch.columns().iter().map(|a| if matches!(a.data_type(), DataType::FixedSizeList(..)) { cast(a, &to).unwrap() } else { a.clone() }).collect();
        let fields: Vec<Field> =
            batch.schema().fields().iter().zip(&columns).map(|(f, a)| Field::new(f.name(), a.data_type().clone(), true)).collect();
        let schema = arrow::datatypes::Schema::new(fields).with_metadata(batch.schema().metadata().clone());
        write_parquet(&path, &[RecordBatch::try_new(Arc::new(schema), columns).unwrap()]).unwrap();
        assert_eq!(TokenSet::read(&path).unwrap(), set);
        // An image table has no vocabulary: the error says what the file is not.
        crate::image_set::tests::sample(2, [1, 2, 2]).write(&path).unwrap();
        let err = TokenSet::read(&path).unwrap_err().to_string();
        assert!(err.contains("t.parquet") && err.contains(VOCAB_KEY), "{err}");
    }
}
