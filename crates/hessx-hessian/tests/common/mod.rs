//! Shared fixtures: matrices with known spectra and small burn models written by the rules of
//! `notes/burn-nested-autodiff.md` (matmul + bias instead of `nn::Linear`, tanh, log_softmax + gather).
#![allow(dead_code)]

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// `Q diag(eigs) Q^T` with `Q` a random orthogonal matrix (QR of a Gaussian matrix), and `Q`.
pub fn known_spectrum(eigs: &[f64], seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = eigs.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal));
    let q = g.qr().q();
    let a = &q * DMatrix::from_diagonal(&DVector::from_row_slice(eigs)) * q.transpose();
    ((&a + a.transpose()) * 0.5, q)
}

/// `|cos|` between two vectors.
pub fn abs_cos(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    (dot / (na * nb)).abs()
}

/// `||a - b|| / ||b||`.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    d / b.iter().map(|y| y * y).sum::<f64>().sqrt()
}

/// Deterministic pseudo-random host values in `[-scale, scale]`.
pub fn host_values(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// The analytic quadratic `0.5 w^T A w + b^T w` has one parameter tensor `w`; its Hessian is `A`.
#[derive(Module, Debug)]
pub struct Quadratic<B: Backend> {
    pub w: Param<Tensor<B, 1>>,
}

impl<B: Backend> Quadratic<B> {
    pub fn new(w: &[f64], device: &B::Device) -> Self {
        let t = Tensor::<B, 1>::from_data(TensorData::new(w.to_vec(), [w.len()]), device);
        Quadratic {
            w: Param::from_tensor(t),
        }
    }

    /// `0.5 w^T A w + b^T w`.
    pub fn loss(&self, a: &Tensor<B, 2>, b: &Tensor<B, 1>) -> Tensor<B, 1> {
        let w = self.w.val();
        let n = w.dims()[0];
        let aw = a.clone().matmul(w.clone().reshape([n, 1])).reshape([n]);
        (w.clone() * aw).sum().mul_scalar(0.5) + (b.clone() * w).sum()
    }
}

/// `nn::Linear` replacement that second-differentiates: `x W + b`, weight `[d_in, d_out]`.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    pub fn new(d_in: usize, d_out: usize, seed: u64, device: &B::Device) -> Self {
        let scale = 1.5 / (d_in as f64).sqrt();
        let w = Tensor::<B, 2>::from_data(
            TensorData::new(host_values(d_in * d_out, scale, seed), [d_in, d_out]),
            device,
        );
        let b = Tensor::<B, 1>::from_data(
            TensorData::new(host_values(d_out, 0.3, seed + 1), [d_out]),
            device,
        );
        Linear {
            weight: Param::from_tensor(w),
            bias: Some(Param::from_tensor(b)),
        }
    }

    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = x.matmul(self.weight.val());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze::<2>(),
            None => y,
        }
    }
}

/// 6 -> 16 -> 3 tanh MLP: 6*16 + 16 + 16*3 + 3 = 163 parameters.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

pub const MLP_PARAMS: usize = 6 * 16 + 16 + 16 * 3 + 3;

impl<B: Backend> Mlp<B> {
    pub fn new(device: &B::Device) -> Self {
        Mlp {
            fc1: Linear::new(6, 16, 11, device),
            fc2: Linear::new(16, 3, 23, device),
        }
    }

    /// Mean softmax cross-entropy, written with log_softmax + gather.
    pub fn loss(&self, x: &Tensor<B, 2>, y: &Tensor<B, 1, Int>) -> Tensor<B, 1> {
        let logits = self.fc2.forward(self.fc1.forward(x.clone()).tanh());
        let n = y.dims()[0];
        let lp = log_softmax(logits, 1);
        lp.gather(1, y.clone().reshape([n, 1])).mean().neg()
    }
}

/// A deterministic classification set: `n` inputs of dimension 6 and labels in 0..3 that depend on them
/// (so the loss is not at a trivial point).
pub fn mlp_data(n: usize) -> (Vec<f64>, Vec<i64>) {
    let x = host_values(n * 6, 1.0, 99);
    let y = (0..n)
        .map(|i| {
            let r = &x[i * 6..i * 6 + 6];
            let s = r[0] + 0.5 * r[1] - r[2] * r[3];
            if s > 0.3 {
                0
            } else if s < -0.3 {
                1
            } else {
                2
            }
        })
        .collect();
    (x, y)
}

/// Rows `lo..hi` of the data set as tensors on backend `B`.
pub fn mlp_batch<B: Backend>(
    x: &[f64],
    y: &[i64],
    lo: usize,
    hi: usize,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
    let xs = Tensor::<B, 2>::from_data(
        TensorData::new(x[lo * 6..hi * 6].to_vec(), [hi - lo, 6]),
        device,
    );
    let ys = Tensor::<B, 1, Int>::from_data(TensorData::new(y[lo..hi].to_vec(), [hi - lo]), device);
    (xs, ys)
}
