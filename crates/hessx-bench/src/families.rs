//! What a Hessian-vector product costs against one gradient on the model
//! families beside the CNNs: Wide&Deep on click-through rows and the sequence
//! Transformer on token sequences, at the sizes their profiles
//! (`pipelines/wide-deep.toml`, `pipelines/transformer.toml`) take the
//! Hessian on, with their data generated in-process from the same recipes.

use anyhow::Result;
use burn::prelude::*;
use hessx_data::{CtrConfig, Examples, SequenceConfig, ctr::generate_ctr, sequences::generate_sequences};
use hessx_hessian::{B1, Batch, ParamLayout, flat_gradient};
use hessx_models::{Arch, BnMode, Input, InputSpec, ModelSpec, Net, cross_entropy};
use hessx_pipeline::batches::{BatchSource, Normalization};
use hessx_pipeline::curvature::{HessianBnMode, hessian_batches, model_hessian};

use crate::measure::{Recorder, hvp_seconds, median_seconds};

/// The workloads: name, model, examples.
fn workloads() -> Result<Vec<(String, ModelSpec, Examples)>> {
    let (rows, _, _) = generate_ctr(&CtrConfig { train: 1000, test: 1, ..Default::default() })?;
    let wide_deep = ModelSpec {
        arch: Arch::WideDeep { embed_dim: 8, hidden: vec![32, 16], cross_buckets: 1000 },
        input: InputSpec::Tabular { cardinalities: rows.cardinalities.clone(), num_dense: rows.num_dense },
        num_classes: 1,
    };
    let (tokens, _) = generate_sequences(&SequenceConfig { train: 500, test: 1, ..Default::default() })?;
    let transformer = ModelSpec {
        arch: Arch::SequenceTransformer { dim: 32, depth: 2, heads: 4, mlp_dim: 64 },
        input: InputSpec::Tokens { vocab: tokens.vocab, length: tokens.length },
        num_classes: tokens.num_classes,
    };
    Ok(vec![
        (format!("wide-deep e8-32x16 ctr batch {}", rows.len()), wide_deep, Examples::Tabular(rows)),
        (format!("seq-transformer d32 l2 h4, {} tokens, batch {}", tokens.length, tokens.len()), transformer, Examples::Tokens(tokens)),
    ])
}

/// Gradient and product seconds (medians of `repeats`) of each family on `B`, at seeded initial weights.
pub fn family_products<B: Backend>(rec: &mut Recorder, repeats: usize, device: &B::Device) -> Result<()> {
    for (name, spec, examples) in workloads()? {
        B1::<B>::seed(device, 1);
        let model = spec.init::<B1<B>>(device);
        let layout = ParamLayout::trainable(&model)?;
        let all: Vec<usize> = (0..examples.len()).collect();
        let norm = Normalization::none();
        let batches = vec![Batch::new(examples.batch::<B1<B>>(&all, &norm, None, device), all.len())];
        let loss = |m: &Net<B1<B>>, (x, y): &(Input<B1<B>>, Tensor<B1<B>, 1, Int>)| cross_entropy(m.forward(x.clone(), BnMode::Eval), y.clone());
        let gradient_seconds = median_seconds(repeats, || {
            let g = flat_gradient(&model, &layout, &batches, loss)?;
            let _ = g.gradient.slice([0..1]).into_data();
            Ok(())
        })?;
        let mut op = model_hessian::<B>(model, hessian_batches::<B>(&examples, &all, all.len(), &norm, HessianBnMode::Eval, device))?;
        let (product_seconds, _) = hvp_seconds(&mut op, repeats)?;
        rec.add("families", &name, "parameters", "count", layout.dim() as f64);
        rec.add("families", &name, "gradient", "seconds", gradient_seconds);
        rec.add("families", &name, &format!("hessian-vector product ({})", op.engine_name()), "seconds", product_seconds);
        rec.add("families", &name, "hvp / gradient", "ratio", product_seconds / gradient_seconds);
    }
    Ok(())
}
