//! From datasets in memory to model inputs on the device: normalisation,
//! PyHessian's training augmentation (random crop with zero padding and a
//! horizontal flip), and seeded orders so that a resumed run sees exactly the
//! batches an uninterrupted one would. Images, tabular rows and token
//! sequences all become batches through [`BatchSource`].

use burn::prelude::*;
use burn::tensor::TensorData;
use hessx_data::{CtrSet, Examples, ImageSet, TokenSet};
use hessx_models::Input;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Per-channel normalisation applied to pixels scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean subtracted from each channel.
    pub mean: Vec<f32>,
    /// Standard deviation each channel is divided by.
    pub std: Vec<f32>,
}

impl Normalization {
    /// The constants of PyHessian's `training.py` (and most CIFAR-10 code).
    pub fn cifar10() -> Self {
        Normalization { mean: vec![0.4914, 0.4822, 0.4465], std: vec![0.2023, 0.1994, 0.2010] }
    }

    /// The channel statistics of `set` itself.
    pub fn of(set: &ImageSet) -> Self {
        let (mean, std) = set.channel_stats();
        Normalization { mean: mean.to_vec(), std: std.iter().map(|s| s.max(1e-6)).collect() }
    }

    /// The usual constants for `dataset` when it has them, else `set`'s
    /// statistics; none (empty) for examples that are not images.
    pub fn for_dataset(dataset: &str, set: &Examples) -> Self {
        match set {
            Examples::Images(set) if matches!(dataset, "cifar10" | "cifar10c") && set.shape[0] == 3 => Self::cifar10(),
            Examples::Images(set) => Self::of(set),
            _ => Self::none(),
        }
    }

    /// No normalisation: for tabular rows (whose dense features are
    /// standardised when the table is written) and token ids.
    pub fn none() -> Self {
        Normalization { mean: Vec::new(), std: Vec::new() }
    }
}

/// Examples that can be turned into model inputs: a dataset split of any kind.
pub trait BatchSource {
    /// Number of examples.
    fn len(&self) -> usize;

    /// Whether there is no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples `indices` as one batch of model inputs and their labels;
    /// images are normalised by `norm` and augmented when `augment` is given
    /// (other kinds take neither).
    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        norm: &Normalization,
        augment: Option<(Augment, &mut ChaCha8Rng)>,
        device: &B::Device,
    ) -> (Input<B>, Tensor<B, 1, Int>);
}

impl BatchSource for ImageSet {
    fn len(&self) -> usize {
        ImageSet::len(self)
    }
    fn batch<B: Backend>(&self, indices: &[usize], norm: &Normalization, augment: Option<(Augment, &mut ChaCha8Rng)>, device: &B::Device) -> (Input<B>, Tensor<B, 1, Int>) {
        let (x, y) = image_batch(self, indices, norm, augment, device);
        (Input::Images(x), y)
    }
}

impl BatchSource for CtrSet {
    fn len(&self) -> usize {
        CtrSet::len(self)
    }
    fn batch<B: Backend>(&self, indices: &[usize], _: &Normalization, _: Option<(Augment, &mut ChaCha8Rng)>, device: &B::Device) -> (Input<B>, Tensor<B, 1, Int>) {
        let rows = self.select(indices);
        let (n, f, d) = (indices.len(), rows.cardinalities.len(), rows.num_dense);
        let categorical: Vec<i64> = rows.categorical.iter().map(|&v| v as i64).collect();
        let input = Input::Tabular {
            categorical: Tensor::from_data(TensorData::new(categorical, [n, f]), device),
            dense: Tensor::from_data(TensorData::new(rows.dense, [n, d]), device),
        };
        (input, labels_tensor(&rows.labels, device))
    }
}

impl BatchSource for TokenSet {
    fn len(&self) -> usize {
        TokenSet::len(self)
    }
    fn batch<B: Backend>(&self, indices: &[usize], _: &Normalization, _: Option<(Augment, &mut ChaCha8Rng)>, device: &B::Device) -> (Input<B>, Tensor<B, 1, Int>) {
        let rows = self.select(indices);
        let tokens: Vec<i64> = rows.tokens.iter().map(|&v| v as i64).collect();
        let input = Input::Tokens(Tensor::from_data(TensorData::new(tokens, [indices.len(), rows.length]), device));
        (input, labels_tensor(&rows.labels, device))
    }
}

impl BatchSource for Examples {
    fn len(&self) -> usize {
        Examples::len(self)
    }
    fn batch<B: Backend>(&self, indices: &[usize], norm: &Normalization, augment: Option<(Augment, &mut ChaCha8Rng)>, device: &B::Device) -> (Input<B>, Tensor<B, 1, Int>) {
        match self {
            Examples::Images(s) => s.batch(indices, norm, augment, device),
            Examples::Tabular(s) => s.batch(indices, norm, augment, device),
            Examples::Tokens(s) => s.batch(indices, norm, augment, device),
        }
    }
}

fn labels_tensor<B: Backend>(labels: &[u16], device: &B::Device) -> Tensor<B, 1, Int> {
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let n = labels.len();
    Tensor::from_data(TensorData::new(labels, [n]), device)
}

/// Random crop (with zero padding) and horizontal flip, as torchvision's
/// `RandomCrop(size, padding)` + `RandomHorizontalFlip()`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Zero padding on each side before cropping back to the original size.
    pub padding: usize,
    /// Whether to flip left-right with probability 1/2.
    pub flip: bool,
}

/// The order in which epoch `epoch` visits the `n` examples: a permutation
/// that depends only on the seed and the epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    order
}

/// The RNG for augmenting the batch of optimiser step `step`.
pub fn step_rng(seed: u64, step: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ step)
}

/// Images `indices` of `set` as a normalised `[N, C, H, W]` float tensor and
/// their labels, augmented when `augment` is given.
pub fn image_batch<B: Backend>(
    set: &ImageSet,
    indices: &[usize],
    norm: &Normalization,
    augment: Option<(Augment, &mut ChaCha8Rng)>,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let [c, h, w] = set.shape;
    let mut pixels = vec![0f32; indices.len() * c * h * w];
    let mut augment = augment;
    for (slot, &i) in indices.iter().enumerate() {
        let image = set.image(i);
        let (dy, dx, flip) = match augment.as_mut() {
            Some((a, rng)) => {
                let p = a.padding as i64;
                let dy = rng.random_range(-p..=p);
                let dx = rng.random_range(-p..=p);
                (dy, dx, a.flip && rng.random_bool(0.5))
            }
            None => (0, 0, false),
        };
        let out = &mut pixels[slot * c * h * w..(slot + 1) * c * h * w];
        for ch in 0..c {
            let (m, s) = (norm.mean[ch % norm.mean.len()], norm.std[ch % norm.std.len()]);
            for y in 0..h {
                for x in 0..w {
                    // Output pixel (y, x) shows source pixel (y + dy, x' + dx) of the
                    // padded image; outside the source it is the zero padding.
                    let xs = if flip { w - 1 - x } else { x };
                    let (sy, sx) = (y as i64 + dy, xs as i64 + dx);
                    let raw = if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                        0.0
                    } else {
                        image[ch * h * w + sy as usize * w + sx as usize] as f32
                    };
                    out[ch * h * w + y * w + x] = (raw / 255.0 - m) / s;
                }
            }
        }
    }
    let labels: Vec<u16> = indices.iter().map(|&i| set.labels[i]).collect();
    (Tensor::from_data(TensorData::new(pixels, [indices.len(), c, h, w]), device), labels_tensor(&labels, device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn set() -> ImageSet {
        // 2 images, 1 channel, 2x3: pixel value = 10 * image + position.
        ImageSet {
            dataset: "t".into(),
            split: "train".into(),
            corruption: "none".into(),
            severity: 0,
            shape: [1, 2, 3],
            num_classes: 2,
            labels: vec![0, 1],
            pixels: (0..12).map(|p| (p / 6 * 10 + p % 6) as u8).collect(),
        }
    }

    #[test]
    fn unaugmented_batch_is_normalised_pixels_in_order() {
        let norm = Normalization { mean: vec![0.0], std: vec![1.0 / 255.0] };
        let (x, y) = image_batch::<Flex>(&set(), &[1, 0], &norm, None, &Default::default());
        let x: Vec<f32> = x.into_data().to_vec().unwrap();
        let expected = [10., 11., 12., 13., 14., 15., 0., 1., 2., 3., 4., 5.];
        // (p / 255 - 0) / (1 / 255) is p up to f32 rounding.
        assert!(x.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-5), "{x:?}");
        assert_eq!(y.into_data().to_vec::<i32>().unwrap(), [1, 0]);
    }

    #[test]
    fn augmented_pixels_are_a_shifted_or_flipped_copy() {
        let norm = Normalization { mean: vec![0.0], std: vec![1.0 / 255.0] };
        let mut rng = step_rng(3, 0);
        for _ in 0..20 {
            let a = Augment { padding: 1, flip: true };
            let (x, _) = image_batch::<Flex>(&set(), &[0], &norm, Some((a, &mut rng)), &Default::default());
            let x: Vec<f32> = x.into_data().to_vec().unwrap();
            // Every output pixel is either padding (0) or one of the source pixels.
            assert!(x.iter().all(|&v| (0.0..=5.0).contains(&v) && v.fract() == 0.0), "{x:?}");
        }
    }

    #[test]
    fn tabular_and_token_batches_hold_the_selected_rows_in_order() {
        let dev = Default::default();
        let rows = CtrSet {
            split: "train".into(),
            cardinalities: vec![3, 4],
            num_dense: 2,
            categorical: vec![0, 1, 2, 3, 1, 0],
            dense: vec![0.5, -1.0, 2.0, 3.0, -4.0, 5.5],
            labels: vec![0, 1, 1],
        };
        let (input, y) = rows.batch::<Flex>(&[2, 0], &Normalization::none(), None, &dev);
        let Input::Tabular { categorical, dense } = input else { panic!("tabular rows give a tabular input") };
        assert_eq!(categorical.into_data().convert::<i64>().to_vec::<i64>().unwrap(), [1, 0, 0, 1]);
        assert_eq!(dense.into_data().to_vec::<f32>().unwrap(), [-4.0, 5.5, 0.5, -1.0]);
        assert_eq!(y.into_data().convert::<i64>().to_vec::<i64>().unwrap(), [1, 0]);
        let tokens = TokenSet {
            dataset: "seq".into(),
            split: "train".into(),
            corruption: "none".into(),
            severity: 0,
            vocab: 9,
            length: 3,
            num_classes: 3,
            tokens: vec![1, 2, 3, 4, 5, 6, 7, 8, 0],
            labels: vec![2, 0, 1],
        };
        let (input, y) = Examples::Tokens(tokens).batch::<Flex>(&[1, 2], &Normalization::none(), None, &dev);
        let Input::Tokens(t) = input else { panic!("token rows give a token input") };
        assert_eq!(t.dims(), [2, 3]);
        assert_eq!(t.into_data().convert::<i64>().to_vec::<i64>().unwrap(), [4, 5, 6, 7, 8, 0]);
        assert_eq!(y.into_data().convert::<i64>().to_vec::<i64>().unwrap(), [0, 1]);
    }

    #[test]
    fn epoch_orders_are_permutations_that_differ_between_epochs() {
        let a = epoch_order(100, 1, 0);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, epoch_order(100, 1, 1));
        assert_eq!(a, epoch_order(100, 1, 0));
    }
}
