//! Directions in state space and their normalisation, after loss-landscape's
//! `net_plotter.py` (Li et al. 2018, Section 4).
//!
//! A random direction draws every entry of the included tensors from
//! N(0, 1) (seeded); then, tensor by tensor:
//! - a tensor of rank <= 1 (bias, batch-norm gamma/beta, running
//!   statistics) becomes zero with `ignore biasbn`, or else a copy of the
//!   weights, as the seed does;
//! - any other tensor is normalised: `filter` scales each filter `d_i` to
//!   `||w_i||` (`d_i * ||w_i|| / (||d_i|| + 1e-10)`), `layer` the whole
//!   tensor to `||w||`, `weight` multiplies entry-wise by `w`, `none` leaves
//!   it alone.
//!
//! A filter is the slice of weights that makes one output: dimension 0 of a
//! convolution `[out, in, kh, kw]` (as PyTorch), but dimension 1 of hessx's
//! `Linear`, whose weight is stored `[d_in, d_out]` (PyTorch's transpose).
//!
//! `weights` directions leave the running statistics at zero; `states`
//! directions move them too (the seed's `--dir_type states`).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::state::{StateLayout, TensorInfo};

/// How a direction is scaled against the weights (`--xnorm`, `--ynorm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Each filter gets the norm of the matching filter of the weights (the paper's choice).
    Filter,
    /// Each tensor gets the norm of the matching weight tensor.
    Layer,
    /// Entry-wise product with the weights.
    Weight,
    /// Left as drawn (or as loaded).
    None,
}

impl Norm {
    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            Norm::Filter => "filter",
            Norm::Layer => "layer",
            Norm::Weight => "weight",
            Norm::None => "none",
        }
    }
}

/// Which tensors a direction spans (`--dir-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DirType {
    /// Trainable parameters only; running statistics stay those of the origin.
    #[default]
    Weights,
    /// Trainable parameters and batch-norm running statistics.
    States,
}

impl DirType {
    /// Whether tensor `t` is part of a direction of this type.
    pub fn includes(self, t: &TensorInfo) -> bool {
        self == DirType::States || !t.running
    }
}

/// A direction with N(0, 1) entries on the tensors `dir_type` includes and
/// zeros elsewhere, from the stream of `seed`.
pub fn random_direction(layout: &StateLayout, dir_type: DirType, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = vec![0f32; layout.len];
    for t in layout.tensors.iter().filter(|t| dir_type.includes(t)) {
        for v in &mut d[t.range()] {
            *v = StandardNormal.sample(&mut rng);
        }
    }
    d
}

/// Normalise `d` against the weights `w` in place, tensor by tensor (see the
/// module docs). With `copy_low_rank` false (eigenvector and PCA directions,
/// which are not random), tensors of rank <= 1 are only zeroed by
/// `ignore_biasbn` and otherwise kept.
pub fn normalize(layout: &StateLayout, d: &mut [f32], w: &[f32], dir_type: DirType, norm: Norm, ignore_biasbn: bool, copy_low_rank: bool) {
    for t in &layout.tensors {
        let r = t.range();
        if !dir_type.includes(t) {
            d[r].fill(0.0);
            continue;
        }
        if t.shape.len() <= 1 {
            if ignore_biasbn {
                d[r].fill(0.0);
            } else if copy_low_rank {
                d[r.clone()].copy_from_slice(&w[r]);
            }
            continue;
        }
        let (dt, wt) = (&mut d[r.clone()], &w[r]);
        match norm {
            Norm::None => {}
            Norm::Weight => dt.iter_mut().zip(wt).for_each(|(a, b)| *a *= b),
            Norm::Layer => {
                let scale = l2(wt.iter().copied()) / (l2(dt.iter().copied()) + 1e-10);
                dt.iter_mut().for_each(|a| *a = (*a as f64 * scale) as f32);
            }
            Norm::Filter => {
                for filter in filters(&t.shape) {
                    let scale = l2(filter.iter().map(|&i| wt[i])) / (l2(filter.iter().map(|&i| dt[i])) + 1e-10);
                    for &i in &filter {
                        dt[i] = (dt[i] as f64 * scale) as f32;
                    }
                }
            }
        }
    }
}

/// Entries with rank <= 1 (biases, batch norm) set to zero: `ignore biasbn`
/// for directions that are not normalised.
pub fn zero_biasbn(layout: &StateLayout, d: &mut [f32]) {
    for t in layout.tensors.iter().filter(|t| t.shape.len() <= 1) {
        d[t.range()].fill(0.0);
    }
}

/// The element indices (within the tensor) of each filter of a tensor of
/// `shape` (rank >= 2): dimension 1 of a rank-2 `[d_in, d_out]` linear
/// weight, dimension 0 otherwise.
pub fn filters(shape: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = shape.iter().product();
    if shape.len() == 2 {
        let (rows, cols) = (shape[0], shape[1]);
        return (0..cols).map(|c| (0..rows).map(|r| r * cols + c).collect()).collect();
    }
    let per = n / shape[0].max(1);
    (0..shape[0]).map(|f| (f * per..(f + 1) * per).collect()).collect()
}

/// Euclidean norm in f64.
pub fn l2(values: impl Iterator<Item = f32>) -> f64 {
    values.map(|v| (v as f64) * (v as f64)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use hessx_models::{Arch, InputSpec, ModelSpec};

    fn model() -> (StateLayout, Vec<f32>) {
        let spec = ModelSpec {
            arch: Arch::ResNet { depth: 8, batch_norm: true, residual: true },
            input: InputSpec::Image { channels: 1, height: 8, width: 8 },
            num_classes: 4,
        };
        let net = spec.init::<Flex>(&Default::default());
        let layout = StateLayout::of(&net);
        let w = layout.read(&net);
        (layout, w)
    }

    #[test]
    fn filter_normalisation_gives_each_filter_the_weights_norm() {
        let (layout, w) = model();
        let mut d = random_direction(&layout, DirType::Weights, 7);
        normalize(&layout, &mut d, &w, DirType::Weights, Norm::Filter, true, true);
        let mut checked = 0;
        for t in &layout.tensors {
            let (dt, wt) = (&d[t.range()], &w[t.range()]);
            if t.shape.len() <= 1 {
                assert!(dt.iter().all(|&v| v == 0.0), "{}: ignored bias/BN must be zero", t.path);
                continue;
            }
            for f in filters(&t.shape) {
                let (nd, nw) = (l2(f.iter().map(|&i| dt[i])), l2(f.iter().map(|&i| wt[i])));
                assert!((nd - nw).abs() <= 1e-5 * nw.max(1e-3), "{}: filter norm {nd} vs weights {nw}", t.path);
                checked += 1;
            }
        }
        // conv filters are output channels; the final linear layer [64, 4] has 4 filters (columns).
        let fc = layout.tensors.iter().find(|t| t.path == "fc.weight").unwrap();
        assert_eq!(filters(&fc.shape).len(), 4);
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn low_rank_tensors_copy_the_weights_unless_ignored_and_running_stats_follow_dir_type() {
        let (layout, w) = model();
        let mut d = random_direction(&layout, DirType::States, 3);
        normalize(&layout, &mut d, &w, DirType::States, Norm::Layer, false, true);
        for t in layout.tensors.iter().filter(|t| t.shape.len() <= 1) {
            assert_eq!(&d[t.range()], &w[t.range()], "{}", t.path);
        }
        let mut d = random_direction(&layout, DirType::Weights, 3);
        normalize(&layout, &mut d, &w, DirType::Weights, Norm::Layer, false, true);
        for t in &layout.tensors {
            let dt = &d[t.range()];
            if t.running {
                assert!(dt.iter().all(|&v| v == 0.0), "{}", t.path);
            } else if t.shape.len() >= 2 {
                let (nd, nw) = (l2(dt.iter().copied()), l2(w[t.range()].iter().copied()));
                assert!((nd - nw).abs() <= 1e-5 * nw, "{}: layer norm {nd} vs {nw}", t.path);
            }
        }
    }

    #[test]
    fn weight_normalisation_is_entrywise_and_seeds_are_reproducible() {
        let (layout, w) = model();
        let raw = random_direction(&layout, DirType::Weights, 11);
        assert_eq!(raw, random_direction(&layout, DirType::Weights, 11));
        assert_ne!(raw, random_direction(&layout, DirType::Weights, 12));
        let mut d = raw.clone();
        normalize(&layout, &mut d, &w, DirType::Weights, Norm::Weight, true, true);
        for t in layout.tensors.iter().filter(|t| t.shape.len() >= 2) {
            for i in t.range() {
                assert_eq!(d[i], raw[i] * w[i]);
            }
        }
    }

    #[test]
    fn linear_filters_are_columns() {
        // [d_in = 2, d_out = 3]: filter j holds entries j, 3 + j.
        assert_eq!(filters(&[2, 3]), vec![vec![0, 3], vec![1, 4], vec![2, 5]]);
        assert_eq!(filters(&[2, 1, 2, 1]), vec![vec![0, 1], vec![2, 3]]);
    }
}
