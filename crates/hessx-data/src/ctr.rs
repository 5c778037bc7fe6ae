//! Synthetic click-through data for the Wide&Deep model: categorical fields
//! with given cardinalities (values skewed towards a few frequent ones, as in
//! real logs), dense features, and a click drawn from a known logistic model
//! with per-value weights, pairwise feature crosses and a linear dense part,
//! so there is something for both the wide and the deep side to learn.
//!
//! Value 0 of every categorical field is reserved for "unknown" in every
//! tabular dataset (generated, imported, shifted): the generator never draws
//! it and the true model gives it weight 0, so that `drop_fields`
//! ([`crate::shift`]) and values unseen at import time have a place of their
//! own.
//!
//! # Parquet layout
//!
//! `index` (Int64), `split` (Utf8), `corruption` (Utf8, the shift's name,
//! `none` for clean data), `severity` (UInt8, 1..=5, 0 for clean data),
//! `label` (UInt32, 0 or 1), one UInt32 column per categorical field `cat_0`,
//! `cat_1`, ..., and `dense` (FixedSizeList<Float32>, absent when there are
//! no dense features). The cardinalities are kept in the schema metadata
//! under `hessx.cardinalities` (comma-separated; this key marks a tabular
//! table). Tables written before `corruption` and `severity` existed read as
//! clean.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use hessx_store::column::{Column, batch_from_columns, read_column, read_column_or, read_parquet, write_parquet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};

use crate::image_set::single_value;
use crate::{Error, Result};

/// Schema metadata key holding the cardinalities.
pub const CARDINALITIES_KEY: &str = "hessx.cardinalities";

/// A tabular click-through split.
///
/// # Shapes
///
/// `categorical` is `len() x cardinalities.len()` (row-major, value of field
/// `f` of row `i` at `i * fields + f`, below `cardinalities[f]`); `dense` is
/// `len() x num_dense`.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrSet {
    /// `train` or `test`.
    pub split: String,
    /// Number of distinct values of each categorical field.
    pub cardinalities: Vec<usize>,
    /// Dense features per row.
    pub num_dense: usize,
    /// Categorical values, row-major.
    pub categorical: Vec<u32>,
    /// Dense features, row-major.
    pub dense: Vec<f32>,
    /// Click (1) or not (0).
    pub labels: Vec<u16>,
}

impl CtrSet {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no row.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The rows at `indices`, in that order (labels follow).
    pub fn select(&self, indices: &[usize]) -> CtrSet {
        let (f, d) = (self.cardinalities.len(), self.num_dense);
        CtrSet {
            split: self.split.clone(),
            cardinalities: self.cardinalities.clone(),
            num_dense: d,
            categorical: indices.iter().flat_map(|&i| self.categorical[i * f..(i + 1) * f].iter().copied()).collect(),
            dense: indices.iter().flat_map(|&i| self.dense[i * d..(i + 1) * d].iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    pub(crate) fn validate(&self, path: &Path) -> Result<()> {
        let (n, f) = (self.len(), self.cardinalities.len());
        if self.categorical.len() != n * f || self.dense.len() != n * self.num_dense {
            return Err(Error::format(
                path,
                format!("{} categorical and {} dense values for {n} rows of {f} fields and {} dense features", self.categorical.len(), self.dense.len(), self.num_dense),
            ));
        }
        for (i, &v) in self.categorical.iter().enumerate() {
            if v as usize >= self.cardinalities[i % f] {
                return Err(Error::format(path, format!("row {} field cat_{} has value {v}, not below its cardinality {}", i / f, i % f, self.cardinalities[i % f])));
            }
        }
        if let Some(l) = self.labels.iter().find(|&&l| l > 1) {
            return Err(Error::format(path, format!("label {l} is not 0 or 1")));
        }
        Ok(())
    }

    /// Write the clean split to the Parquet file `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        self.write_shifted(path, "none", 0)
    }

    /// Write the split to `path` atomically, recording that it is the
    /// `corruption` shift at `severity` (`none`, 0 for clean data) so that a
    /// reader can check it got the table it asked for.
    pub fn write_shifted(&self, path: &Path, corruption: &str, severity: u8) -> Result<()> {
        self.validate(path)?;
        if (corruption == "none") != (severity == 0) {
            return Err(Error::format(
                path,
                format!("shift `{corruption}` with severity {severity}: clean data has severity 0, shifted data 1..=5"),
            ));
        }
        let (n, f) = (self.len(), self.cardinalities.len());
        let names: Vec<String> = (0..f).map(|k| format!("cat_{k}")).collect();
        let corruption = corruption.to_owned();
        let mut columns = vec![
            ("index", i64::to_array((0..n as i64).collect::<Vec<_>>().iter().collect())),
            ("split", String::to_array(vec![&self.split; n])),
            ("corruption", String::to_array(vec![&corruption; n])),
            ("severity", u8::to_array(vec![&severity; n])),
            ("label", u32::to_array(self.labels.iter().map(|&l| l as u32).collect::<Vec<_>>().iter().collect())),
        ];
        for (k, name) in names.iter().enumerate() {
            let values: Vec<u32> = (0..n).map(|i| self.categorical[i * f + k]).collect();
            columns.push((name.as_str(), u32::to_array(values.iter().collect())));
        }
        let dense: Vec<Vec<f32>> = self.dense.chunks(self.num_dense.max(1)).map(<[f32]>::to_vec).collect();
        if self.num_dense > 0 {
            columns.push(("dense", Vec::<f32>::to_array(dense.iter().collect())));
        }
        let arrow_err = |source| hessx_store::Error::Arrow { path: path.to_owned(), source };
        let batch = batch_from_columns(columns).map_err(arrow_err)?;
        let cards: Vec<String> = self.cardinalities.iter().map(usize::to_string).collect();
        let metadata = HashMap::from([(CARDINALITIES_KEY.to_owned(), cards.join(","))]);
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        let batch = RecordBatch::try_new(schema, batch.columns().to_vec()).map_err(arrow_err)?;
        Ok(write_parquet(path, &[batch])?)
    }

    /// Read a split written by [`CtrSet::write`] or [`CtrSet::write_shifted`].
    pub fn read(path: &Path) -> Result<CtrSet> {
        Ok(Self::read_with_shift(path)?.0)
    }

    /// Read a split and the shift it records: `(set, shift name, severity)`,
    /// `("none", 0)` for clean data and for tables written before the shift
    /// columns existed.
    pub fn read_with_shift(path: &Path) -> Result<(CtrSet, String, u8)> {
        let batch = read_parquet(path)?;
        let n = batch.num_rows();
        let cards = batch
            .schema()
            .metadata()
            .get(CARDINALITIES_KEY)
            .cloned()
            .ok_or_else(|| Error::format(path, format!("schema metadata has no {CARDINALITIES_KEY}: not a hessx click-through table")))?;
        let cardinalities: Vec<usize> = cards
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| Error::format(path, format!("{CARDINALITIES_KEY} = `{cards}` is not a list of numbers"))))
            .collect::<Result<_>>()?;
        let f = cardinalities.len();
        let fields: Vec<Vec<u32>> = (0..f).map(|k| read_column::<u32>(&batch, &format!("cat_{k}"), path)).collect::<hessx_store::Result<_>>()?;
        let categorical = (0..n).flat_map(|i| fields.iter().map(move |col| col[i])).collect();
        let (num_dense, dense) = if batch.column_by_name("dense").is_some() {
            let rows = read_column::<Vec<f32>>(&batch, "dense", path)?;
            (rows.first().map_or(0, Vec::len), rows.concat())
        } else {
            (0, Vec::new())
        };
        let split = read_column::<String>(&batch, "split", path)?.into_iter().next().unwrap_or_default();
        let labels = read_column::<u32>(&batch, "label", path)?.into_iter().map(|l| l.min(u16::MAX as u32) as u16).collect();
        let one = |name: &str, values: Vec<String>| single_value(path, name, values, "shift");
        let corruption = one("corruption", read_column_or::<String>(&batch, "corruption", path, Some("none".into()))?)?;
        let severity = one("severity", read_column_or::<u8>(&batch, "severity", path, Some(0))?.iter().map(u8::to_string).collect())?;
        let (corruption, severity) = if n == 0 { ("none".to_owned(), 0) } else { (corruption, severity.parse().unwrap_or(0)) };
        let set = CtrSet { split, cardinalities, num_dense, categorical, dense, labels };
        set.validate(path)?;
        Ok((set, corruption, severity))
    }
}

/// Parameters of the synthetic click-through data.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrConfig {
    /// Cardinality of each categorical field, counting the reserved
    /// "unknown" value 0. Default `[100, 50, 20, 10, 5, 1000]`.
    pub cardinalities: Vec<usize>,
    /// Dense features. Default 8.
    pub num_dense: usize,
    /// Training rows. Default 50,000.
    pub train: usize,
    /// Test rows. Default 10,000.
    pub test: usize,
    /// Seed. Default 0.
    pub seed: u64,
}

impl Default for CtrConfig {
    fn default() -> Self {
        CtrConfig { cardinalities: vec![100, 50, 20, 10, 5, 1000], num_dense: 8, train: 50_000, test: 10_000, seed: 0 }
    }
}

impl CtrConfig {
    /// How the data is made, recorded in the manifest.
    pub fn recipe(&self) -> String {
        format!(
            "ctr v2 (value 0 reserved for unknown): cardinalities={:?} dense={} train={} test={} seed={}",
            self.cardinalities, self.num_dense, self.train, self.test, self.seed
        )
    }
}

/// Buckets of each feature cross's weight table (value pairs are hashed into it).
pub const CROSS_BUCKETS: usize = 4099;

/// The logistic model the clicks are drawn from:
/// `logit = bias + sum_f w_f[x_f] + sum_(f,g) u_fg[hash(x_f, x_g)] + v . dense`,
/// with `w_f[0] = 0`: an unknown value says nothing about the click.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrModel {
    /// Intercept.
    pub bias: f64,
    /// Per-field, per-value weights.
    pub field_weights: Vec<Vec<f64>>,
    /// The crossed field pairs.
    pub crosses: Vec<(usize, usize)>,
    /// One table of [`CROSS_BUCKETS`] weights per cross.
    pub cross_weights: Vec<Vec<f64>>,
    /// Dense feature weights.
    pub dense_weights: Vec<f64>,
}

impl CtrModel {
    fn bucket(a: u32, b: u32) -> usize {
        // SplitMix64 finaliser: a fixed hash, independent of library versions.
        let mut z = ((a as u64) << 32 | b as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % CROSS_BUCKETS as u64) as usize
    }

    /// The log-odds of a click; `crosses = false` leaves the cross terms out.
    pub fn logit(&self, categorical: &[u32], dense: &[f32], crosses: bool) -> f64 {
        let mut z = self.bias;
        z += categorical.iter().zip(&self.field_weights).map(|(&v, w)| w[v as usize]).sum::<f64>();
        if crosses {
            for ((f, g), table) in self.crosses.iter().zip(&self.cross_weights) {
                z += table[Self::bucket(categorical[*f], categorical[*g])];
            }
        }
        z + dense.iter().zip(&self.dense_weights).map(|(&x, w)| x as f64 * w).sum::<f64>()
    }
}

/// Generate `(train, test, the true model)` for `config`.
pub fn generate_ctr(config: &CtrConfig) -> Result<(CtrSet, CtrSet, CtrModel)> {
    if config.cardinalities.is_empty() || config.cardinalities.iter().any(|&c| c < 2 || c > u32::MAX as usize) {
        return Err(Error::invalid("--cardinalities", format!("{:?}: need at least one field, each with 2 or more values", config.cardinalities)));
    }
    if config.train == 0 || config.test == 0 {
        return Err(Error::invalid("--train/--test", "both splits need at least one row"));
    }
    let f = config.cardinalities.len();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(u64::MAX);
    let normal = |rng: &mut ChaCha8Rng, sd: f64| Normal::new(0.0, sd).expect("positive std").sample(rng);
    let field_weights = config
        .cardinalities
        .iter()
        .map(|&c| (0..c).map(|v| if v == 0 { 0.0 } else { normal(&mut rng, 0.5) }).collect())
        .collect();
    let crosses: Vec<(usize, usize)> = (0..f.saturating_sub(1).min(3)).map(|k| (k, k + 1)).collect();
    let cross_weights = crosses.iter().map(|_| (0..CROSS_BUCKETS).map(|_| normal(&mut rng, 1.0)).collect()).collect();
    let dense_weights = (0..config.num_dense).map(|_| normal(&mut rng, 0.5)).collect();
    let model = CtrModel { bias: -1.0, field_weights, crosses, cross_weights, dense_weights };
    let make = |split: &str, n: usize, stream: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(stream);
        let mut set = CtrSet {
            split: split.into(),
            cardinalities: config.cardinalities.clone(),
            num_dense: config.num_dense,
            categorical: Vec::with_capacity(n * f),
            dense: Vec::with_capacity(n * config.num_dense),
            labels: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let start = set.categorical.len();
            for &card in &config.cardinalities {
                // u^3 puts most of the mass on a few small values, like real
                // logs; 0 is the reserved "unknown".
                let u: f64 = rng.random();
                set.categorical.push(1 + (((card - 1) as f64 * u.powi(3)) as usize).min(card - 2) as u32);
            }
            let dstart = set.dense.len();
            for _ in 0..config.num_dense {
                set.dense.push(rng.sample::<f64, _>(StandardNormal) as f32);
            }
            let z = model.logit(&set.categorical[start..], &set.dense[dstart..], true);
            let p = 1.0 / (1.0 + (-z).exp());
            set.labels.push(u16::from(rng.random::<f64>() < p));
        }
        set
    };
    Ok((make("train", config.train, 1), make("test", config.test, 2), model))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_loss(set: &CtrSet, p: impl Fn(usize) -> f64) -> f64 {
        (0..set.len())
            .map(|i| {
                let p = p(i).clamp(1e-12, 1.0 - 1e-12);
                if set.labels[i] == 1 { -p.ln() } else { -(1.0 - p).ln() }
            })
            .sum::<f64>()
            / set.len() as f64
    }

    #[test]
    fn labels_follow_the_known_model_and_crosses_matter() {
        let config = CtrConfig { train: 1000, test: 40_000, seed: 5, ..Default::default() };
        let (train, test, model) = generate_ctr(&config).unwrap();
        assert_eq!((train.len(), test.len()), (1000, 40_000));
        let f = test.cardinalities.len();
        let d = test.num_dense;
        let (model, test_ref) = (&model, &test);
        let prob = |crosses: bool| {
            move |i: usize| {
                let z = model.logit(&test_ref.categorical[i * f..(i + 1) * f], &test_ref.dense[i * d..(i + 1) * d], crosses);
                1.0 / (1.0 + (-z).exp())
            }
        };
        let rate = test.labels.iter().filter(|&&l| l == 1).count() as f64 / test.len() as f64;
        let base = log_loss(&test, |_| rate);
        let full = log_loss(&test, prob(true));
        let no_cross = log_loss(&test, prob(false));
        // The true model must beat the base rate clearly, and the crosses must carry signal.
        assert!(full < base - 0.05, "full {full} base {base}");
        assert!(no_cross > full + 0.02, "without crosses {no_cross}, full {full}");
        // Calibration: in each decile of the true probability, the click rate
        // matches the mean probability within 4 binomial standard errors.
        let mut by_p: Vec<(f64, u16)> = (0..test.len()).map(|i| (prob(true)(i), test.labels[i])).collect();
        by_p.sort_by(|a, b| a.0.total_cmp(&b.0));
        for chunk in by_p.chunks(4000) {
            let mean_p = chunk.iter().map(|c| c.0).sum::<f64>() / chunk.len() as f64;
            let clicks = chunk.iter().filter(|c| c.1 == 1).count() as f64 / chunk.len() as f64;
            let se = (mean_p * (1.0 - mean_p) / chunk.len() as f64).sqrt();
            assert!((clicks - mean_p).abs() < 4.0 * se + 1e-3, "decile: p {mean_p} clicks {clicks}");
        }
    }

    #[test]
    fn parquet_round_trip_and_determinism() {
        let config = CtrConfig { cardinalities: vec![7, 3], num_dense: 2, train: 50, test: 20, seed: 1 };
        let (train, _, _) = generate_ctr(&config).unwrap();
        assert_eq!(generate_ctr(&config).unwrap().0, train);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.parquet");
        train.write(&path).unwrap();
        assert_eq!(CtrSet::read(&path).unwrap(), train);
        let no_dense = CtrSet { num_dense: 0, dense: vec![], ..train.clone() };
        no_dense.write(&path).unwrap();
        assert_eq!(CtrSet::read(&path).unwrap(), no_dense);
        let mut bad = train.clone();
        bad.categorical[1] = 3;
        let err = bad.write(&path).unwrap_err().to_string();
        assert!(err.contains("cat_1") && err.contains("cardinality 3"), "{err}");
        let err = generate_ctr(&CtrConfig { cardinalities: vec![1], ..config }).unwrap_err().to_string();
        assert!(err.contains("--cardinalities"), "{err}");
    }

    #[test]
    fn shift_columns_round_trip_and_old_tables_read_as_clean() {
        let config = CtrConfig { cardinalities: vec![4, 3], num_dense: 1, train: 9, test: 2, seed: 1 };
        let (train, _, _) = generate_ctr(&config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        train.write_shifted(&path, "drop_fields", 4).unwrap();
        assert_eq!(CtrSet::read_with_shift(&path).unwrap(), (train.clone(), "drop_fields".to_owned(), 4));
        let err = train.write_shifted(&path, "drop_fields", 0).unwrap_err().to_string();
        assert!(err.contains("severity 0"), "{err}");
        // A table as written before the shift columns existed.
        let batch = read_parquet(&path).unwrap();
        let keep: Vec<usize> = (0..batch.num_columns()).filter(|&i| !["corruption", "severity"].contains(&batch.schema().field(i).name().as_str())).collect();
        write_parquet(&path, &[batch.project(&keep).unwrap()]).unwrap();
        assert_eq!(CtrSet::read_with_shift(&path).unwrap(), (train, "none".to_owned(), 0));
    }
}
