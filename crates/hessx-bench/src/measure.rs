//! The estimator measurements on the chosen backend, and the bookkeeping
//! every measurement shares. Nothing here formats output.

use std::time::Instant;

use anyhow::{Context, Result};
use burn::prelude::*;
use hessx_data::{ImageSet, load_images};
use hessx_hessian::{
    B1, HutchinsonConfig, HutchppConfig, LanczosConfig, OnePassConfig, PowerConfig, ProbeKind, ProbeStream, SlqConfig, SymOp, dense_eigen,
    dense_hessian, hutchinson, hutchpp, lanczos_top_k, one_pass, power_iteration, slq,
};
use hessx_models::{Activation, Arch, InputSpec, ModelSpec, Net};
use hessx_pipeline::batches::Normalization;
use hessx_pipeline::curvature::{HessianBnMode, ModelHessian, hessian_batches, model_hessian};
use hessx_store::DataDir;

use crate::Cli;

hessx_store::row_type! {
    /// One measured figure.
    pub struct BenchRow {
        /// `products`, `agreement`, `pyhessian`, `eigen`, `trace`, `density`, `one-pass`.
        pub section: String,
        /// The backend that computed it (`flex`, `libtorch`, `pytorch`, ...).
        pub backend: String,
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
    /// How the product workload was made, in words.
    pub workload_origin: String,
    /// The backend the estimator benchmarks ran on.
    pub chosen: String,
}

/// Collects rows, labelled with the backend being measured.
pub struct Recorder {
    /// Rows so far.
    pub rows: Vec<BenchRow>,
    backend: String,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Recorder { rows: Vec::new(), backend: String::new() }
    }

    /// Label the following rows with `backend`.
    pub fn set_backend(&mut self, backend: &str) {
        self.backend = backend.into();
    }

    /// The backend the following rows are labelled with.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Record (and log) one figure.
    pub fn add(&mut self, section: &str, workload: &str, method: &str, metric: &str, value: f64) {
        tracing::info!("{section:9} {:8} {workload:32} {method:28} {metric:22} {value:.6}", self.backend);
        self.rows.push(BenchRow {
            section: section.into(),
            backend: self.backend.clone(),
            workload: workload.into(),
            method: method.into(),
            metric: metric.into(),
            value,
        });
    }
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB; NaN where it cannot be read.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Largest relative error of `values`, sorted descending (or by magnitude, as power iteration finds
/// them), against `against` in the same order.
pub fn max_relative_error(values: &[f64], against: &[f64], by_magnitude: bool) -> f64 {
    let mut sorted = values.to_vec();
    if by_magnitude {
        sorted.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
    } else {
        sorted.sort_by(|a, b| b.total_cmp(a));
    }
    sorted.iter().zip(against).map(|(v, r)| ((v - r) / r).abs()).fold(0.0, f64::max)
}

/// Median seconds of `repeats` runs of `f` after one warm-up.
pub fn median_seconds(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
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

/// Median seconds of one product with a seeded Rademacher vector, and that vector.
pub fn hvp_seconds<B: Backend>(op: &mut ModelHessian<B>, repeats: usize) -> Result<(f64, Tensor<B, 1>)> {
    let v = op.vector_from_host(&ProbeStream::new(3).draw(ProbeKind::Rademacher, op.dim()));
    let seconds = median_seconds(repeats, || {
        let hv = op.apply(&v)?;
        // Reading a value back waits for asynchronous backends.
        let _ = hv.slice([0..1]).into_data();
        Ok(())
    })?;
    Ok((seconds, v))
}

/// The estimator benchmarks on backend `B`: Lanczos against power iteration,
/// SLQ and one-pass on ResNet20 over digits, and exact errors on an MLP whose
/// dense Hessian is affordable.
pub fn estimators<B: Backend>(rec: &mut Recorder, cli: &Cli, device: &B::Device) -> Result<()> {
    let digits = load_images(&DataDir::new(&cli.data_dir), "digits", "train", None)
        .context("the estimator benchmarks use the embedded digits (run `hx-fetch digits`)")?;
    let n = 200.min(digits.len());

    // Algorithms on ResNet20 over a digits batch.
    let resnet = spec(Arch::ResNet { depth: 20, batch_norm: true, residual: true }, &digits);
    let workload = format!("resnet20 1x8x8 digits batch {n}");
    let mut op = hessian_of::<B>(&resnet, &digits, n, device)?;
    let (hvp, _) = hvp_seconds(&mut op, cli.repeats)?;
    rec.add("eigen", &workload, "hessian-vector product", "seconds", hvp);
    algorithms(rec, &workload, &mut op, None)?;

    // Exact ground truth on an MLP small enough for the dense Hessian.
    let mlp = spec(Arch::Mlp { hidden: vec![32, 16], activation: Activation::Tanh }, &digits);
    let workload = format!("mlp 64-32-16-10 digits batch {n}");
    let mut op = hessian_of::<B>(&mlp, &digits, n, device)?;
    let dense = dense_hessian(&mut op)?;
    let exact = dense_eigen(&dense.matrix);
    rec.add("exact", &workload, "dense Hessian", "hvps", dense.hvps as f64);
    rec.add("exact", &workload, "dense Hessian", "seconds", dense.seconds);
    algorithms(rec, &workload, &mut op, Some(&exact.values))?;
    trace_errors(rec, &workload, &mut op, dense.matrix.trace(), cli.trace_seeds)?;
    Ok(())
}

fn spec(arch: Arch, data: &ImageSet) -> ModelSpec {
    let [channels, height, width] = data.shape;
    ModelSpec { arch, input: InputSpec::Image { channels, height, width }, num_classes: data.num_classes }
}

fn seeded_model<B: Backend>(spec: &ModelSpec, device: &B::Device) -> Net<B1<B>> {
    <B1<B> as Backend>::seed(device, 7);
    spec.init::<B1<B>>(device)
}

fn hessian_of<B: Backend>(spec: &ModelSpec, data: &ImageSet, n: usize, device: &B::Device) -> Result<ModelHessian<B>> {
    let indices: Vec<usize> = (0..n).collect();
    let batches = hessian_batches::<B>(data, &indices, n, &Normalization::of(data), HessianBnMode::Eval, device);
    Ok(model_hessian(seeded_model::<B>(spec, device), batches)?)
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
    let error = max_relative_error;
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
    let once = one_pass(op, &OnePassConfig { slq: SlqConfig { iter: 100, n_v: 1, seed: 1, ..Default::default() }, k: 5, tol: 1e-3, verify: false, ..Default::default() })?;
    rec.add("one-pass", workload, "one-pass iter 100 (eigen+trace+density)", "hvps", once.runs.hvps as f64);
    rec.add("one-pass", workload, "one-pass iter 100 (eigen+trace+density)", "seconds", once.runs.seconds);
    rec.add("one-pass", workload, "one-pass top-5", "max relative error", worst(&once.eigen.values));
    // PyHessian's three calls: eigenvalues(top_n=5), trace(maxIter=100, tol=1e-3), density(iter=100, n_v=1).
    // The power top-5 run above is PyHessian's first call.
    let h = hutchinson(op, &HutchinsonConfig { max_probes: 100, tol: 1e-3, seed: 1, step: 0 })?;
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
            let h = hutchinson(op, &HutchinsonConfig { max_probes: budget, tol: 0.0, seed, step: 0 })?;
            let pp = hutchpp(op, &HutchppConfig { num_hvps: budget, seed, step: 0 })?;
            e_h += ((h.estimate - exact) / exact).powi(2);
            e_pp += ((pp.estimate - exact) / exact).powi(2);
        }
        let n = seeds.max(1) as f64;
        rec.add("trace", workload, &format!("hutchinson {budget} hvps"), "rms relative error", (e_h / n).sqrt());
        rec.add("trace", workload, &format!("hutch++ {budget} hvps"), "rms relative error", (e_pp / n).sqrt());
    }
    Ok(())
}
