//! Synthetic image classification data of any shape and size, for tests and
//! scaling benchmarks: each class has a smooth prototype image (a sum of a
//! few random low-frequency waves per channel); an example is its class's
//! prototype plus a random smooth deformation, a brightness shift and pixel
//! noise. A model can learn it, and it is the same for the same seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::{Error, ImageSet, Result};

/// Parameters of a synthetic image dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// Dataset name (the folder under the data directory). Default `synthetic`.
    pub name: String,
    /// Number of classes. Default 10.
    pub classes: usize,
    /// `[channels, height, width]`. Default `[3, 32, 32]`.
    pub shape: [usize; 3],
    /// Training examples. Default 5,000.
    pub train: usize,
    /// Test examples. Default 1,000.
    pub test: usize,
    /// Seed of everything random. Default 0.
    pub seed: u64,
    /// Standard deviation of the per-pixel noise on [0, 1] pixels. Default 0.1.
    pub noise: f32,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig { name: "synthetic".into(), classes: 10, shape: [3, 32, 32], train: 5000, test: 1000, seed: 0, noise: 0.1 }
    }
}

impl SyntheticConfig {
    /// How the data is made, recorded in the manifest: a change rebuilds the tables.
    pub fn recipe(&self) -> String {
        let [c, h, w] = self.shape;
        format!(
            "synthetic v1: classes={} channels={c} height={h} width={w} train={} test={} seed={} noise={}",
            self.classes, self.train, self.test, self.seed, self.noise
        )
    }

    fn validate(&self) -> Result<()> {
        if !(2..=u16::MAX as usize).contains(&self.classes) {
            return Err(Error::invalid("--classes", format!("{} classes; need 2..=65535", self.classes)));
        }
        for (flag, v) in [("--channels", self.shape[0]), ("--height", self.shape[1]), ("--width", self.shape[2])] {
            if v == 0 {
                return Err(Error::invalid(flag, "must be at least 1"));
            }
        }
        if self.train == 0 || self.test == 0 {
            return Err(Error::invalid("--train/--test", "both splits need at least one example"));
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return Err(Error::invalid("--noise", format!("{} is not a standard deviation >= 0", self.noise)));
        }
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(Error::invalid("--name", format!("`{}` is not a plain folder name", self.name)));
        }
        Ok(())
    }
}

/// A smooth random field on an `h x w` grid: a sum of `waves` cosines with
/// up to 3 cycles across the image, values roughly in [-1, 1].
fn smooth_field(rng: &mut ChaCha8Rng, h: usize, w: usize, waves: usize) -> Vec<f32> {
    let mut field = vec![0f32; h * w];
    for _ in 0..waves {
        let fy: f32 = rng.random_range(0.0..3.0);
        let fx: f32 = rng.random_range(0.0..3.0);
        let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let amp = 1.0 / waves as f32;
        for y in 0..h {
            for x in 0..w {
                let t = std::f32::consts::TAU * (fy * y as f32 / h as f32 + fx * x as f32 / w as f32) + phase;
                field[y * w + x] += amp * t.cos();
            }
        }
    }
    field
}

/// Generate `(train, test)` for `config`.
pub fn generate(config: &SyntheticConfig) -> Result<(ImageSet, ImageSet)> {
    config.validate()?;
    let [c, h, w] = config.shape;
    let plane = h * w;
    // Prototypes use their own stream so that split sizes do not change them.
    let mut proto_rng = ChaCha8Rng::seed_from_u64(config.seed);
    proto_rng.set_stream(u64::MAX);
    let prototypes: Vec<Vec<f32>> = (0..config.classes)
        .map(|_| (0..c).flat_map(|_| smooth_field(&mut proto_rng, h, w, 3)).map(|v| 0.5 + 0.3 * v).collect())
        .collect();
    let noise = Normal::new(0.0f32, config.noise).expect("a finite, non-negative std");
    let make = |split: &str, n: usize, stream: u64| {
        let mut set = ImageSet {
            dataset: config.name.clone(),
            split: split.into(),
            corruption: "none".into(),
            severity: 0,
            shape: config.shape,
            num_classes: config.classes,
            labels: Vec::with_capacity(n),
            pixels: Vec::with_capacity(n * c * plane),
        };
        for i in 0..n {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream((stream << 40) | i as u64);
            let label = rng.random_range(0..config.classes);
            let shift: f32 = rng.random_range(-0.05..0.05);
            let warp: Vec<f32> = smooth_field(&mut rng, h, w, 2);
            for ch in 0..c {
                for p in 0..plane {
                    let v = prototypes[label][ch * plane + p] + 0.1 * warp[p] + shift + noise.sample(&mut rng);
                    set.pixels.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
            set.labels.push(label as u16);
        }
        set
    };
    Ok((make("train", config.train, 1), make("test", config.test, 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accuracy on `test` of the nearest class mean of `train`.
    fn nearest_centroid_accuracy(train: &ImageSet, test: &ImageSet) -> f64 {
        let size = train.image_len();
        let mut sums = vec![vec![0f64; size]; train.num_classes];
        let mut counts = vec![0usize; train.num_classes];
        for i in 0..train.len() {
            let l = train.labels[i] as usize;
            counts[l] += 1;
            sums[l].iter_mut().zip(train.image(i)).for_each(|(s, &v)| *s += v as f64);
        }
        let correct = (0..test.len())
            .filter(|&i| {
                let dist = |k: usize| -> f64 {
                    sums[k].iter().zip(test.image(i)).map(|(s, &v)| (s / counts[k].max(1) as f64 - v as f64).powi(2)).sum()
                };
                let best = (0..train.num_classes).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap();
                best == test.labels[i] as usize
            })
            .count();
        correct as f64 / test.len() as f64
    }

    #[test]
    fn classes_are_learnable_and_generation_is_seeded() {
        let config = SyntheticConfig { classes: 5, shape: [2, 12, 10], train: 400, test: 200, seed: 3, ..Default::default() };
        let (train, test) = generate(&config).unwrap();
        assert_eq!((train.len(), test.len(), train.shape), (400, 200, [2, 12, 10]));
        assert_eq!(train.pixels.len(), 400 * 240);
        // Chance is 0.2; the class structure must carry almost all the signal.
        let acc = nearest_centroid_accuracy(&train, &test);
        assert!(acc > 0.9, "nearest-centroid accuracy {acc}");
        // Every class appears.
        assert!((0..5).all(|k| train.labels.contains(&k)));
        assert_eq!(generate(&config).unwrap().0, train);
        let other = generate(&SyntheticConfig { seed: 4, ..config.clone() }).unwrap().0;
        assert_ne!(other.pixels, train.pixels);
        // A bigger training split keeps the first examples and the prototypes.
        let bigger = generate(&SyntheticConfig { train: 410, ..config }).unwrap().0;
        assert_eq!(&bigger.pixels[..train.pixels.len()], &train.pixels[..]);
    }

    #[test]
    fn bad_parameters_name_their_flag() {
        let err = generate(&SyntheticConfig { classes: 1, ..Default::default() }).unwrap_err().to_string();
        assert!(err.contains("--classes"), "{err}");
        let err = generate(&SyntheticConfig { shape: [3, 0, 4], ..Default::default() }).unwrap_err().to_string();
        assert!(err.contains("--height"), "{err}");
        let err = generate(&SyntheticConfig { noise: -1.0, ..Default::default() }).unwrap_err().to_string();
        assert!(err.contains("--noise"), "{err}");
    }
}
