//! What one gradient and one Hessian-vector product cost on each backend, on
//! the shared ResNet20 workload; whether the backends (and PyTorch) agree on
//! them; and the one-pass report against PyHessian's three calls.

use anyhow::Result;
use burn::prelude::*;
use hessx_hessian::{B1, Batch, ParamLayout, SymOp, flat_gradient};
use hessx_models::{BnMode, Input, Net, cross_entropy};
use hessx_pipeline::curvature::{ProductEngine, model_hessian, model_hessian_with};

use crate::measure::{Recorder, hvp_seconds, median_seconds};
use crate::pytorch::PytorchReference;
use crate::workload::ProductWorkload;

/// One backend's products, copied to the host, for comparing backends.
pub struct HostProducts {
    /// Its name.
    pub backend: String,
    /// The flat gradient.
    gradient: Vec<f64>,
    /// H v for the seeded Rademacher v.
    hv: Vec<f64>,
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn relative_error(x: &[f64], reference: &[f64]) -> f64 {
    let diff: Vec<f64> = x.iter().zip(reference).map(|(a, b)| a - b).collect();
    norm(&diff) / norm(reference)
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Time a gradient and a product on `B`, then check the products: against
/// `baseline` (the first backend measured; set here when empty) and against
/// PyTorch's order-free check values.
pub fn backend_products<B: Backend>(
    rec: &mut Recorder,
    workload: &ProductWorkload,
    repeats: usize,
    baseline: &mut Option<HostProducts>,
    reference: Option<&PytorchReference>,
    device: &B::Device,
) -> Result<()> {
    let name = workload.name.as_str();
    let n = workload.len();
    let model = workload.model::<B>(device)?;
    let layout = ParamLayout::trainable(&model)?;
    let batches = vec![Batch::new(workload.tensors::<B1<B>>(device), n)];
    let loss = |m: &Net<B1<B>>, (x, y): &(Tensor<B1<B>, 4>, Tensor<B1<B>, 1, Int>)| {
        cross_entropy(m.forward(Input::Images(x.clone()), BnMode::Eval), y.clone())
    };
    let gradient_seconds = median_seconds(repeats, || {
        let g = flat_gradient(&model, &layout, &batches, loss)?;
        // Reading a value back waits for asynchronous backends.
        let _ = g.gradient.slice([0..1]).into_data();
        Ok(())
    })?;
    let setup = std::time::Instant::now();
    let mut op = model_hessian::<B>(model.clone(), workload.hessian_batches::<B>(device))?;
    let setup_seconds = setup.elapsed().as_secs_f64();
    let (product_seconds, v) = hvp_seconds(&mut op, repeats)?;
    rec.add("products", name, "parameters", "count", layout.dim() as f64);
    rec.add("products", name, "gradient", "seconds", gradient_seconds);
    rec.add("products", name, &format!("operator setup ({})", op.engine_name()), "seconds", setup_seconds);
    rec.add("products", name, "hessian-vector product", "seconds", product_seconds);
    rec.add("products", name, "hvp / gradient", "ratio", product_seconds / gradient_seconds);
    let mut nested = model_hessian_with::<B>(model.clone(), workload.hessian_batches::<B>(device), ProductEngine::Nested)?;
    if nested.engine_name() != op.engine_name() {
        // What the retained graph saves: the same product by nested autodiff on the same backend.
        let (nested_seconds, _) = hvp_seconds(&mut nested, repeats)?;
        rec.add("products", name, "hessian-vector product, nested autodiff", "seconds", nested_seconds);
        let hv = op.apply(&v)?;
        let hv = op.vector_to_host(&hv);
        let hv_nested = nested.apply(&v)?;
        let hv_nested = nested.vector_to_host(&hv_nested);
        rec.add("agreement", name, "H v retained graph vs nested autodiff", "relative L2 error", relative_error(&hv, &hv_nested));
    }
    drop(nested);
    if let Some(r) = reference {
        rec.add("products", name, "hvp / pytorch hvp on a retained graph", "ratio", product_seconds / r.hvp_retained_seconds);
        rec.add("products", name, "hvp / pytorch hvp from scratch", "ratio", product_seconds / r.hvp_from_scratch_seconds);
    }

    // Agreement: the same v on every backend (same parameter order: same Rust model).
    let g = flat_gradient(&model, &layout, &batches, loss)?;
    let hv = op.apply(&v)?;
    let g_host = op.vector_to_host(&g.gradient);
    let hv_host = op.vector_to_host(&hv);
    match baseline {
        Some(base) => {
            let against = format!("vs {}", base.backend);
            rec.add("agreement", name, &format!("gradient {against}"), "relative L2 error", relative_error(&g_host, &base.gradient));
            rec.add("agreement", name, &format!("H v {against}"), "relative L2 error", relative_error(&hv_host, &base.hv));
        }
        None => *baseline = Some(HostProducts { backend: rec.backend().to_string(), gradient: g_host.clone(), hv: hv_host }),
    }
    // Against PyTorch, with v = g: values that do not depend on the parameter order.
    if let Some(r) = reference {
        let hg = op.apply(&g.gradient)?;
        let hg = op.vector_to_host(&hg);
        let gg = dot(&g_host, &g_host);
        let ours = [
            ("loss", g.loss, r.check.loss),
            ("|g|", gg.sqrt(), r.check.grad_norm),
            ("g'Hg / |g|^2", dot(&g_host, &hg) / gg, r.check.ghg_over_gg),
            ("|Hg| / |g|", norm(&hg) / gg.sqrt(), r.check.hg_norm_over_g_norm),
        ];
        for (what, value, torch) in ours {
            rec.add("agreement", name, &format!("{what} vs pytorch"), "relative difference", ((value - torch) / torch).abs());
        }
    }
    Ok(())
}
