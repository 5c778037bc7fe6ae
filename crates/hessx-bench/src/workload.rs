//! The ResNet20 product workload, held on the host so that every backend (and
//! PyTorch) computes on the same weights and the same batch.
//!
//! With a PyTorch reference directory (written by `bench/pytorch_reference.py`)
//! the weights come from its `resnet20.pt` state_dict and the batch from its
//! `x.npy` / `y.npy`; without one, the weights are a seeded initialisation
//! saved as a hessx checkpoint and the batch is seeded noise.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use hessx_data::npy;
use hessx_hessian::{B1, B2, Batch};
use hessx_models::{Arch, BnMode, InputSpec, ModelSpec, Net};
use hessx_pipeline::curvature::HessianBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where the weights live.
enum Weights {
    /// A PyTorch state_dict with PyHessian's names.
    Pytorch(PathBuf),
    /// A hessx checkpoint in a temporary directory (kept alive as long as this).
    Checkpoint { path: PathBuf, _dir: tempfile::TempDir },
}

/// Weights, inputs and labels of the product workload.
pub struct ProductWorkload {
    /// In words, e.g. `resnet20 3x32x32 batch 200`.
    pub name: String,
    /// Where the weights and batch came from, in words.
    pub origin: String,
    spec: ModelSpec,
    weights: Weights,
    /// NCHW inputs, already normalised.
    images: Vec<f32>,
    labels: Vec<u16>,
}

/// ResNet20 for 3x32x32 inputs and 10 classes.
fn resnet20() -> ModelSpec {
    ModelSpec {
        arch: Arch::ResNet { depth: 20, batch_norm: true, residual: true },
        input: InputSpec::Image { channels: 3, height: 32, width: 32 },
        num_classes: 10,
    }
}

impl ProductWorkload {
    /// The PyTorch reference's weights and batch from `dir`.
    pub fn from_pytorch(dir: &Path) -> Result<Self> {
        let read = |name: &str| -> Result<(npy::NpyHeader, BufReader<File>, PathBuf)> {
            let path = dir.join(name);
            let mut r = BufReader::new(File::open(&path).with_context(|| format!("opening {}", path.display()))?);
            let header = npy::read_header(&mut r, &path)?;
            Ok((header, r, path))
        };
        let (h, mut r, path) = read("x.npy")?;
        if h.shape.len() != 4 || h.shape[1..] != [3, 32, 32] {
            bail!("{}: shape {:?}, expected [N, 3, 32, 32]", path.display(), h.shape);
        }
        let images = npy::read_f32(&mut r, &h, &path)?;
        let (hy, mut r, path) = read("y.npy")?;
        let labels = npy::read_labels(&mut r, &hy, &path)?;
        if labels.len() != h.shape[0] {
            bail!("{}: {} labels for {} images", path.display(), labels.len(), h.shape[0]);
        }
        let state_dict = dir.join("resnet20.pt");
        // Load once here so that a wrong or corrupt file fails before any timing.
        hessx_models::load_pytorch(resnet20().init::<burn::backend::Flex>(&Default::default()), &state_dict)?;
        Ok(ProductWorkload {
            name: format!("resnet20 3x32x32 batch {}", labels.len()),
            origin: format!("weights and batch of the PyTorch reference in {}", dir.display()),
            spec: resnet20(),
            weights: Weights::Pytorch(state_dict),
            images,
            labels,
        })
    }

    /// Seeded weights (initialised on Flex, saved as a checkpoint) and a seeded noise batch of `n`.
    pub fn seeded(n: usize) -> Result<Self> {
        let spec = resnet20();
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("resnet20.ckpt");
        let device = Default::default();
        <burn::backend::Flex as Backend>::seed(&device, 7);
        hessx_models::save_checkpoint(&spec.init::<burn::backend::Flex>(&device), &spec, &path)?;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        Ok(ProductWorkload {
            name: format!("resnet20 3x32x32 batch {n}"),
            origin: "seeded weights and a seeded noise batch (no PyTorch reference)".into(),
            spec,
            weights: Weights::Checkpoint { path, _dir: dir },
            images: (0..n * 3 * 32 * 32).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect(),
            labels: (0..n).map(|_| rng.random_range(0..10u16)).collect(),
        })
    }

    /// Batch size.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The model on `device`.
    pub fn model<B: Backend>(&self, device: &B::Device) -> Result<Net<B1<B>>> {
        Ok(match &self.weights {
            Weights::Pytorch(path) => hessx_models::load_pytorch(self.spec.init::<B1<B>>(device), path)?,
            Weights::Checkpoint { path, .. } => hessx_models::load_checkpoint::<B1<B>>(path, Some(&self.spec), device)?.1,
        })
    }

    /// The batch on `device`, on any backend `A`.
    pub fn tensors<A: Backend>(&self, device: &A::Device) -> (Tensor<A, 4>, Tensor<A, 1, Int>) {
        let n = self.len();
        let x = Tensor::from_data(TensorData::new(self.images.clone(), [n, 3, 32, 32]), device);
        let labels: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        (x, Tensor::from_data(TensorData::new(labels, [n]), device))
    }

    /// The batch as the Hessian operator's single batch (eval-mode BN, as PyHessian).
    pub fn hessian_batches<B: Backend>(&self, device: &B::Device) -> Vec<Batch<HessianBatch<B>>> {
        let (x, y) = self.tensors::<B2<B>>(device);
        vec![Batch::new(HessianBatch::new(x, y, BnMode::Eval), self.len())]
    }
}
