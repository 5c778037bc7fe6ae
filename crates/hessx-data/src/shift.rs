//! Distribution shifts for the non-image datasets, playing the role the
//! CIFAR-10-C corruptions play for images: click-through tables
//! ([`TabularShift`]) and token sequences ([`TokenShift`]), each at the five
//! severities 1..=5, written as `<split>-<shift>-<severity>.parquet` beside
//! the clean tables.
//!
//! Randomness is seeded and uses common random numbers: row `i` of a split
//! draws from ChaCha8 stream `i` under a key derived from (seed, shift,
//! split) only, not from the severity, and draws the same numbers at every
//! severity. The severities differ only in their constant, so what changes at
//! severity `s` also changes at `s + 1` (dropped values are nested, noise is
//! the same draw scaled up, the resampled positive rate can only grow): the
//! distortion is monotone in severity row by row, not just on average.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sha2::{Digest, Sha256};

use crate::corrupt::check_severity;
use crate::sequences::PAD;
use crate::{CtrSet, Error, Result, TokenSet};

/// A family of shifts, named on the command line.
pub trait Shift: Copy + PartialEq + std::fmt::Debug + 'static {
    /// Every shift of the family, in the order `--help` lists them.
    const ALL: &'static [Self];
    /// The name used on the command line and in file names.
    fn name(self) -> &'static str;
    /// The constant of `severity` (1..=5) documented on the variant.
    fn constant(self, severity: u8) -> f64;
    /// Whether the shift draws random numbers (then its seed is recorded).
    fn is_random(self) -> bool;

    /// The shift called `name`; the error lists the valid names and names the flag.
    fn parse(name: &str) -> Result<Self> {
        Self::ALL.iter().copied().find(|s| s.name() == name).ok_or_else(|| Error::UnknownCorruption {
            name: name.into(),
            valid: Self::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(" "),
        })
    }
}

/// Which shifts to compute, at which severities (every pair of the two lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftRequest<S> {
    /// Shifts (none: nothing to do).
    pub shifts: Vec<S>,
    /// Severities 1..=5 (empty: all five).
    pub severities: Vec<u8>,
}

impl<S> Default for ShiftRequest<S> {
    fn default() -> Self {
        ShiftRequest { shifts: Vec::new(), severities: Vec::new() }
    }
}

impl<S: Shift> ShiftRequest<S> {
    /// Parse shift names and severities as given on the command line.
    pub fn parse(names: &[String], severities: &[u8]) -> Result<Self> {
        let shifts = names.iter().map(|n| S::parse(n)).collect::<Result<_>>()?;
        let severities = severities.iter().map(|&s| check_severity(s)).collect::<Result<_>>()?;
        Ok(ShiftRequest { shifts, severities })
    }

    /// Every (shift, severity) pair asked for.
    pub fn pairs(&self) -> Vec<(S, u8)> {
        let severities = if self.severities.is_empty() { vec![1, 2, 3, 4, 5] } else { self.severities.clone() };
        self.shifts.iter().flat_map(|&c| severities.iter().map(move |&s| (c, s))).collect()
    }
}

/// The random stream of row `row` of `split` for `shift` (the same at every severity).
fn row_rng(seed: u64, shift: &str, split: &str, row: usize) -> ChaCha8Rng {
    let key: [u8; 32] = Sha256::digest(format!("hessx-shift/{seed}/{shift}/{split}")).into();
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(row as u64);
    rng
}

/// Shifts of click-through tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TabularShift {
    /// Resample the rows (with replacement, as many as before) so that the
    /// odds of a click are the clean odds times `c = [1.5, 2, 3, 5, 8]`:
    /// more clicks, as in a campaign or a seasonal surge. Rows keep their
    /// features; each output row picks its class, then a row of that class.
    ClickRate,
    /// Replace each categorical value by 0 ("unknown") and zero each dense
    /// value, independently with probability `c = [.1, .2, .3, .45, .6]`:
    /// fields missing from the log.
    DropFields,
    /// Add Gaussian noise of standard deviation `c = [.1, .25, .5, .75, 1]`
    /// to every dense feature (the generated ones have unit variance, the
    /// imported ones are standardised).
    DenseNoise,
}

impl Shift for TabularShift {
    const ALL: &'static [Self] = &[TabularShift::ClickRate, TabularShift::DropFields, TabularShift::DenseNoise];

    fn name(self) -> &'static str {
        match self {
            TabularShift::ClickRate => "click_rate",
            TabularShift::DropFields => "drop_fields",
            TabularShift::DenseNoise => "dense_noise",
        }
    }

    fn constant(self, severity: u8) -> f64 {
        let c = match self {
            TabularShift::ClickRate => [1.5, 2.0, 3.0, 5.0, 8.0],
            TabularShift::DropFields => [0.1, 0.2, 0.3, 0.45, 0.6],
            TabularShift::DenseNoise => [0.1, 0.25, 0.5, 0.75, 1.0],
        };
        c[severity.clamp(1, 5) as usize - 1]
    }

    fn is_random(self) -> bool {
        true
    }
}

/// The shifted copy of a clean click-through split.
pub fn shift_tabular(set: &CtrSet, shift: TabularShift, severity: u8, seed: u64) -> Result<CtrSet> {
    check_severity(severity)?;
    let c = shift.constant(severity);
    let flag = format!("--corruption {}", shift.name());
    let (f, d) = (set.cardinalities.len(), set.num_dense);
    let mut out = set.clone();
    match shift {
        TabularShift::ClickRate => {
            let (pos, neg): (Vec<usize>, Vec<usize>) = (0..set.len()).partition(|&i| set.labels[i] == 1);
            if pos.is_empty() || neg.is_empty() {
                return Err(Error::invalid(
                    flag,
                    format!("split `{}` has {} clicks in {} rows; the click rate of a single-class split cannot be shifted", set.split, pos.len(), set.len()),
                ));
            }
            let odds = pos.len() as f64 / neg.len() as f64 * c;
            let rate = odds / (1.0 + odds);
            let rows: Vec<usize> = (0..set.len())
                .map(|j| {
                    let mut rng = row_rng(seed, shift.name(), &set.split, j);
                    let (u, v): (f64, f64) = (rng.random(), rng.random());
                    let class = if u < rate { &pos } else { &neg };
                    class[((v * class.len() as f64) as usize).min(class.len() - 1)]
                })
                .collect();
            out = set.select(&rows);
        }
        TabularShift::DropFields => {
            for i in 0..set.len() {
                let mut rng = row_rng(seed, shift.name(), &set.split, i);
                for v in &mut out.categorical[i * f..(i + 1) * f] {
                    if rng.random::<f64>() < c {
                        *v = 0;
                    }
                }
                for x in &mut out.dense[i * d..(i + 1) * d] {
                    if rng.random::<f64>() < c {
                        *x = 0.0;
                    }
                }
            }
        }
        TabularShift::DenseNoise => {
            if d == 0 {
                return Err(Error::invalid(flag, "the table has no dense features to add noise to; use drop_fields or click_rate"));
            }
            for i in 0..set.len() {
                let mut rng = row_rng(seed, shift.name(), &set.split, i);
                for x in &mut out.dense[i * d..(i + 1) * d] {
                    *x += (c * rng.sample::<f64, _>(StandardNormal)) as f32;
                }
            }
        }
    }
    Ok(out)
}

/// Shifts of token sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenShift {
    /// Replace each token, with probability `c = [.05, .1, .15, .2, .3]`, by
    /// an id drawn uniformly from `1..vocab` (never the pad id): typos,
    /// transmission noise.
    TokenNoise,
    /// Overwrite the last `ceil(c * length)` tokens of every row with the
    /// pad id 0, `c = [.1, .2, .3, .4, .5]`: cut-off inputs. No randomness.
    Truncate,
}

impl Shift for TokenShift {
    const ALL: &'static [Self] = &[TokenShift::TokenNoise, TokenShift::Truncate];

    fn name(self) -> &'static str {
        match self {
            TokenShift::TokenNoise => "token_noise",
            TokenShift::Truncate => "truncate",
        }
    }

    fn constant(self, severity: u8) -> f64 {
        let c = match self {
            TokenShift::TokenNoise => [0.05, 0.1, 0.15, 0.2, 0.3],
            TokenShift::Truncate => [0.1, 0.2, 0.3, 0.4, 0.5],
        };
        c[severity.clamp(1, 5) as usize - 1]
    }

    fn is_random(self) -> bool {
        self == TokenShift::TokenNoise
    }
}

/// The shifted copy of a clean token split (labels are kept).
pub fn shift_tokens(set: &TokenSet, shift: TokenShift, severity: u8, seed: u64) -> Result<TokenSet> {
    check_severity(severity)?;
    let c = shift.constant(severity);
    let len = set.length;
    let mut out = TokenSet { corruption: shift.name().into(), severity, ..set.clone() };
    match shift {
        TokenShift::TokenNoise => {
            if set.vocab < 2 {
                return Err(Error::invalid("--corruption token_noise", format!("vocabulary of {} ids has no id besides the pad id", set.vocab)));
            }
            for i in 0..set.len() {
                let mut rng = row_rng(seed, shift.name(), &set.split, i);
                for t in &mut out.tokens[i * len..(i + 1) * len] {
                    // Both numbers are drawn at every position, so every severity sees the same draws.
                    let (u, id): (f64, u32) = (rng.random(), rng.random_range(1..set.vocab as u32));
                    if u < c {
                        *t = id;
                    }
                }
            }
        }
        TokenShift::Truncate => {
            let cut = ((c * len as f64).ceil() as usize).min(len);
            for row in out.tokens.chunks_mut(len.max(1)) {
                row[len - cut..].fill(PAD);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctr::{CtrConfig, generate_ctr};
    use crate::sequences::{SequenceConfig, generate_sequences};

    fn ctr() -> CtrSet {
        let config = CtrConfig { cardinalities: vec![20, 7, 5], num_dense: 4, train: 6000, test: 10, seed: 2 };
        generate_ctr(&config).unwrap().0
    }

    fn rate(set: &CtrSet) -> f64 {
        set.labels.iter().filter(|&&l| l == 1).count() as f64 / set.len() as f64
    }

    #[test]
    fn click_rate_moves_the_positive_rate_up_with_severity() {
        let set = ctr();
        let p0 = rate(&set);
        let mut last = p0;
        for s in 1..=5 {
            let shifted = shift_tabular(&set, TabularShift::ClickRate, s, 0).unwrap();
            assert_eq!(shifted.len(), set.len());
            let p = rate(&shifted);
            // The stated target: clean odds times the constant, within 4 binomial standard errors.
            let odds = p0 / (1.0 - p0) * TabularShift::ClickRate.constant(s);
            let target = odds / (1.0 + odds);
            let se = (target * (1.0 - target) / set.len() as f64).sqrt();
            assert!((p - target).abs() < 4.0 * se, "severity {s}: rate {p}, target {target}");
            assert!(p > last, "severity {s}: {p} not above {last}");
            last = p;
            // Every output row is a row of the clean set, features and label together.
            let f = set.cardinalities.len();
            let find = |j: usize| (0..set.len()).any(|i| set.categorical[i * f..(i + 1) * f] == shifted.categorical[j * f..(j + 1) * f] && set.labels[i] == shifted.labels[j]);
            assert!((0..50).all(find));
        }
        let all_clicks = CtrSet { labels: vec![1; set.len()], ..set.clone() };
        let err = shift_tabular(&all_clicks, TabularShift::ClickRate, 1, 0).unwrap_err().to_string();
        assert!(err.starts_with("--corruption click_rate") && err.contains("6000 clicks in 6000 rows"), "{err}");
    }

    #[test]
    fn drop_fields_drops_a_growing_nested_fraction() {
        let set = ctr();
        assert!(set.categorical.iter().all(|&v| v != 0), "the generator never draws the unknown value");
        let mut previous: Option<CtrSet> = None;
        for s in 1..=5 {
            let shifted = shift_tabular(&set, TabularShift::DropFields, s, 7).unwrap();
            let dropped = shifted.categorical.iter().filter(|&&v| v == 0).count() as f64 / set.categorical.len() as f64;
            let zeroed = shifted.dense.iter().filter(|&&x| x == 0.0).count() as f64 / set.dense.len() as f64;
            let c = TabularShift::DropFields.constant(s);
            assert!((dropped - c).abs() < 0.02 && (zeroed - c).abs() < 0.02, "severity {s}: {dropped} {zeroed} vs {c}");
            // Kept values are untouched; labels too.
            assert!(shifted.categorical.iter().zip(&set.categorical).all(|(&a, &b)| a == 0 || a == b));
            assert_eq!(shifted.labels, set.labels);
            if let Some(prev) = &previous {
                assert!(prev.categorical.iter().zip(&shifted.categorical).all(|(&p, &q)| p != 0 || q == 0), "severity {s} keeps a value {} dropped", s - 1);
            }
            previous = Some(shifted);
        }
        assert_eq!(shift_tabular(&set, TabularShift::DropFields, 3, 7).unwrap(), shift_tabular(&set, TabularShift::DropFields, 3, 7).unwrap());
        assert_ne!(shift_tabular(&set, TabularShift::DropFields, 3, 7).unwrap(), shift_tabular(&set, TabularShift::DropFields, 3, 8).unwrap());
    }

    #[test]
    fn dense_noise_has_the_stated_scale_and_grows_with_severity() {
        let set = ctr();
        let mut last = 0.0;
        for s in 1..=5 {
            let shifted = shift_tabular(&set, TabularShift::DenseNoise, s, 1).unwrap();
            let diffs: Vec<f64> = shifted.dense.iter().zip(&set.dense).map(|(a, b)| (a - b) as f64).collect();
            let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
            let sd = (diffs.iter().map(|x| x * x).sum::<f64>() / diffs.len() as f64).sqrt();
            let c = TabularShift::DenseNoise.constant(s);
            assert!(mean.abs() < 0.05 * c && (sd / c - 1.0).abs() < 0.03, "severity {s}: mean {mean}, sd {sd}, c {c}");
            assert!(sd > last);
            last = sd;
            assert_eq!((&shifted.categorical, &shifted.labels), (&set.categorical, &set.labels));
        }
        let no_dense = CtrSet { num_dense: 0, dense: vec![], ..set };
        let err = shift_tabular(&no_dense, TabularShift::DenseNoise, 1, 0).unwrap_err().to_string();
        assert!(err.starts_with("--corruption dense_noise") && err.contains("no dense features"), "{err}");
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = ShiftRequest::<TabularShift>::parse(&["blur".into()], &[]).unwrap_err().to_string();
        assert!(err.contains("--corruption blur") && err.contains("click_rate drop_fields dense_noise"), "{err}");
        let err = ShiftRequest::<TokenShift>::parse(&["drop_fields".into()], &[]).unwrap_err().to_string();
        assert!(err.contains("token_noise truncate"), "{err}");
        let err = ShiftRequest::<TokenShift>::parse(&["truncate".into()], &[6]).unwrap_err().to_string();
        assert!(err.contains("--severity 6"), "{err}");
        let req = ShiftRequest::<TokenShift>::parse(&["truncate".into(), "token_noise".into()], &[2]).unwrap();
        assert_eq!(req.pairs(), vec![(TokenShift::Truncate, 2), (TokenShift::TokenNoise, 2)]);
        assert_eq!(ShiftRequest::<TokenShift>::parse(&["truncate".into()], &[]).unwrap().pairs().len(), 5);
    }

    #[test]
    fn token_shifts_change_a_growing_share_and_keep_labels() {
        let (set, _) = generate_sequences(&SequenceConfig { train: 3000, ..Default::default() }).unwrap();
        let mut last_changed = 0.0;
        for s in 1..=5 {
            let noisy = shift_tokens(&set, TokenShift::TokenNoise, s, 3).unwrap();
            assert_eq!((noisy.corruption.as_str(), noisy.severity, &noisy.labels), ("token_noise", s, &set.labels));
            assert!(noisy.tokens.iter().all(|&t| t != PAD && (t as usize) < set.vocab));
            // A replaced position keeps its token with probability 1/(vocab-1).
            let changed = noisy.tokens.iter().zip(&set.tokens).filter(|(a, b)| a != b).count() as f64 / set.tokens.len() as f64;
            let expected = TokenShift::TokenNoise.constant(s) * (1.0 - 1.0 / 31.0);
            assert!((changed - expected).abs() < 0.01, "severity {s}: {changed} vs {expected}");
            assert!(changed > last_changed);
            last_changed = changed;

            let cut = shift_tokens(&set, TokenShift::Truncate, s, 3).unwrap();
            let pads = [2, 4, 5, 7, 8][s as usize - 1];
            for i in 0..set.len() {
                assert!(cut.row(i)[16 - pads..].iter().all(|&t| t == PAD));
                assert_eq!(cut.row(i)[..16 - pads], set.row(i)[..16 - pads]);
            }
        }
        assert_eq!(shift_tokens(&set, TokenShift::TokenNoise, 2, 3).unwrap(), shift_tokens(&set, TokenShift::TokenNoise, 2, 3).unwrap());
    }
}
