//! Building blocks that second-differentiate under nested autodiff.
//!
//! burn 0.21's `nn::Linear`, `nn::Embedding`, the pooling modules and the
//! fused `gelu` either panic or are inexact on `Autodiff<Autodiff<_>>`
//! (see `notes/burn-nested-autodiff.md`), so every model in this crate is
//! written from the replacements here. `nn::BatchNorm` is kept only as the
//! stored struct (its field names are what burn records and the PyTorch
//! importer expect); its forward is [`batch_norm`], whose mode is an
//! explicit argument instead of being inferred from the backend.

use burn::module::{Initializer, Module, Param};
use burn::nn::BatchNorm;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use serde::{Deserialize, Serialize};

/// Batch-norm mode, always chosen by the caller (never inferred from the backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnMode {
    /// Normalise with the batch's statistics and update the running statistics
    /// (momentum 0.1, PyTorch's unbiased running variance).
    Train,
    /// Normalise with the batch's statistics but leave the running statistics
    /// alone: a train-mode loss whose evaluation has no side effect, for
    /// gradients and Hessians taken in train mode.
    TrainFrozen,
    /// Normalise with the (detached) running statistics, as PyTorch's `eval()`.
    Eval,
}

/// Point-wise non-linearity of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(x, 0)`; piecewise linear, so its Hessian exists almost everywhere.
    Relu,
    /// `tanh(x)`; smooth.
    Tanh,
    /// `log(1 + e^x)`, written in the overflow-free form `relu(x) + log1p(e^-|x|)`.
    Softplus,
    /// Exact GELU `x (1 + erf(x / sqrt 2)) / 2`, written with `erf` because
    /// burn's fused `gelu` has the tanh approximation's derivative under nesting.
    Gelu,
}

impl Activation {
    /// Applies the activation element-wise.
    pub fn apply<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Relu => burn::tensor::activation::relu(x),
            Activation::Tanh => x.tanh(),
            Activation::Softplus => {
                let tail = x.clone().abs().neg().exp().log1p();
                burn::tensor::activation::relu(x) + tail
            }
            Activation::Gelu => {
                let half = x.clone() * 0.5;
                half.clone() + half * (x / std::f64::consts::SQRT_2).erf()
            }
        }
    }

    /// Lower-case name used in model names (`mlp-64x32-tanh`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
        }
    }
}

/// Fully connected layer `y = x W + b` from matmul and add, replacing
/// `nn::Linear` (whose backward is not differentiable in burn 0.21).
///
/// The struct must be called `Linear`: burn-store's PyTorch adapter
/// transposes the weight (torch `[out, in]` to burn `[in, out]`) only for a
/// module of that name.
///
/// # Shapes
/// - `weight`: `[d_in, d_out]`, `bias`: `[d_out]`
/// - input `[..., d_in]`, output `[..., d_out]`
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// Weight, `[d_in, d_out]`.
    pub weight: Param<Tensor<B, 2>>,
    /// Optional bias, `[d_out]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch's default initialisation: weight and bias uniform in
    /// `±1/sqrt(d_in)`.
    pub fn new(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        let init = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        Linear {
            weight: init.init([d_in, d_out], device),
            bias: bias.then(|| init.init([d_out], device)),
        }
    }

    /// Applies the layer to the last dimension, broadcasting over the others.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let y = x.matmul(self.weight.val().unsqueeze::<D>());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze::<D>(),
            None => y,
        }
    }
}

/// A fresh batch norm over `channels` with PyTorch's defaults (eps 1e-5,
/// momentum 0.1, gamma 1, beta 0, running mean 0, running var 1).
pub fn batch_norm_layer<B: Backend>(channels: usize, device: &B::Device) -> BatchNorm<B> {
    burn::nn::BatchNormConfig::new(channels).init(device)
}

/// Batch norm of `[N, C, H, W]` activations with an explicit mode.
///
/// Written in the "rows" form (`notes/cpu-backends.md` §4.3): the activation
/// is viewed as `[N*C, H*W]` and every per-channel vector as an `[N*C, 1]`
/// column, which hits Flex's per-row SIMD path (per-channel `[1, C, 1, 1]`
/// broadcasts are 20-70x slower there). Only ops that second-differentiate
/// are used.
///
/// - [`BnMode::Eval`]: `y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta`,
///   with the running statistics taken as constants.
/// - [`BnMode::Train`] / [`BnMode::TrainFrozen`]: batch mean and biased batch
///   variance over `N*H*W`, as PyTorch. `Train` then sets
///   `running = (1 - momentum) * running + momentum * batch_stat`, where the
///   batch variance is the *unbiased* one (`* n / (n - 1)`), as PyTorch does
///   (burn's own `nn::BatchNorm` uses the biased one). The update is made
///   from the statistics' values only (read back and rebuilt), so it carries
///   no autodiff graph at any nesting level. Running statistics live in a
///   shared cell: clones of a model share them, while
///   `AutodiffModule::from_inner` copies them, so a Hessian computed on a
///   lifted copy never moves the original's statistics.
pub fn batch_norm<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>, mode: BnMode) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let rows = |t: Tensor<B, 1>| t.reshape([1, c]).repeat_dim(0, n).reshape([n * c, 1]);
    let x2 = x.reshape([n * c, h * w]);
    let gamma = bn.gamma.val();
    let beta = bn.beta.val();
    let y = match mode {
        BnMode::Eval => {
            let mean = bn.running_mean.value_sync();
            let var = bn.running_var.value_sync();
            let scale = (var + bn.epsilon).sqrt().recip() * gamma;
            let shift = beta - mean * scale.clone();
            x2 * rows(scale) + rows(shift)
        }
        BnMode::Train | BnMode::TrainFrozen => {
            let count = (n * h * w) as f64;
            let channel_sum =
                |t: Tensor<B, 2>| t.sum_dim(1).reshape([n, c]).sum_dim(0).reshape([c]);
            let mean = channel_sum(x2.clone()) / count;
            let centred = x2 - rows(mean.clone());
            let var = channel_sum(centred.clone() * centred.clone()) / count;
            if mode == BnMode::Train {
                update_running_stats(bn, &mean, &var, count, &device);
            }
            let scale = (var + bn.epsilon).sqrt().recip() * gamma;
            centred * rows(scale) + rows(beta)
        }
    };
    y.reshape([n, c, h, w])
}

/// Momentum update of the running statistics from the values of the batch
/// statistics (no graph: the values are read back and rebuilt).
fn update_running_stats<B: Backend>(
    bn: &BatchNorm<B>,
    mean: &Tensor<B, 1>,
    var: &Tensor<B, 1>,
    count: f64,
    device: &B::Device,
) {
    let constant = |t: &Tensor<B, 1>| -> Tensor<B, 1> {
        let data: TensorData = t.clone().into_data();
        Tensor::from_data(data, device)
    };
    let m = bn.momentum;
    let unbiased = if count > 1.0 {
        count / (count - 1.0)
    } else {
        1.0
    };
    let old_mean = bn.running_mean.value_sync();
    let old_var = bn.running_var.value_sync();
    bn.running_mean
        .update(old_mean * (1.0 - m) + constant(mean) * m);
    bn.running_var
        .update(old_var * (1.0 - m) + constant(var) * (m * unbiased));
}

/// 2x2 max pooling with stride 2 from reshape + `max_dim` (burn's max-pool
/// backward is not differentiable). Odd trailing rows/columns are dropped,
/// as PyTorch's `MaxPool2d(2, 2)` does.
///
/// # Shapes
/// `[N, C, H, W]` to `[N, C, H/2, W/2]`.
pub fn max_pool2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let (ho, wo) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.slice([0..n, 0..c, 0..2 * ho, 0..2 * wo])
    } else {
        x
    };
    x.reshape([n, c, ho, 2, wo, 2])
        .max_dim(5)
        .max_dim(3)
        .reshape([n, c, ho, wo])
}

/// Global average pooling `[N, C, H, W]` to `[N, C]` from `mean_dim`.
pub fn global_avg_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n * c, h * w]).mean_dim(1).reshape([n, c])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;

    type B0 = Flex;

    #[test]
    fn linear_matches_explicit_sum() {
        let dev = Default::default();
        let lin = Linear::<B0> {
            weight: Param::from_tensor(Tensor::from_floats(
                [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                &dev,
            )),
            bias: Some(Param::from_tensor(Tensor::from_floats([0.5, -0.5], &dev))),
        };
        let y = lin.forward(Tensor::<B0, 2>::from_floats([[1.0, 0.0, -1.0]], &dev));
        // [1 - 5 + 0.5, 2 - 6 - 0.5]
        y.into_data()
            .assert_approx_eq::<f32>(&TensorData::from([[-3.5f32, -4.5]]), Default::default());
    }

    #[test]
    fn max_pool_takes_the_max_of_each_2x2_window_and_floors_odd_sizes() {
        let dev = Default::default();
        let x = Tensor::<B0, 1, burn::tensor::Int>::arange(0..25, &dev)
            .float()
            .reshape([1, 1, 5, 5]);
        let y = max_pool2(x);
        assert_eq!(y.dims(), [1, 1, 2, 2]);
        y.into_data()
            .assert_eq(&TensorData::from([[[[6.0f32, 8.0], [16.0, 18.0]]]]), false);
    }

    #[test]
    fn activations_match_closed_forms() {
        let dev = Default::default();
        let xs = [-30.0f32, -1.0, 0.0, 0.5, 30.0];
        let x = Tensor::<B0, 1>::from_floats(xs, &dev);
        let sp: Vec<f32> = Activation::Softplus
            .apply(x.clone())
            .into_data()
            .to_vec()
            .unwrap();
        let ge: Vec<f32> = Activation::Gelu.apply(x).into_data().to_vec().unwrap();
        for (i, &v) in xs.iter().enumerate() {
            let v = v as f64;
            let softplus = if v > 0.0 {
                v + (-v).exp().ln_1p()
            } else {
                v.exp().ln_1p()
            };
            assert!((sp[i] as f64 - softplus).abs() < 1e-5, "softplus({v})");
        }
        // GELU reference values (x * Phi(x)): Phi(-1) = 0.158655, Phi(0.5) = 0.691462.
        let expected = [0.0, -0.158655, 0.0, 0.345731, 30.0];
        for (g, e) in ge.iter().zip(expected) {
            assert!((*g as f64 - e).abs() < 1e-5, "gelu {g} vs {e}");
        }
    }

    fn bn_with_stats(dev: &burn::tensor::Device<B0>) -> BatchNorm<B0> {
        let bn = batch_norm_layer::<B0>(3, dev);
        bn.running_mean
            .update(Tensor::from_floats([0.5, -1.0, 2.0], dev));
        bn.running_var
            .update(Tensor::from_floats([4.0, 0.25, 1.0], dev));
        bn
    }

    #[test]
    fn eval_mode_uses_running_statistics_per_sample() {
        let dev = Default::default();
        let bn = bn_with_stats(&dev);
        let a = Tensor::<B0, 4>::random([4, 3, 5, 5], Distribution::Normal(0.0, 1.0), &dev);
        let b = Tensor::<B0, 4>::random([6, 3, 5, 5], Distribution::Normal(3.0, 2.0), &dev);
        // Sample 0 of `a` put into a batch with very different other samples.
        let mixed = Tensor::cat(vec![a.clone().slice([0..1]), b], 0);
        let ya = batch_norm(&bn, a.clone(), BnMode::Eval).slice([0..1]);
        let ym = batch_norm(&bn, mixed, BnMode::Eval).slice([0..1]);
        ya.clone()
            .into_data()
            .assert_approx_eq::<f32>(&ym.into_data(), Default::default());
        // Closed form for channel 1: (x + 1) / sqrt(0.25 + 1e-5).
        let x1 = a.slice([0..1, 1..2]);
        let expected = (x1 + 1.0) / (0.25f64 + 1e-5).sqrt();
        ya.clone()
            .slice([0..1, 1..2])
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
        // Eval leaves the statistics alone.
        bn.running_mean
            .value_sync()
            .into_data()
            .assert_eq(&TensorData::from([0.5f32, -1.0, 2.0]), false);
        // Moving running_mean moves channel 0's output by -delta / sqrt(var + eps).
        let bn2 = bn_with_stats(&dev);
        bn2.running_mean
            .update(Tensor::from_floats([1.5, -1.0, 2.0], &dev));
        let a0 = Tensor::<B0, 4>::ones([1, 3, 2, 2], &dev);
        let y1 = batch_norm(&bn, a0.clone(), BnMode::Eval);
        let y2 = batch_norm(&bn2, a0, BnMode::Eval);
        let d: Vec<f32> = (y2 - y1).into_data().to_vec().unwrap();
        let shift = -1.0 / (4.0f64 + 1e-5).sqrt();
        for (i, v) in d.iter().enumerate() {
            let want = if i < 4 { shift } else { 0.0 };
            assert!(
                (*v as f64 - want).abs() < 1e-6,
                "element {i}: {v} vs {want}"
            );
        }
    }

    #[test]
    fn train_mode_normalises_with_batch_statistics_and_updates_running_ones() {
        let dev = Default::default();
        let bn = batch_norm_layer::<B0>(2, &dev);
        let x = Tensor::<B0, 4>::random([8, 2, 3, 3], Distribution::Normal(2.0, 3.0), &dev);
        let y = batch_norm(&bn, x.clone(), BnMode::Train);
        // Per channel the output has mean 0 and biased variance 1 (up to eps).
        let y_ch = y.swap_dims(0, 1).reshape([2, 72]);
        let mean: Vec<f32> = y_ch.clone().mean_dim(1).into_data().to_vec().unwrap();
        let var: Vec<f32> = y_ch
            .clone()
            .powi_scalar(2)
            .mean_dim(1)
            .into_data()
            .to_vec()
            .unwrap();
        for c in 0..2 {
            assert!(mean[c].abs() < 1e-5, "mean {}", mean[c]);
            assert!((var[c] - 1.0).abs() < 1e-3, "var {}", var[c]);
        }
        // Running stats: 0.9 * (0, 1) + 0.1 * (batch mean, unbiased batch var).
        let x_ch: Vec<f32> = x
            .swap_dims(0, 1)
            .reshape([2, 72])
            .into_data()
            .to_vec()
            .unwrap();
        let rm: Vec<f32> = bn.running_mean.value_sync().into_data().to_vec().unwrap();
        let rv: Vec<f32> = bn.running_var.value_sync().into_data().to_vec().unwrap();
        for c in 0..2 {
            let v = &x_ch[c * 72..(c + 1) * 72];
            let m = v.iter().map(|&a| a as f64).sum::<f64>() / 72.0;
            let s = v.iter().map(|&a| (a as f64 - m).powi(2)).sum::<f64>() / 71.0;
            assert!(
                (rm[c] as f64 - 0.1 * m).abs() < 1e-5,
                "running mean {} vs {}",
                rm[c],
                0.1 * m
            );
            assert!(
                (rv[c] as f64 - (0.9 + 0.1 * s)).abs() < 1e-4,
                "running var {} vs {}",
                rv[c],
                0.9 + 0.1 * s
            );
        }
        // TrainFrozen gives the same output and leaves the statistics alone.
        let before = bn.running_mean.value_sync().into_data();
        let x2 = Tensor::<B0, 4>::random([4, 2, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
        let _ = batch_norm(&bn, x2, BnMode::TrainFrozen);
        bn.running_mean
            .value_sync()
            .into_data()
            .assert_eq(&before, false);
    }

    #[test]
    fn rows_form_matches_burn_batch_norm_on_autodiff() {
        // burn's nn::BatchNorm runs in train mode on an autodiff backend; the
        // rows form in TrainFrozen mode must give the same normalisation.
        type B1 = Autodiff<Flex>;
        let dev = Default::default();
        let bn = batch_norm_layer::<B1>(4, &dev);
        let x = Tensor::<B1, 4>::random([5, 4, 6, 6], Distribution::Normal(1.0, 2.0), &dev);
        let ours = batch_norm(&bn, x.clone(), BnMode::TrainFrozen);
        let theirs = bn.forward(x);
        ours.into_data()
            .assert_approx_eq::<f32>(&theirs.into_data(), Default::default());
    }
}
