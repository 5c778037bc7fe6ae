//! The measurements. Each returns rows; nothing here formats output.

use std::time::Instant;

use anyhow::{Context, Result};
use burn::prelude::*;
use hessx_data::{ImageSet, load_images};
use hessx_hessian::{
    B1, Batch, HutchinsonConfig, HutchppConfig, LanczosConfig, OnePassConfig, ParamLayout, PowerConfig, ProbeKind,
    ProbeStream, SlqConfig, SymOp, dense_eigen, dense_hessian, flat_gradient, hutchinson, hutchpp, lanczos_top_k, one_pass,
    power_iteration, slq,
};
use hessx_models::{Activation, Arch, BnMode, Input, InputSpec, ModelSpec, Net, cross_entropy};
use hessx_pipeline::batches::Normalization;
use hessx_pipeline::curvature::{HessianBnMode, ModelHessian, hessian_batches, model_hessian};
use hessx_store::DataDir;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Cli;

hessx_store::row_type! {
    /// One measured figure.
    pub struct BenchRow {
        /// `products`, `eigen`, `trace`, `density`, `one-pass`.
        pub section: String,
        /// Model and input, e.g. `resnet20 3x32x32 batch 200`.
        pub workload: String,
        /// What was run, e.g. `lanczos top-5`.
        pub method: String,
        /// What was measured, e.g. `hvps`, `seconds`, `relative error`.
        pub metric: String,
        /// The figure.
        pub value: f64,
    }
}

/// Everything measured, plus where.
pub struct Results {
    /// The rows.
    pub rows: Vec<BenchRow>,
    /// Backend and device, in words.
    pub device: String,
}

struct Recorder {
    rows: Vec<BenchRow>,
}

impl Recorder {
    fn add(&mut self, section: &str, workload: &str, method: &str, metric: &str, value: f64) {
        tracing::info!("{section:9} {workload:32} {method:28} {metric:22} {value:.6}");
        self.rows.push(BenchRow {
            section: section.into(),
            workload: workload.into(),
            method: method.into(),
            metric: metric.into(),
            value,
        });
    }
}

/// Run every measurement on backend `B`.
pub fn run_all<B: Backend>(cli: &Cli, device: &B::Device) -> Result<Results> {
    let mut rec = Recorder { rows: Vec::new() };
    let digits = load_images(&DataDir::new(&cli.data_dir), "digits", "train", None)
        .context("the algorithm benchmarks use the embedded digits (run `hx-fetch digits`)")?;

    // Products on the flagship shape.
    let cifar = random_images([3, 32, 32], 10, cli.batch, 11);
    let resnet = |input: &ImageSet| spec(Arch::ResNet { depth: 20, batch_norm: true, residual: true }, input);
    let workload = format!("resnet20 3x32x32 batch {}", cli.batch);
    product_costs::<B>(&mut rec, &workload, &resnet(&cifar), &cifar, cli.batch, cli.repeats, device)?;

    // Algorithms on ResNet20 over a digits batch.
    let n = 200.min(digits.len());
    let workload = format!("resnet20 1x8x8 digits batch {n}");
    product_costs::<B>(&mut rec, &workload, &resnet(&digits), &digits, n, cli.repeats, device)?;
    let mut op = hessian_of::<B>(&resnet(&digits), &digits, n, device)?;
    algorithms(&mut rec, &workload, &mut op, None)?;

    // Exact ground truth on an MLP small enough for the dense Hessian.
    let mlp = spec(Arch::Mlp { hidden: vec![32, 16], activation: Activation::Tanh }, &digits);
    let workload = format!("mlp 64-32-16-10 digits batch {n}");
    let mut op = hessian_of::<B>(&mlp, &digits, n, device)?;
    let dense = dense_hessian(&mut op)?;
    let exact = dense_eigen(&dense.matrix);
    rec.add("exact", &workload, "dense Hessian", "hvps", dense.hvps as f64);
    rec.add("exact", &workload, "dense Hessian", "seconds", dense.seconds);
    algorithms(&mut rec, &workload, &mut op, Some(&exact.values))?;
    trace_errors(&mut rec, &workload, &mut op, dense.matrix.trace(), cli.trace_seeds)?;

    Ok(Results { rows: rec.rows, device: format!("{} ({device:?})", std::any::type_name::<B>()) })
}

fn spec(arch: Arch, data: &ImageSet) -> ModelSpec {
    let [channels, height, width] = data.shape;
    ModelSpec { arch, input: InputSpec::Image { channels, height, width }, num_classes: data.num_classes }
}

/// A seeded batch of random images (their content does not change the cost).
fn random_images(shape: [usize; 3], classes: usize, n: usize, seed: u64) -> ImageSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ImageSet {
        dataset: "random".into(),
        split: "bench".into(),
        corruption: "none".into(),
        severity: 0,
        shape,
        num_classes: classes,
        labels: (0..n).map(|_| rng.random_range(0..classes as u16)).collect(),
        pixels: (0..n * shape.iter().product::<usize>()).map(|_| rng.random()).collect(),
    }
}

fn seeded_model<B: Backend>(spec: &ModelSpec, device: &B::Device) -> Net<B1<B>> {
    <B1<B> as Backend>::seed(device, 7);
    spec.init::<B1<B>>(device)
}

fn hessian_of<B: Backend>(spec: &ModelSpec, data: &ImageSet, n: usize, device: &B::Device) -> Result<ModelHessian<B>> {
    let indices: Vec<usize> = (0..n).collect();
    let batches = hessian_batches::<B>(data, &indices, n, &Normalization::of(data), HessianBnMode::Eval, device);
    model_hessian(seeded_model::<B>(spec, device), batches)
}

/// Median seconds of `repeats` runs of `f` after one warm-up.
fn median_seconds(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn product_costs<B: Backend>(
    rec: &mut Recorder,
    workload: &str,
    spec: &ModelSpec,
    data: &ImageSet,
    n: usize,
    repeats: usize,
    device: &B::Device,
) -> Result<()> {
    let model = seeded_model::<B>(spec, device);
    let layout = ParamLayout::trainable(&model)?;
    let indices: Vec<usize> = (0..n).collect();
    let norm = Normalization::of(data);
    let (x, y) = hessx_pipeline::batches::image_batch::<B1<B>>(data, &indices, &norm, None, device);
    let batches = vec![Batch::new((x, y), n)];
    let loss = |m: &Net<B1<B>>, (x, y): &(Tensor<B1<B>, 4>, Tensor<B1<B>, 1, Int>)| {
        cross_entropy(m.forward(Input::Images(x.clone()), BnMode::Eval), y.clone())
    };
    let gradient = median_seconds(repeats, || {
        let g = flat_gradient(&model, &layout, &batches, loss)?;
        // Reading a value back waits for asynchronous backends.
        let _ = g.gradient.slice([0..1]).into_data();
        Ok(())
    })?;
    let mut op = model_hessian::<B>(model.clone(), hessian_batches::<B>(data, &indices, n, &norm, HessianBnMode::Eval, device))?;
    let v = op.vector_from_host(&ProbeStream::new(3).draw(ProbeKind::Rademacher, op.dim()));
    let hvp = median_seconds(repeats, || {
        let hv = op.apply(&v)?;
        let _ = hv.slice([0..1]).into_data();
        Ok(())
    })?;
    rec.add("products", workload, "gradient", "seconds", gradient);
    rec.add("products", workload, "hessian-vector product", "seconds", hvp);
    rec.add("products", workload, "hvp / gradient", "ratio", hvp / gradient);
    rec.add("products", workload, "parameters", "count", layout.dim() as f64);
    Ok(())
}

/// Top-1 and top-5 by Lanczos and power iteration at tol 1e-3, SLQ density,
/// and the one-pass mode, with eigenvalue errors against `truth` (the dense
/// spectrum) or, without it, against a Lanczos run converged to 1e-5.
fn algorithms<O: SymOp>(rec: &mut Recorder, workload: &str, op: &mut O, truth: Option<&[f64]>) -> Result<()> {
    let reference: Vec<f64> = match truth {
        Some(t) => t[..5].to_vec(),
        None => {
            let r = lanczos_top_k(op, &LanczosConfig { k: 5, max_iter: 400, tol: 1e-5, seed: 99, verify: true })?;
            rec.add("eigen", workload, "reference lanczos top-5 tol 1e-5", "hvps", r.hvps as f64);
            rec.add("eigen", workload, "reference lanczos top-5 tol 1e-5", "seconds", r.seconds);
            r.values
        }
    };
    // Power iteration converges to the eigenvalues of largest magnitude
    // (PyHessian's too), so its results are compared with those.
    let by_magnitude: Vec<f64> = match truth {
        Some(t) => {
            let mut m = t.to_vec();
            m.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
            m[..5].to_vec()
        }
        None => reference.clone(),
    };
    let error = |values: &[f64], against: &[f64], magnitude: bool| {
        let mut sorted = values.to_vec();
        if magnitude { sorted.sort_by(|a, b| b.abs().total_cmp(&a.abs())) } else { sorted.sort_by(|a, b| b.total_cmp(a)) }
        sorted.iter().zip(against).map(|(v, r)| ((v - r) / r).abs()).fold(0.0, f64::max)
    };
    let worst = |values: &[f64]| error(values, &reference, false);
    let mut power5 = (0u64, 0.0);
    for k in [1, 5] {
        let l = lanczos_top_k(op, &LanczosConfig { k, max_iter: 300, tol: 1e-3, seed: 1, verify: false })?;
        let p = power_iteration(op, &PowerConfig { top_n: k, max_iter: 100, tol: 1e-3, seed: 1, verify: false })?;
        for (name, r, err) in [
            (format!("lanczos top-{k}"), &l, worst(&l.values)),
            (format!("power top-{k} (largest |lambda|)"), &p, error(&p.values, &by_magnitude, true)),
        ] {
            rec.add("eigen", workload, &name, "hvps", r.hvps as f64);
            rec.add("eigen", workload, &name, "seconds", r.seconds);
            rec.add("eigen", workload, &name, "max relative error", err);
        }
        rec.add("eigen", workload, &format!("power/lanczos top-{k}"), "hvps ratio", p.hvps as f64 / l.hvps as f64);
        power5 = (p.hvps, p.seconds);
    }
    let density = slq(op, &SlqConfig { iter: 100, n_v: 1, seed: 1, ..Default::default() })?;
    rec.add("density", workload, "slq iter 100 n_v 1", "hvps", density.hvps as f64);
    rec.add("density", workload, "slq iter 100 n_v 1", "seconds", density.seconds);
    let once = one_pass(op, &OnePassConfig { slq: SlqConfig { iter: 100, n_v: 1, seed: 1, ..Default::default() }, k: 5, tol: 1e-3, verify: false })?;
    rec.add("one-pass", workload, "one-pass iter 100 (eigen+trace+density)", "hvps", once.runs.hvps as f64);
    rec.add("one-pass", workload, "one-pass iter 100 (eigen+trace+density)", "seconds", once.runs.seconds);
    rec.add("one-pass", workload, "one-pass top-5", "max relative error", worst(&once.eigen.values));
    // PyHessian's three calls: eigenvalues(top_n=5), trace(maxIter=100, tol=1e-3), density(iter=100, n_v=1).
    // The power top-5 run above is PyHessian's first call.
    let h = hutchinson(op, &HutchinsonConfig { max_probes: 100, tol: 1e-3, seed: 1 })?;
    let separate = power5.0 + h.hvps + density.hvps;
    rec.add("one-pass", workload, "PyHessian's three calls (power top-5 + hutchinson + slq)", "hvps", separate as f64);
    rec.add("one-pass", workload, "PyHessian's three calls (power top-5 + hutchinson + slq)", "seconds", power5.1 + h.seconds + density.seconds);
    Ok(())
}

/// Root-mean-square relative error of Hutchinson and Hutch++ at equal
/// product budgets, over `seeds` seeds, against the exact trace.
fn trace_errors<O: SymOp>(rec: &mut Recorder, workload: &str, op: &mut O, exact: f64, seeds: u64) -> Result<()> {
    rec.add("trace", workload, "exact (dense)", "trace", exact);
    for budget in [30usize, 60, 99] {
        let (mut e_h, mut e_pp) = (0.0, 0.0);
        for seed in 0..seeds {
            let h = hutchinson(op, &HutchinsonConfig { max_probes: budget, tol: 0.0, seed })?;
            let pp = hutchpp(op, &HutchppConfig { num_hvps: budget, seed })?;
            e_h += ((h.estimate - exact) / exact).powi(2);
            e_pp += ((pp.estimate - exact) / exact).powi(2);
        }
        let n = seeds.max(1) as f64;
        rec.add("trace", workload, &format!("hutchinson {budget} hvps"), "rms relative error", (e_h / n).sqrt());
        rec.add("trace", workload, &format!("hutch++ {budget} hvps"), "rms relative error", (e_pp / n).sqrt());
    }
    Ok(())
}
