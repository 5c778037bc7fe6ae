//! hx-robustness on a tiny run built here (synthetic RGB 4x4 images, a
//! linear classifier), against a closed-form Hessian, and through a killed,
//! resumed and sharded sweep.

use std::path::PathBuf;

use burn::backend::Flex;
use burn::prelude::*;
use hessx_data::corrupt::corrupt_set;
use hessx_data::{Corruption, ImageSet, SyntheticConfig, fetch::fetch_synthetic, load_images};
use hessx_models::{Activation, Arch, BnMode, Input, InputSpec, ModelSpec, Net, save_checkpoint};
use hessx_pipeline::backend::BackendKind;
use hessx_pipeline::batches::{Normalization, epoch_order};
use hessx_pipeline::checksum::sha256_file;
use hessx_pipeline::settings::HessianBnMode;
use hessx_pipeline::train::{OptimizerKind, TrainConfig};
use hessx_store::robustness::{CellRow, CorrelationRow, SweepDir};
use hessx_store::tables::{CheckpointRow, read_rows, read_rows_with_identity, write_rows};
use hessx_store::{DataDir, DensityRule, DensityWeights, RunDir, RunIdentity};
use hx_robustness::cells::Source;
use hx_robustness::settings::{Request, Shard, SweepSettings};
use hx_robustness::sweep::run_sweep;
use nalgebra::DMatrix;

const CLASSES: usize = 3;
const SHAPE: [usize; 3] = [3, 4, 4];

struct Fixture {
    tmp: tempfile::TempDir,
    cfg: TrainConfig,
    spec: ModelSpec,
}

impl Fixture {
    fn run(&self) -> RunDir {
        RunDir::new(self.tmp.path().join("runs/tiny"))
    }
    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
    fn request(&self, corruptions: &[&str], severities: &[u8]) -> Request {
        Request {
            run: self.run().root().to_owned(),
            data_dir: self.data(),
            step: None,
            name: None,
            explicit_corruptions: false,
            settings: SweepSettings {
                dataset: String::new(),
                model: String::new(),
                step: 0,
                checkpoint_sha256: String::new(),
                corruptions: corruptions.iter().map(|c| c.to_string()).collect(),
                severities: severities.to_vec(),
                source: Source::Auto,
                corruption_seed: 4,
                examples: Some(20),
                hessian_examples: 16,
                mini_batch_size: 7,
                bn_mode: HessianBnMode::Eval,
                seed: 2,
                top_k: 3,
                iter: 40,
                tol: 1e-3,
                trace_probes: 10,
                num_bins: 50,
                sigma_squared: 1e-5,
                density_weights: DensityWeights::Deflated,
                density_rule: DensityRule::RadauZero,
                backend: BackendKind::Flex,
                finetune: None,
            },
            shard: Shard::WHOLE,
            max_cells: None,
            draw: true,
        }
    }
}

/// A run of a linear classifier on synthetic RGB 4x4 images with checkpoints at steps 0 and 10
/// (different random weights, scaled up so that the softmax is not flat).
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::new(tmp.path().join("data"));
    let synth = SyntheticConfig { name: "tiny".into(), classes: CLASSES, shape: SHAPE, train: 30, test: 24, seed: 3, noise: 0.2 };
    fetch_synthetic(&data, &synth, &Default::default(), Default::default()).unwrap();
    let spec = ModelSpec {
        arch: Arch::Mlp { hidden: vec![], activation: Activation::Tanh },
        input: InputSpec::Image { channels: SHAPE[0], height: SHAPE[1], width: SHAPE[2] },
        num_classes: CLASSES,
    };
    let run = RunDir::new(tmp.path().join("runs/tiny"));
    let identity = RunIdentity::new("tiny", &spec.name(), "tiny", "none", 0);
    let train = load_images(&data, "tiny", "train", None).unwrap();
    let cfg = TrainConfig {
        identity: identity.clone(),
        model: spec.clone(),
        init: None,
        normalization: Normalization::of(&train),
        epochs: 1,
        batch_size: 10,
        lr: 0.1,
        lr_decay: 0.1,
        lr_decay_epochs: vec![],
        weight_decay: 0.0,
        momentum: 0.9,
        optimizer: OptimizerKind::Sgd,
        augment: None,
        save_interval: 10,
        seed: 1,
        eval_batch_size: 9,
        heldout_fraction: 0.2,
        sharpness: None,
    };
    hessx_pipeline::config::save_stage_config(&run, "train", &cfg).unwrap();
    let dev = Default::default();
    let mut rows = Vec::new();
    for (k, step) in [0i64, 10].into_iter().enumerate() {
        Flex::seed(&dev, 40 + k as u64);
        let net = spec.init::<Flex>(&dev);
        let path = run.checkpoint_model(step);
        save_checkpoint(&net, &spec, &path).unwrap();
        rows.push(CheckpointRow {
            step,
            epoch: 0,
            batch: step,
            lr: 0.1,
            train_loss: f64::NAN,
            train_accuracy: f64::NAN,
            heldout_loss: 1.0,
            heldout_accuracy: 0.3,
            file: format!("checkpoints/{}", path.file_name().unwrap().to_string_lossy()),
            sha256: sha256_file(&path).unwrap(),
            heldout_auc: f64::NAN,
        });
    }
    write_rows(&run.checkpoints(), &identity, &rows).unwrap();
    Fixture { tmp, cfg, spec }
}

/// The cross-entropy Hessian of a linear softmax classifier in closed form, in f64: with inputs
/// `x~ = [x; 1]` and probabilities `p`, `H = mean_n (diag p - p p^T) (x) x~ x~^T` (over weights and
/// bias; the ordering of parameters does not change eigenvalues or trace). Also returns the accuracy.
fn closed_form(f: &Fixture, images: &ImageSet, hessian: usize) -> (DMatrix<f64>, f64) {
    let net: Net<Flex> = hessx_models::load_checkpoint::<Flex>(&f.run().checkpoint_model(10), Some(&f.spec), &Default::default()).unwrap().1;
    let norm = &f.cfg.normalization;
    let d = images.image_len() + 1;
    let mut h = DMatrix::<f64>::zeros(CLASSES * d, CLASSES * d);
    let mut correct = 0.0;
    for n in 0..images.len() {
        let x: Vec<f32> = images.image(n).iter().enumerate().map(|(i, &p)| {
            let c = i / (SHAPE[1] * SHAPE[2]);
            (p as f32 / 255.0 - norm.mean[c]) / norm.std[c]
        }).collect();
        let input = Tensor::<Flex, 4>::from_data(TensorData::new(x.clone(), [1, SHAPE[0], SHAPE[1], SHAPE[2]]), &Default::default());
        let logits: Vec<f64> = net.forward(Input::Images(input), BnMode::Eval).into_data().iter::<f32>().map(f64::from).collect();
        let best = (0..CLASSES).fold(0, |b, c| if logits[c] > logits[b] { c } else { b });
        correct += f64::from(u8::from(best == images.labels[n] as usize));
        if n >= hessian {
            continue;
        }
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        let p: Vec<f64> = logits.iter().map(|l| (l - max).exp() / z).collect();
        let xt: Vec<f64> = x.iter().map(|&v| f64::from(v)).chain(std::iter::once(1.0)).collect();
        for a in 0..CLASSES {
            for b in 0..CLASSES {
                let s = if a == b { p[a] } else { 0.0 } - p[a] * p[b];
                for i in 0..d {
                    for j in 0..d {
                        h[(a * d + i, b * d + j)] += s * xt[i] * xt[j] / hessian as f64;
                    }
                }
            }
        }
    }
    (h, correct / images.len() as f64)
}

fn cell_row(dir: &SweepDir, corruption: &str, severity: u8) -> (RunIdentity, CellRow) {
    let (id, rows) = read_rows_with_identity::<CellRow>(&dir.cell(corruption, severity)).unwrap();
    (id.unwrap(), rows.into_iter().next().unwrap())
}

/// Each cell's accuracy, top eigenvalue and trace are those of the closed form on the cell's own
/// images: the clean test subset and its hessx corruption under the sweep's seed. Tolerances: the
/// products are f32, so eigenvalues agree to about 1e-4 relative (1e-3 asked); the trace's
/// Krylov part is exact on 40 of 147 dimensions and the rest is a 10-probe Hutchinson estimate, so
/// it must lie within 4 of its own standard errors.
#[test]
fn cells_match_the_closed_form_hessian_of_their_images() {
    let f = fixture();
    let req = f.request(&["gaussian_noise", "contrast"], &[5]);
    let out = run_sweep::<Flex>(&req, &Default::default()).unwrap();
    assert_eq!((out.cells, out.computed, out.missing), (3, 3, 0));
    let clean = load_images(&DataDir::new(f.data()), "tiny", "test", None).unwrap();
    let mut subset = epoch_order(clean.len(), req.settings.seed ^ 0x0c0f_fee5, 0);
    subset.truncate(20);
    for (corruption, severity) in [("none", 0u8), ("gaussian_noise", 5), ("contrast", 5)] {
        let images = match corruption {
            "none" => clean.select(&subset),
            name => corrupt_set(&clean.select(&subset), Corruption::parse(name).unwrap(), severity, 4, false).unwrap(),
        };
        let (h, accuracy) = closed_form(&f, &images, 16);
        let eigen = h.clone().symmetric_eigen();
        let mut values: Vec<f64> = eigen.eigenvalues.iter().copied().collect();
        values.sort_by(|a, b| b.total_cmp(a));
        let (identity, row) = cell_row(&out.dir, corruption, severity);
        assert_eq!((identity.corruption.as_str(), identity.severity), (corruption, severity));
        assert_eq!(row.step, 10, "the default checkpoint is the last");
        assert!((row.accuracy - accuracy).abs() < 1e-12, "{corruption}: accuracy {} vs {accuracy}", row.accuracy);
        assert!((row.lambda_max - values[0]).abs() <= 1e-3 * values[0], "{corruption}: lambda_max {} vs {}", row.lambda_max, values[0]);
        let trace = h.trace();
        assert!(row.trace_std_error.is_finite() && row.trace_probes == 10);
        // Student's t quantile 0.975 for 9 degrees of freedom (published tables: 2.2622).
        assert!((row.trace_half_width_95 - 2.2622 * row.trace_std_error).abs() <= 1e-4 * row.trace_std_error, "{corruption}: half-width {} for std error {}", row.trace_half_width_95, row.trace_std_error);
        assert!((row.trace - trace).abs() <= 4.0 * row.trace_std_error + 1e-4 * trace, "{corruption}: trace {} ± {} vs {trace}", row.trace, row.trace_std_error);
        assert_eq!(row.source, if corruption == "none" { "clean" } else { "computed" });
    }
    // Different corruptions give different images, so different numbers: the cells are not copies.
    let (_, a) = cell_row(&out.dir, "gaussian_noise", 5);
    let (_, b) = cell_row(&out.dir, "contrast", 5);
    assert_ne!(a.lambda_max, b.lambda_max);
    let page = out.page.expect("a complete sweep draws its page");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("drop_vs_lambda_max.svg") && html.contains("heatmap_trace.svg") && html.contains("density_noise.svg"), "{html}");
    for stem in ["drop_vs_lambda_max", "drop_vs_trace", "heatmap_accuracy_drop", "density_noise", "density_digital"] {
        assert!(out.dir.plots_dir().join(format!("{stem}.png")).is_file(), "{stem}");
    }
    let corr: Vec<CorrelationRow> = read_rows(&out.dir.correlations()).unwrap();
    assert_eq!(corr.iter().map(|c| c.measure.as_str()).collect::<Vec<_>>(), ["lambda_max", "trace", "negative_mass"]);
    assert!(corr.iter().all(|c| c.cells == 2));
}

fn all_rows(dir: &SweepDir) -> Vec<(String, u8, CellRow)> {
    SweepDir::tables_in(&dir.cells_dir())
        .unwrap()
        .iter()
        .map(|p| {
            let (id, rows) = read_rows_with_identity::<CellRow>(p).unwrap();
            let id = id.unwrap();
            (id.corruption, id.severity, rows.into_iter().next().unwrap())
        })
        .collect()
}

fn same_numbers(a: &[(String, u8, CellRow)], b: &[(String, u8, CellRow)]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.0, x.1), (&y.0, y.1));
        for (u, v) in [(x.2.accuracy, y.2.accuracy), (x.2.loss, y.2.loss), (x.2.lambda_max, y.2.lambda_max), (x.2.trace, y.2.trace), (x.2.trace_std_error, y.2.trace_std_error)] {
            assert!((u - v).abs() <= 1e-9 * u.abs().max(1.0), "{} {}: {u} vs {v}", x.0, x.1);
        }
    }
}

/// A sweep killed after one cell resumes without recomputing it, shards split the cells and the
/// last shard draws the page; the numbers equal those of one uninterrupted process. Saturate is
/// left out of a sweep on RGB images only when it does not apply (here it applies).
#[test]
fn a_killed_sweep_resumes_and_shards_give_the_whole_sweeps_numbers() {
    let f = fixture();
    let cells = ["gaussian_noise", "saturate"];
    let mut whole = f.request(&cells, &[1, 5]);
    whole.name = Some("whole".into());
    let w = run_sweep::<Flex>(&whole, &Default::default()).unwrap();
    assert_eq!((w.cells, w.computed, w.missing), (5, 5, 0));

    let mut part = f.request(&cells, &[1, 5]);
    part.name = Some("sharded".into());
    part.shard = Shard { index: 0, count: 2 };
    part.max_cells = Some(1);
    let first = run_sweep::<Flex>(&part, &Default::default()).unwrap();
    assert_eq!((first.computed, first.missing), (1, 4));
    let modified = std::fs::metadata(first.dir.cell("none", 0)).unwrap().modified().unwrap();
    part.max_cells = None;
    let second = run_sweep::<Flex>(&part, &Default::default()).unwrap();
    assert_eq!((second.computed, second.missing), (2, 2), "shard 0/2 owns cells 0, 2 and 4");
    assert!(second.page.is_none());
    assert_eq!(std::fs::metadata(first.dir.cell("none", 0)).unwrap().modified().unwrap(), modified, "a finished cell is not recomputed");
    part.shard = Shard { index: 1, count: 2 };
    let third = run_sweep::<Flex>(&part, &Default::default()).unwrap();
    assert_eq!((third.computed, third.missing), (2, 0));
    assert!(third.page.is_some());
    same_numbers(&all_rows(&w.dir), &all_rows(&third.dir));

    // Other settings under the same name are refused, naming the flag; the finished cells stay.
    let mut other = f.request(&cells, &[1, 5]);
    other.name = Some("sharded".into());
    other.settings.iter = 30;
    let err = run_sweep::<Flex>(&other, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("--name") && err.contains("settings"), "{err}");
    assert_eq!(all_rows(&third.dir).len(), 5);
    // Without a name, other settings get their own folder beside the first.
    other.name = None;
    other.settings.corruptions = vec!["gaussian_noise".into()];
    other.settings.severities = vec![5];
    let beside = run_sweep::<Flex>(&other, &Default::default()).unwrap();
    assert_ne!(beside.dir.root(), third.dir.root());
    assert_eq!(f.run().robustness_sweeps().unwrap().len(), 3);
}

#[test]
fn bad_requests_name_the_flag_or_file() {
    let f = fixture();
    let mut req = f.request(&["fog"], &[5]);
    req.step = Some(7);
    let err = run_sweep::<Flex>(&req, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("--step 7") && err.contains("[0, 10]"), "{err}");
    let mut req = f.request(&["fog"], &[5]);
    req.settings.hessian_examples = 50;
    let err = run_sweep::<Flex>(&req, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("--hessian-examples 50") && err.contains("--examples 20"), "{err}");
    let mut req = f.request(&["fog"], &[5]);
    req.settings.source = Source::Archive;
    let err = run_sweep::<Flex>(&req, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("--source archive") && err.contains("cifar10"), "{err}");
    let mut req = f.request(&["fog"], &[5]);
    req.run = f.tmp.path().join("nowhere");
    let err = run_sweep::<Flex>(&req, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("nowhere") && err.contains("hx-train"), "{err}");
}

/// `fine_tune` takes the trainer's steps: from the same start, 3 steps give bit for bit the weights
/// of hx-train's checkpoint at step 3; a sweep with `--finetune-steps` records it, lives in its own
/// folder and measures other weights than the sweep without.
#[test]
fn fine_tuning_takes_the_trainers_steps_and_changes_what_cells_measure() {
    let f = fixture();
    let data = DataDir::new(f.data());
    let run = RunDir::new(f.tmp.path().join("runs/trained"));
    let mut cfg = f.cfg.clone();
    cfg.save_interval = 3;
    cfg.lr = 0.5;
    let sets = hessx_pipeline::train::TrainData {
        train: hessx_data::Examples::Images(load_images(&data, "tiny", "train", None).unwrap()),
        heldout: hessx_data::Examples::Images(load_images(&data, "tiny", "test", None).unwrap()),
    };
    hessx_pipeline::train::train::<burn::backend::Autodiff<Flex>>(&cfg, &sets, &run, &Default::default()).unwrap();
    let load = |step| hessx_models::load_checkpoint::<burn::backend::Autodiff<Flex>>(&run.checkpoint_model(step), Some(&f.spec), &Default::default()).unwrap().1;
    let tuned = hessx_pipeline::train::fine_tune(&cfg, load(0), &sets.train, 3, &Default::default()).unwrap();
    let flat = |net: &Net<burn::backend::Autodiff<Flex>>| -> Vec<f32> {
        let layout = hessx_hessian::ParamLayout::trainable(net).unwrap();
        layout.flatten(net).into_data().iter::<f32>().collect()
    };
    assert_eq!(flat(&tuned), flat(&load(3)));

    let plain = run_sweep::<Flex>(&f.request(&["contrast"], &[5]), &Default::default()).unwrap();
    let mut req = f.request(&["contrast"], &[5]);
    req.settings.finetune = Some(hx_robustness::settings::Finetune { steps: 2, lr: 0.5, batch_size: 10 });
    let tuned = run_sweep::<Flex>(&req, &Default::default()).unwrap();
    assert_ne!(plain.dir.root(), tuned.dir.root());
    let (_, a) = cell_row(&plain.dir, "contrast", 5);
    let (_, b) = cell_row(&tuned.dir, "contrast", 5);
    assert_eq!((a.finetune_steps, b.finetune_steps), (0, 2));
    assert_ne!(a.lambda_max, b.lambda_max);
}
