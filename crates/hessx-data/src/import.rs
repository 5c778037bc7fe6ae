//! Import a user's Parquet table as a tabular dataset (`hx-fetch table`):
//! the label column becomes 0/1 clicks, categorical columns become ids,
//! dense columns are standardised, and a seeded train/test split is written
//! in [`CtrSet`]'s layout, so that Wide&Deep and the tabular shifts work on
//! it exactly as on the generated `ctr` data.
//!
//! Categorical ids are assigned from the training rows only, most frequent
//! value first (ties in value order): id 0 is "unknown", taken by nulls, by
//! values seen only in the test rows and by `drop_fields`. Dense columns are
//! standardised with the training rows' mean and standard deviation (a
//! constant column is only centred); a null or NaN becomes 0 after
//! standardising, i.e. the training mean. Everything needed to apply the same
//! mapping again is written to `<dataset>/vocabulary.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use hessx_store::DataDir;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::fetch::{FetchReport, Folder};
use crate::manifest::{Manifest, sha256_file};
use crate::{CtrSet, Error, Result};

/// File name of the mapping written next to an imported dataset's tables.
pub const VOCABULARY_FILE: &str = "vocabulary.json";

/// What `hx-fetch table` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportConfig {
    /// The user's Parquet table.
    pub input: PathBuf,
    /// Dataset name (folder under the data directory).
    pub name: String,
    /// The 0/1 (or boolean) label column.
    pub label: String,
    /// Categorical columns (integer or string), at least one.
    pub categorical: Vec<String>,
    /// Dense columns (any numeric type), possibly none.
    pub dense: Vec<String>,
    /// Share of the rows held out for `test`, in (0, 1). Default 0.2.
    pub test_fraction: f64,
    /// Seed of the split. Default 1.
    pub seed: u64,
}

impl ImportConfig {
    /// The `hx-fetch table` command line that makes this import (also the
    /// start of its recipe, which is how [`crate::fetch_command`] finds it).
    pub fn command(&self) -> String {
        let mut cmd = format!(
            "hx-fetch table --input {} --name {} --label {} --categorical {}",
            self.input.display(),
            self.name,
            self.label,
            self.categorical.join(",")
        );
        if !self.dense.is_empty() {
            cmd.push_str(&format!(" --dense {}", self.dense.join(",")));
        }
        cmd.push_str(&format!(" --test-fraction {} --seed {}", self.test_fraction, self.seed));
        cmd
    }

    fn check(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(Error::invalid("--name", format!("`{}`: a dataset name is a plain folder name, e.g. `adult`", self.name)));
        }
        if self.categorical.is_empty() {
            return Err(Error::invalid("--categorical", "name at least one categorical column (the wide side of Wide&Deep needs one)"));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(Error::invalid("--test-fraction", format!("{}: must be strictly between 0 and 1", self.test_fraction)));
        }
        let mut seen: HashMap<&str, &str> = HashMap::from([(self.label.as_str(), "--label")]);
        for (flag, columns) in [("--categorical", &self.categorical), ("--dense", &self.dense)] {
            for c in columns {
                if let Some(first) = seen.insert(c, flag) {
                    return Err(Error::invalid(flag, format!("column `{c}` is already given to {first}; each column has one role")));
                }
            }
        }
        Ok(())
    }
}

/// The mapping from the user's values to the tables', written as
/// `vocabulary.json` so the import can be reproduced and applied to new rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// The input file, as given.
    pub input: String,
    /// Its SHA-256.
    pub input_sha256: String,
    /// The label column.
    pub label: String,
    /// Share of rows held out.
    pub test_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Rows in `train` and `test`.
    pub rows: [usize; 2],
    /// One entry per categorical field, in field order (`cat_0`, ...).
    pub categorical: Vec<CategoricalField>,
    /// One entry per dense feature, in order.
    pub dense: Vec<DenseField>,
}

/// How one categorical column was mapped to ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalField {
    /// The user's column.
    pub column: String,
    /// The table's column (`cat_<k>`).
    pub field: String,
    /// `integer` or `string`.
    pub kind: String,
    /// The value of id `k + 1` at position `k` (id 0 is "unknown").
    pub values: Vec<serde_json::Value>,
    /// Null values (mapped to 0).
    pub nulls: usize,
    /// Test rows whose value never occurs in training (mapped to 0).
    pub unseen_in_test: usize,
}

/// How one dense column was standardised: `(x - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseField {
    /// The user's column.
    pub column: String,
    /// Mean over the training rows.
    pub mean: f64,
    /// Standard deviation over the training rows (1 for a constant column).
    pub std: f64,
    /// Null or NaN values (0 after standardising).
    pub nulls: usize,
}

/// A categorical value, ordered so that ties in frequency break the same way every time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Str(String),
}

impl Key {
    fn json(&self) -> serde_json::Value {
        match self {
            Key::Int(v) => serde_json::Value::from(*v),
            Key::Str(s) => serde_json::Value::from(s.as_str()),
        }
    }
}

/// The recorded import command of dataset `dataset`, if it was imported.
pub(crate) fn import_command(data: &DataDir, dataset: &str) -> Option<String> {
    let manifest = Manifest::load(&data.manifest(dataset)).ok()??;
    manifest.tables.values().find_map(|e| e.recipe.strip_prefix("hx-fetch table ").map(|rest| {
        let command = rest.split("; input sha256=").next().unwrap_or(rest);
        format!("hx-fetch table {command}")
    }))
}

/// Import `config.input` as dataset `config.name` (see the module docs);
/// nothing is done when its tables are complete for the same input and flags.
pub fn import_table(data: &DataDir, config: &ImportConfig) -> Result<FetchReport> {
    config.check()?;
    let input = &config.input;
    if !input.is_file() {
        return Err(Error::invalid("--input", format!("{}: no such file (expected a Parquet table)", input.display())));
    }
    let sha = sha256_file(input)?;
    let command = config.command();
    let recipe = format!("{command}; input sha256={sha}; table import v1");
    let mut folder = Folder::open(data, &config.name)?;
    let vocabulary_path = data.dataset(&config.name).join(VOCABULARY_FILE);
    let need_train = folder.needs("train", None, &recipe)?;
    let need_test = folder.needs("test", None, &recipe)?;
    if !(need_train || need_test || !vocabulary_path.exists()) {
        return Ok(folder.report);
    }
    let batch = hessx_store::column::read_parquet(input)?;
    let (train, test, vocabulary) = convert(&batch, config, &sha)?;
    for field in &vocabulary.categorical {
        if field.nulls > 0 {
            folder.report.notes.push(format!("--categorical {}: {} null values mapped to id 0 (unknown)", field.column, field.nulls));
        }
        if field.unseen_in_test > 0 {
            folder.report.notes.push(format!(
                "--categorical {}: {} test rows hold a value never seen in training, mapped to id 0 (unknown)",
                field.column, field.unseen_in_test
            ));
        }
    }
    for field in vocabulary.dense.iter().filter(|f| f.nulls > 0) {
        folder.report.notes.push(format!("--dense {}: {} null or NaN values set to 0 (the training mean)", field.column, field.nulls));
    }
    let mut json = serde_json::to_string_pretty(&vocabulary).expect("a vocabulary always serialises");
    json.push('\n');
    hessx_store::write_bytes_atomic(&vocabulary_path, json.as_bytes())?;
    folder.manifest.source = format!(
        "imported from {} (sha256 {sha}) by `{command}`; categorical ids and dense statistics in {VOCABULARY_FILE}",
        input.display()
    );
    folder.manifest.class_names = vec!["0".into(), "1".into()];
    for set in [train, test] {
        folder.write_ctr(&set, ("none", 0), &recipe, Some(config.seed))?;
    }
    Ok(folder.report)
}

/// The user's column `name`, or an error naming `flag` and listing the columns there are.
fn column<'a>(batch: &'a RecordBatch, name: &str, flag: &str, path: &Path) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        Error::invalid(format!("{flag} {name}"), format!("{} has no column `{name}`; its columns are: {}", path.display(), names.join(", ")))
    })
}

fn wrong_type(flag: &str, name: &str, path: &Path, found: &DataType, expected: &str) -> Error {
    Error::invalid(format!("{flag} {name}"), format!("column `{name}` of {} is {found}, expected {expected}", path.display()))
}

fn unpack_dictionary(array: &ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Dictionary(_, values) => arrow::compute::cast(array, values).unwrap_or_else(|_| array.clone()),
        _ => array.clone(),
    }
}

fn labels(batch: &RecordBatch, config: &ImportConfig) -> Result<Vec<u16>> {
    let (name, path) = (config.label.as_str(), config.input.as_path());
    let array = unpack_dictionary(column(batch, name, "--label", path)?);
    let flag = format!("--label {name}");
    let values: Vec<Option<i64>> = match array.data_type() {
        DataType::Boolean => array.as_boolean().iter().map(|v| v.map(i64::from)).collect(),
        t if t.is_integer() => {
            let cast = arrow::compute::cast(&array, &DataType::Int64).map_err(|e| Error::invalid(&flag, e.to_string()))?;
            cast.as_primitive::<Int64Type>().iter().collect()
        }
        other => return Err(wrong_type("--label", name, path, other, "an integer or boolean column of 0/1")),
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(0) => Ok(0),
            Some(1) => Ok(1),
            Some(v) => Err(Error::invalid(&flag, format!("column `{name}` of {} has {v} in row {i}; labels must be 0 or 1 (or false/true)", path.display()))),
            None => Err(Error::invalid(&flag, format!("column `{name}` of {} has no label in row {i}", path.display()))),
        })
        .collect()
}

fn categorical_keys(batch: &RecordBatch, name: &str, path: &Path) -> Result<(Vec<Option<Key>>, &'static str)> {
    let array = unpack_dictionary(column(batch, name, "--categorical", path)?);
    let fail = |e: arrow::error::ArrowError| Error::invalid(format!("--categorical {name}"), e.to_string());
    match array.data_type() {
        t if t.is_integer() => {
            let cast = arrow::compute::cast(&array, &DataType::Int64).map_err(fail)?;
            Ok((cast.as_primitive::<Int64Type>().iter().map(|v| v.map(Key::Int)).collect(), "integer"))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let cast = arrow::compute::cast(&array, &DataType::Utf8).map_err(fail)?;
            Ok((cast.as_string::<i32>().iter().map(|v| v.map(|s| Key::Str(s.to_owned()))).collect(), "string"))
        }
        other => Err(wrong_type("--categorical", name, path, other, "an integer or string column")),
    }
}

fn dense_values(batch: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<f64>>> {
    let array = unpack_dictionary(column(batch, name, "--dense", path)?);
    let t = array.data_type();
    if !(t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))) {
        return Err(wrong_type("--dense", name, path, t, "a numeric (integer, floating-point or decimal) column"));
    }
    let cast = arrow::compute::cast(&array, &DataType::Float64).map_err(|e| Error::invalid(format!("--dense {name}"), e.to_string()))?;
    Ok(cast.as_primitive::<Float64Type>().iter().map(|v| v.filter(|x| !x.is_nan())).collect())
}

/// The seeded split: `(train rows, test rows)`, each in the input's order.
fn split_rows(n: usize, config: &ImportConfig) -> Result<(Vec<usize>, Vec<usize>)> {
    let n_test = (n as f64 * config.test_fraction).round() as usize;
    if n_test == 0 || n_test >= n {
        return Err(Error::invalid(
            "--test-fraction",
            format!("{} of {n} rows gives {n_test} test rows; both splits need at least one row", config.test_fraction),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
    let (mut test, mut train) = (order[..n_test].to_vec(), order[n_test..].to_vec());
    test.sort_unstable();
    train.sort_unstable();
    Ok((train, test))
}

/// Turn the user's rows into `(train, test, vocabulary)`.
fn convert(batch: &RecordBatch, config: &ImportConfig, sha: &str) -> Result<(CtrSet, CtrSet, Vocabulary)> {
    let path = config.input.as_path();
    let n = batch.num_rows();
    // Resolve every column first, so that a wrong flag is reported before an empty table.
    let labels = labels(batch, config)?;
    let keys = config.categorical.iter().map(|c| categorical_keys(batch, c, path)).collect::<Result<Vec<_>>>()?;
    let dense = config.dense.iter().map(|c| dense_values(batch, c, path)).collect::<Result<Vec<_>>>()?;
    if n == 0 {
        return Err(Error::invalid("--input", format!("{} has no rows", path.display())));
    }
    let (train_rows, test_rows) = split_rows(n, config)?;
    let mut vocabulary = Vocabulary {
        input: config.input.display().to_string(),
        input_sha256: sha.into(),
        label: config.label.clone(),
        test_fraction: config.test_fraction,
        seed: config.seed,
        rows: [train_rows.len(), test_rows.len()],
        categorical: Vec::new(),
        dense: Vec::new(),
    };
    let (f, d) = (keys.len(), dense.len());
    let mut ids = vec![vec![0u32; n]; f];
    let mut cardinalities = Vec::with_capacity(f);
    for (k, ((column, (values, kind)), ids)) in config.categorical.iter().zip(&keys).zip(&mut ids).enumerate() {
        let mut counts: HashMap<&Key, usize> = HashMap::new();
        for &i in &train_rows {
            if let Some(key) = &values[i] {
                *counts.entry(key).or_default() += 1;
            }
        }
        let mut ranked: Vec<(&Key, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let id_of: HashMap<&Key, u32> = ranked.iter().enumerate().map(|(r, (key, _))| (*key, r as u32 + 1)).collect();
        let mut unseen = 0;
        for (i, value) in values.iter().enumerate() {
            ids[i] = value.as_ref().and_then(|key| id_of.get(key).copied()).unwrap_or(0);
        }
        for &i in &test_rows {
            unseen += usize::from(values[i].is_some() && ids[i] == 0);
        }
        cardinalities.push(ranked.len() + 1);
        vocabulary.categorical.push(CategoricalField {
            column: column.clone(),
            field: format!("cat_{k}"),
            kind: (*kind).into(),
            values: ranked.iter().map(|(key, _)| key.json()).collect(),
            nulls: values.iter().filter(|v| v.is_none()).count(),
            unseen_in_test: unseen,
        });
    }
    let mut standardised = vec![vec![0f32; n]; d];
    for ((column, values), out) in config.dense.iter().zip(&dense).zip(&mut standardised) {
        let train: Vec<f64> = train_rows.iter().filter_map(|&i| values[i]).collect();
        let mean = if train.is_empty() { 0.0 } else { train.iter().sum::<f64>() / train.len() as f64 };
        let var = if train.is_empty() { 0.0 } else { train.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / train.len() as f64 };
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        for (i, v) in values.iter().enumerate() {
            out[i] = v.map_or(0.0, |x| ((x - mean) / std) as f32);
        }
        vocabulary.dense.push(DenseField { column: column.clone(), mean, std, nulls: values.iter().filter(|v| v.is_none()).count() });
    }
    let make = |split: &str, rows: &[usize]| CtrSet {
        split: split.into(),
        cardinalities: cardinalities.clone(),
        num_dense: d,
        categorical: rows.iter().flat_map(|&i| ids.iter().map(move |field| field[i])).collect(),
        dense: rows.iter().flat_map(|&i| standardised.iter().map(move |feature| feature[i])).collect(),
        labels: rows.iter().map(|&i| labels[i]).collect(),
    };
    Ok((make("train", &train_rows), make("test", &test_rows), vocabulary))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::load_tabular;

    const CITIES: [&str; 3] = ["paris", "oslo", "lima"];

    /// A user's table of `n` rows with known values: row `i` has city
    /// `CITIES[i % 7 % 3]` (null when `i % 11 == 5`), device `i % 4 * 10`,
    /// age `20 + i % 9` (null when `i % 13 == 0`), label `(i % 3 == 0) as u8`.
    fn user_table(path: &Path, n: usize) {
        let city: StringArray = (0..n).map(|i| (i % 11 != 5).then(|| CITIES[i % 7 % 3])).collect();
        let device: Int32Array = (0..n).map(|i| Some((i % 4 * 10) as i32)).collect();
        let age: Float64Array = (0..n).map(|i| (i % 13 != 0).then_some(20.0 + (i % 9) as f64)).collect();
        let label: Int64Array = (0..n).map(|i| Some(i64::from(i % 3 == 0))).collect();
        let flag: BooleanArray = (0..n).map(|i| Some(i % 2 == 0)).collect();
        let note: Float64Array = (0..n).map(|i| Some(i as f64 / 2.0)).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("city", Arc::new(city)),
            ("device", Arc::new(device)),
            ("age", Arc::new(age)),
            ("clicked", Arc::new(label)),
            ("flag", Arc::new(flag)),
            ("note", Arc::new(note)),
        ];
        let schema = Schema::new(columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>());
        let batch = RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
        hessx_store::column::write_parquet(path, &[batch]).unwrap();
    }

    fn config(input: &Path) -> ImportConfig {
        ImportConfig {
            input: input.to_owned(),
            name: "mine".into(),
            label: "clicked".into(),
            categorical: vec!["city".into(), "device".into()],
            dense: vec!["age".into()],
            test_fraction: 0.25,
            seed: 1,
        }
    }

    #[test]
    fn an_import_maps_values_reproducibly_and_standardises_with_train_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("user.parquet");
        user_table(&input, 200);
        let data = DataDir::new(dir.path().join("data"));
        let report = import_table(&data, &config(&input)).unwrap();
        assert_eq!(report.written.len(), 2);
        let nulls_city = (0..200).filter(|i| i % 11 == 5).count();
        let nulls_age = (0..200).filter(|i| i % 13 == 0).count();
        assert!(report.notes.iter().any(|n| n.contains("--categorical city") && n.contains(&format!("{nulls_city} null"))), "{:?}", report.notes);
        assert!(report.notes.iter().any(|n| n.contains("--dense age") && n.contains(&format!("{nulls_age} null"))), "{:?}", report.notes);
        let train = load_tabular(&data, "mine", "train", None).unwrap();
        let test = load_tabular(&data, "mine", "test", None).unwrap();
        assert_eq!((train.len(), test.len(), train.cardinalities.clone(), train.num_dense), (150, 50, vec![4, 5], 1));
        let vocabulary: Vocabulary = serde_json::from_slice(&std::fs::read(data.dataset("mine").join(VOCABULARY_FILE)).unwrap()).unwrap();
        assert_eq!(vocabulary.rows, [150, 50]);
        assert_eq!(vocabulary.categorical[1].values.iter().map(|v| v.as_i64().unwrap()).collect::<Vec<_>>().len(), 4);

        // Ground truth from the formulas: recover each row's original index from the
        // split (both splits keep the input's order) and map the ids back through the vocabulary.
        let mut order: Vec<usize> = (0..200).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(1));
        let mut test_rows = order[..50].to_vec();
        test_rows.sort_unstable();
        let train_rows: Vec<usize> = (0..200).filter(|i| !test_rows.contains(i)).collect();
        let ages: Vec<f64> = train_rows.iter().filter(|&&i| i % 13 != 0).map(|&i| 20.0 + (i % 9) as f64).collect();
        let mean = ages.iter().sum::<f64>() / ages.len() as f64;
        let std = (ages.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / ages.len() as f64).sqrt();
        for (set, rows) in [(&train, &train_rows), (&test, &test_rows)] {
            for (r, &i) in rows.iter().enumerate() {
                let city = set.categorical[r * 2] as usize;
                let expected_city = (i % 11 != 5).then(|| CITIES[i % 7 % 3]);
                assert_eq!(if city == 0 { None } else { vocabulary.categorical[0].values[city - 1].as_str() }, expected_city, "row {i}");
                let device = set.categorical[r * 2 + 1] as usize;
                assert_eq!(vocabulary.categorical[1].values[device - 1].as_i64(), Some((i % 4 * 10) as i64));
                let age = if i % 13 == 0 { 0.0 } else { (20.0 + (i % 9) as f64 - mean) / std };
                assert!((set.dense[r] as f64 - age).abs() < 1e-5, "row {i}: {} vs {age}", set.dense[r]);
                assert_eq!(set.labels[r], u16::from(i % 3 == 0));
            }
        }
        // Most frequent first: in training, "paris" (i % 7 % 3 == 0) is the commonest city.
        assert_eq!(vocabulary.categorical[0].values[0], "paris");
        // Same input and flags: nothing to do; another seed: another split.
        let again = import_table(&data, &config(&input)).unwrap();
        assert_eq!((again.written.len(), again.up_to_date.len()), (0, 2));
        let other = import_table(&data, &ImportConfig { seed: 2, ..config(&input) }).unwrap();
        assert_eq!(other.written.len(), 2);
        assert_ne!(load_tabular(&data, "mine", "train", None).unwrap(), train);
        // A missing table's error names the import command.
        std::fs::remove_file(data.table("mine", "test", None)).unwrap();
        let err = load_tabular(&data, "mine", "test", Some(("drop_fields", 3))).unwrap_err().to_string();
        assert!(err.contains("hx-fetch table --input") && err.contains("--name mine") && err.contains("--corruption drop_fields --severity 3"), "{err}");
    }

    #[test]
    fn values_unseen_in_training_become_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("user.parquet");
        user_table(&input, 60);
        let data = DataDir::new(dir.path().join("data"));
        let cfg = ImportConfig { categorical: vec!["device".into()], dense: vec![], ..config(&input) };
        import_table(&data, &cfg).unwrap();
        let cfg = ImportConfig { name: "notes".into(), categorical: vec!["flag".into()], ..cfg };
        let err = import_table(&data, &cfg).unwrap_err().to_string();
        assert!(err.starts_with("--categorical flag") && err.contains("is Boolean, expected an integer or string column"), "{err}");
        let cfg = ImportConfig { categorical: vec!["clicked".into(), "device".into()], label: "device".into(), ..cfg };
        let err = import_table(&data, &cfg).unwrap_err().to_string();
        assert!(err.starts_with("--categorical") && err.contains("already given to --label"), "{err}");
        let table = CtrSet::read(&data.table("mine", "test", None)).unwrap();
        assert!(table.categorical.iter().all(|&v| v != 0), "every device value occurs in training");
        let cfg = ImportConfig { categorical: vec!["device".into(), "city".into()], dense: vec![], ..config(&input) };
        let cfg = ImportConfig { name: "unseen".into(), ..cfg };
        let input2 = dir.path().join("user2.parquet");
        // Row i's city is unique: "c<i>".
        let city: StringArray = (0..40).map(|i| Some(format!("c{i}"))).collect();
        let label: Int64Array = (0..40).map(|i| Some(i % 2)).collect();
        let device: Int64Array = (0..40).map(|i| Some(i % 2)).collect();
        let batch = hessx_store::column::batch_from_columns(vec![
            ("city", Arc::new(city) as ArrayRef),
            ("clicked", Arc::new(label) as ArrayRef),
            ("device", Arc::new(device) as ArrayRef),
        ])
        .unwrap();
        hessx_store::column::write_parquet(&input2, &[batch]).unwrap();
        let report = import_table(&data, &ImportConfig { input: input2, ..cfg }).unwrap();
        assert!(report.notes.iter().any(|n| n.contains("10 test rows hold a value never seen")), "{:?}", report.notes);
        let test = load_tabular(&data, "unseen", "test", None).unwrap();
        assert!((0..test.len()).all(|r| test.categorical[r * 2 + 1] == 0));
        assert_eq!(test.cardinalities, vec![3, 31]);
    }

    #[test]
    fn bad_input_names_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("user.parquet");
        user_table(&input, 30);
        let data = DataDir::new(dir.path().join("data"));
        let err = |cfg: ImportConfig| import_table(&data, &cfg).unwrap_err().to_string();
        let e = err(ImportConfig { input: dir.path().join("nope.parquet"), ..config(&input) });
        assert!(e.starts_with("--input") && e.contains("nope.parquet") && e.contains("no such file"), "{e}");
        let e = err(ImportConfig { label: "click".into(), ..config(&input) });
        assert!(e.starts_with("--label click") && e.contains("user.parquet") && e.contains("city, device, age, clicked, flag, note"), "{e}");
        let e = err(ImportConfig { dense: vec!["city".into()], categorical: vec!["device".into()], ..config(&input) });
        assert!(e.starts_with("--dense city") && e.contains("is Utf8, expected a numeric"), "{e}");
        let e = err(ImportConfig { label: "note".into(), ..config(&input) });
        assert!(e.starts_with("--label note") && e.contains("Float64, expected an integer or boolean"), "{e}");
        let e = err(ImportConfig { label: "device".into(), categorical: vec!["city".into()], ..config(&input) });
        assert!(e.starts_with("--label device") && e.contains("has 10 in row 1") && e.contains("0 or 1"), "{e}");
        let e = err(ImportConfig { test_fraction: 1.0, ..config(&input) });
        assert!(e.starts_with("--test-fraction"), "{e}");
        let e = err(ImportConfig { test_fraction: 0.01, ..config(&input) });
        assert!(e.starts_with("--test-fraction") && e.contains("0 test rows"), "{e}");
        let e = err(ImportConfig { categorical: vec![], ..config(&input) });
        assert!(e.starts_with("--categorical"), "{e}");
        let e = err(ImportConfig { name: "../x".into(), ..config(&input) });
        assert!(e.starts_with("--name"), "{e}");
        let empty = dir.path().join("empty.parquet");
        user_table(&empty, 0);
        let e = err(ImportConfig { input: empty, ..config(&input) });
        assert!(e.starts_with("--input") && e.contains("empty.parquet has no rows"), "{e}");
        // A boolean label is read as 0/1.
        let ok = import_table(&data, &ImportConfig { label: "flag".into(), ..config(&input) }).unwrap();
        assert_eq!(ok.written.len(), 2);
        let train = load_tabular(&data, "mine", "train", None).unwrap();
        assert!(train.labels.contains(&0) && train.labels.contains(&1));
    }
}
