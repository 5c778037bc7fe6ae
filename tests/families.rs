//! Wide&Deep and the sequence Transformer through the stages as a user chains
//! them: fetch, train, fine-tune on a shift, eigenpairs and spectra of the
//! whole model and of each parameter block (`--blocks auto`), analysis.
//! Ground truth: the dense Hessian of the same checkpoint and batch (one exact
//! product per column, each product checked against finite differences in
//! hessx-models' `hvp_f64` tests), eigen-decomposed by nalgebra; a block's
//! eigenvalues are those of its principal submatrix.

use std::collections::BTreeMap;

use hessx_hessian::{B1, ParamLayout, dense_eigen, dense_hessian};
use hessx_pipeline::curvature::{CheckpointSelection, RunContext, model_hessian, param_matches};
use hessx_pipeline::settings::HessianBnMode;
use hessx_store::tables::{CheckpointRow, EigenvalueRow, SettingsRow, TraceRow, read_rows};
use hessx_store::{DataDir, RunDir, Stage};
use nalgebra::DMatrix;

use crate::util::Scratch;

type B = burn::backend::Flex;

/// The dense Hessian of `run`'s checkpoint `step` over the stages' own batch of `batch` examples, with the
/// path and flat range of each parameter.
fn dense(run: &RunDir, data: &DataDir, step: i64, batch: usize) -> (DMatrix<f64>, Vec<(String, std::ops::Range<usize>)>) {
    let ctx = RunContext::open(run, data, &CheckpointSelection { steps: vec![step], every: 1 }).unwrap();
    let settings = hessx_pipeline::settings::HessianSettings {
        data: hessx_pipeline::settings::DataSettings::of(&ctx.train),
        batch_size: Some(batch),
        mini_batch_size: batch,
        bn_mode: HessianBnMode::Eval,
        params: vec![],
        ignore_biasbn: false,
        seed: 1,
        backend: hessx_pipeline::backend::BackendKind::Flex,
        dtype: hessx_pipeline::settings::Dtype::F32,
    };
    let device = Default::default();
    let indices = ctx.hessian_indices(&settings);
    let batches = ctx.hessian_batches::<B>(&settings, &indices, &device);
    let path = run.root().join(&ctx.checkpoints[0].file);
    let (_, model) = hessx_models::load_checkpoint::<B1<B>>(&path, Some(&ctx.train.model), &device).unwrap();
    let layout = ParamLayout::trainable(&model).unwrap();
    let ranges = layout.entries().iter().map(|e| (e.path.clone(), e.offset..e.offset + e.numel())).collect();
    let mut op = model_hessian(model, batches).unwrap();
    (dense_hessian(&mut op).unwrap().matrix, ranges)
}

/// Eigenvalues (descending) of the principal submatrix of `h` over the parameters of block `params` (`all`: `h`).
fn block_eigenvalues(h: &DMatrix<f64>, ranges: &[(String, std::ops::Range<usize>)], params: &str) -> Vec<f64> {
    let patterns: Vec<&str> = params.split(',').collect();
    let keep = |path: &str| params == "all" || patterns.iter().any(|p| param_matches(p, path));
    let idx: Vec<usize> = ranges.iter().filter(|(p, _)| keep(p)).flat_map(|(_, r)| r.clone()).collect();
    assert!(!idx.is_empty(), "block {params} selects no parameter");
    dense_eigen(&DMatrix::from_fn(idx.len(), idx.len(), |i, j| h[(idx[i], idx[j])])).values
}

/// Every settings' eigenvalues of `run` against the dense truth at `step`, by parameter block; returns the blocks.
fn check_blocks_against_dense(run: &RunDir, data: &DataDir, step: i64, batch: usize) -> Vec<String> {
    let settings: Vec<SettingsRow> = read_rows(&run.settings()).unwrap();
    let values: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    let mut by_params: BTreeMap<String, Vec<(u32, f64)>> = BTreeMap::new();
    for r in values.iter().filter(|r| r.step == step) {
        let params = &settings.iter().find(|s| s.settings_id == r.settings_id).unwrap().params;
        by_params.entry(params.clone()).or_default().push((r.rank, r.eigenvalue));
    }
    let (h, ranges) = dense(run, data, step, batch);
    for (params, got) in &by_params {
        let truth = block_eigenvalues(&h, &ranges, params);
        // f32 products against the dense f32 Hessian decomposed in f64: 1e-3 of the block's largest eigenvalue
        // (Lanczos ran to residuals of 1e-6).
        for &(rank, g) in got {
            let t = truth[rank as usize];
            let rel = ((g - t) / truth[0].abs()).abs();
            assert!(rel < 1e-3, "{params}: eigenvalue {rank} is {g}, dense {t} (rel {rel:.1e})");
        }
    }
    by_params.into_keys().collect()
}

#[test]
fn wide_deep_trains_on_clicks_and_its_blocks_match_the_dense_hessian() {
    let s = Scratch::new();
    s.ok("hx-fetch", &["ctr", "--cardinalities", "3,4,5", "--dense", "2", "--train", "400", "--test", "200", "--seed", "3"]);
    let model = ["--dataset", "ctr", "--model", "wide-deep", "--embed-dim", "2", "--hidden", "4", "--cross-buckets", "5"];
    let train = ["--optimizer", "adam", "--lr", "0.02", "--weight-decay", "0", "--batch-size", "100"];
    s.ok("hx-train", &[&["--run", "runs/ctr", "--epochs", "3", "--save-interval", "6"][..], &model, &train].concat());
    let run = RunDir::new(s.join("runs/ctr"));
    let checkpoints: Vec<CheckpointRow> = read_rows(&run.checkpoints()).unwrap();
    assert_eq!(checkpoints.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 6, 12]);
    let last = checkpoints.last().unwrap();
    // The clicks follow a known logistic model with signal: a trained model ranks them better than chance,
    // and its log loss (binary cross-entropy) is below the untrained one's.
    assert!(last.heldout_auc > 0.6 && last.heldout_auc <= 1.0, "held-out AUC {}", last.heldout_auc);
    assert!(last.heldout_loss < checkpoints[0].heldout_loss, "{checkpoints:?}");
    assert!(checkpoints[0].heldout_auc.is_finite(), "AUC is reported at every checkpoint");

    let hess = ["--run", "runs/ctr", "--hessian-batch-size", "150", "--steps", "12"];
    s.ok("hx-eigen", &[&hess[..], &["--top-k", "3", "--tol", "1e-6", "--max-iter", "120", "--blocks", "auto"]].concat());
    s.ok("hx-spectrum", &[&hess[..], &["--iter", "30", "--trace", "hutchinson", "--trace-hvps", "40", "--blocks", "auto"]].concat());

    let data = DataDir::new(s.join("data"));
    let blocks = check_blocks_against_dense(&run, &data, 12, 150);
    assert_eq!(blocks, ["all", "deep", "embedding", "wide"], "the whole model and its three blocks");
    let settings: Vec<SettingsRow> = read_rows(&run.settings()).unwrap();
    // The blocks cover every parameter once, so their traces add up to the whole model's within the error bars.
    let traces: Vec<TraceRow> = read_rows(&run.trace()).unwrap();
    let trace_of = |p: &str| {
        let sid = &settings.iter().find(|s| s.params == p && s.stage == Stage::Spectrum).unwrap().settings_id;
        let r = traces.iter().find(|t| &t.settings_id == sid && t.method.name() == "hutchinson").unwrap();
        (r.estimate, r.std_error)
    };
    let (whole, se) = trace_of("all");
    let parts: Vec<(f64, f64)> = ["embedding", "wide", "deep"].iter().map(|p| trace_of(p)).collect();
    let sum: f64 = parts.iter().map(|p| p.0).sum();
    let se_all = (se * se + parts.iter().map(|p| p.1 * p.1).sum::<f64>()).sqrt();
    assert!((sum - whole).abs() < 4.0 * se_all, "blocks' traces {sum} vs whole {whole} ± {se_all}");

    s.ok("hx-analyze", &["runs/ctr"]);
    for name in ["blocks_top_eigenvalue", "blocks_trace", "eigenvalues", "trace", "density"] {
        let path = run.plots_dir().join(format!("{name}.png"));
        assert!(std::fs::metadata(&path).map(|m| m.len() > 500).unwrap_or(false), "{} is missing", path.display());
    }
    // An image model's name on tabular rows is refused, naming the flag and what the data are.
    let err = s.fails("hx-train", &["--run", "runs/bad", "--dataset", "ctr", "--model", "resnet20", "--epochs", "1"]);
    assert!(err.contains("--model resnet20") && err.contains("tabular"), "{err}");
}

#[test]
fn sequence_transformer_learns_order_and_its_attention_and_mlp_blocks_match_the_dense_hessian() {
    let s = Scratch::new();
    let fetch = ["sequences", "--vocab", "10", "--length", "6", "--classes", "3", "--train", "600", "--test", "200", "--seed", "2"];
    s.ok("hx-fetch", &fetch);
    s.ok("hx-fetch", &[&fetch[..], &["--corruption", "token_noise", "--severity", "3"]].concat());
    let model = ["--dataset", "sequences", "--model", "transformer", "--dim", "8", "--heads", "2", "--depth", "1"];
    let train = ["--optimizer", "adam", "--lr", "0.01", "--weight-decay", "0", "--batch-size", "50"];
    s.ok("hx-train", &[&["--run", "runs/pre", "--epochs", "8"][..], &model, &train].concat());
    let pre: Vec<CheckpointRow> = read_rows(&RunDir::new(s.join("runs/pre")).checkpoints()).unwrap();
    let (first, last) = (&pre[0], pre.last().unwrap());
    // The label is which marker comes first: 3 classes, chance is 1/3; a bag of tokens cannot tell.
    assert!(last.heldout_accuracy > 0.5, "held-out accuracy {} after training ({pre:?})", last.heldout_accuracy);
    assert!(last.heldout_loss < first.heldout_loss);
    assert!(last.heldout_auc.is_nan(), "AUC is for single-logit binary models only");
    // Fine-tune on the shifted sequences, then the curvature of the whole model and of its blocks.
    let ft = [&["--run", "runs/ft", "--init", "runs/pre", "--corruption", "token_noise", "--severity", "3"][..], &["--epochs", "1", "--save-interval", "6"]];
    s.ok("hx-train", &[&ft.concat()[..], &model, &train].concat());
    let run = RunDir::new(s.join("runs/ft"));
    let steps: Vec<i64> = read_rows::<CheckpointRow>(&run.checkpoints()).unwrap().iter().map(|c| c.step).collect();
    assert_eq!(steps, [0, 6, 12]);
    let hess = ["--run", "runs/ft", "--hessian-batch-size", "80", "--steps", "12"];
    s.ok("hx-eigen", &[&hess[..], &["--top-k", "2", "--tol", "1e-6", "--max-iter", "150", "--blocks", "auto"]].concat());
    let blocks = check_blocks_against_dense(&run, &DataDir::new(s.join("data")), 12, 80);
    assert_eq!(blocks, ["all", "blocks.*.attention", "blocks.*.mlp", "head", "position,token_embedding"]);
    s.ok("hx-spectrum", &[&hess[..], &["--iter", "20", "--one-pass", "--trace-probes", "10", "--trace", "none"]].concat());
    s.ok("hx-analyze", &["runs/ft"]);
    for name in ["blocks_top_eigenvalue", "eigenvalues", "density"] {
        let path = run.plots_dir().join(format!("{name}.png"));
        assert!(std::fs::metadata(&path).map(|m| m.len() > 500).unwrap_or(false), "{} is missing", path.display());
    }
    let err = s.fails("hx-train", &["--run", "runs/bad", "--dataset", "sequences", "--model", "wide-deep", "--epochs", "1"]);
    assert!(err.contains("--model wide-deep") && err.contains("token sequences"), "{err}");
}
