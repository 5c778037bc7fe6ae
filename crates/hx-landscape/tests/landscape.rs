//! hx-landscape on a tiny training run built here: a synthetic dataset, a
//! run configuration and a few checkpoints of a linear model (closed-form
//! losses) or a small ResNet (batch norm), then the library and the binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use burn::backend::Flex;
use burn::prelude::*;
use hessx_data::{SyntheticConfig, fetch::fetch_synthetic, load_images};
use hessx_models::{Activation, Arch, BnMode, Input, InputSpec, ModelSpec, Net, save_checkpoint};
use hessx_pipeline::batches::Normalization;
use hessx_pipeline::checksum::sha256_file;
use hessx_pipeline::train::{OptimizerKind, TrainConfig};
use hessx_store::landscape::{DirectionRow, SurfaceRow};
use hessx_store::tables::{CheckpointRow, EigenvectorRow, read_rows, write_rows};
use hessx_store::{DataDir, RunDir, RunIdentity};
use hx_landscape::directions::{DirType, Norm};
use hx_landscape::eval::{LossKind, Split};
use hx_landscape::grid::{Axis, Grid, Shard};
use hx_landscape::run::{Axes, Request, compute_surface};
use hx_landscape::state::StateLayout;

const STEPS: [i64; 4] = [0, 10, 20, 30];

struct Fixture {
    tmp: tempfile::TempDir,
    spec: ModelSpec,
    cfg: TrainConfig,
}

impl Fixture {
    fn root(&self) -> &Path {
        self.tmp.path()
    }
    fn run(&self) -> RunDir {
        RunDir::new(self.root().join("runs/tiny"))
    }
    fn data(&self) -> PathBuf {
        self.root().join("data")
    }
    fn request(&self, axes: Axes, x: &str, y: Option<&str>) -> Request {
        Request {
            run: self.run().root().to_owned(),
            data_dir: self.data(),
            name: None,
            model_file: None,
            step: None,
            axes,
            dir_type: DirType::Weights,
            grid: Grid { x: Axis::parse("--x", x).unwrap(), y: y.map(|y| Axis::parse("--y", y).unwrap()) },
            splits: vec![Split::Train, Split::Test],
            examples: 0,
            data_seed: 1,
            batch_size: 7,
            loss: LossKind::Crossentropy,
            shard: Shard::WHOLE,
            save_every: Duration::ZERO,
            max_points: None,
            backend: "flex".into(),
            curvature: None,
        }
    }
    fn checkpoint(&self, step: i64) -> PathBuf {
        self.run().checkpoint_model(step)
    }
}

fn linear() -> ModelSpec {
    ModelSpec { arch: Arch::Mlp { hidden: vec![], activation: Activation::Tanh }, input: InputSpec::Image { channels: 1, height: 4, width: 4 }, num_classes: 3 }
}

fn resnet() -> ModelSpec {
    ModelSpec { arch: Arch::ResNet { depth: 8, batch_norm: true, residual: true }, input: InputSpec::Image { channels: 1, height: 4, width: 4 }, num_classes: 3 }
}

/// A run of `spec` with checkpoints at [`STEPS`] (different random weights;
/// ResNet running statistics moved by a train-mode forward).
fn fixture(spec: ModelSpec) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::new(tmp.path().join("data"));
    let synth = SyntheticConfig { name: "tiny".into(), classes: 3, shape: [1, 4, 4], train: 30, test: 12, seed: 3, noise: 0.2 };
    fetch_synthetic(&data, &synth, &Default::default(), Default::default()).unwrap();
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
        eval_batch_size: 100,
        heldout_fraction: 0.2,
        sharpness: None,
    };
    hessx_pipeline::config::save_stage_config(&run, "train", &cfg).unwrap();
    let dev = Default::default();
    let mut rows = Vec::new();
    for (k, &step) in STEPS.iter().enumerate() {
        Flex::seed(&dev, 100 + k as u64);
        let net = spec.init::<Flex>(&dev);
        let x = Tensor::<Flex, 4>::random([8, 1, 4, 4], burn::tensor::Distribution::Normal(k as f64, 1.0 + k as f64), &dev);
        let _ = net.forward(Input::Images(x), BnMode::Train);
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
    Fixture { tmp, spec, cfg }
}

fn load(f: &Fixture, path: &Path) -> Net<Flex> {
    hessx_models::load_checkpoint::<Flex>(path, Some(&f.spec), &Default::default()).unwrap().1
}

fn surface(req: &Request) -> (PathBuf, Vec<SurfaceRow>) {
    let out = compute_surface::<Flex>(req, &Default::default(), &indicatif::ProgressBar::hidden()).unwrap();
    assert!(out.progress.complete());
    (out.dir.root().to_owned(), read_rows(&out.dir.surface()).unwrap())
}

/// Mean cross-entropy (or softmax MSE) and accuracy of the linear model with
/// flat state `s` on `split`, in f64 from the formula.
fn linear_loss(f: &Fixture, layout: &StateLayout, s: &[f32], split: &str, loss: LossKind) -> (f64, f64) {
    let data = DataDir::new(f.data());
    let set = load_images(&data, "tiny", split, None).unwrap();
    let w = layout.tensors.iter().find(|t| t.shape == [16, 3]).unwrap();
    let b = layout.tensors.iter().find(|t| t.shape == [3]).unwrap();
    let norm = &f.cfg.normalization;
    let (mut total, mut correct) = (0.0, 0.0);
    for n in 0..set.len() {
        let x: Vec<f64> = set.image(n).iter().map(|&p| ((p as f32 / 255.0 - norm.mean[0]) / norm.std[0]) as f64).collect();
        let logits: Vec<f64> =
            (0..3).map(|c| s[b.offset + c] as f64 + (0..16).map(|k| x[k] * s[w.offset + k * 3 + c] as f64).sum::<f64>()).collect();
        let label = set.labels[n] as usize;
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        total += match loss {
            LossKind::Crossentropy => lse - logits[label],
            LossKind::Mse => (0..3).map(|c| ((logits[c] - lse).exp() - if c == label { 1.0 } else { 0.0 }).powi(2)).sum::<f64>() / 3.0,
        };
        let arg = (0..3).fold(0, |best, c| if logits[c] > logits[best] { c } else { best });
        correct += (arg == label) as u8 as f64;
    }
    (total / set.len() as f64, correct / set.len() as f64)
}

#[test]
fn linear_model_surfaces_match_the_formula_on_both_losses() {
    let f = fixture(linear());
    let net = load(&f, &f.checkpoint(30));
    let layout = StateLayout::of(&net);
    let w = layout.read(&net);
    for loss in [LossKind::Crossentropy, LossKind::Mse] {
        let axes = Axes::Random { seed: 5, xnorm: Norm::Filter, ynorm: Norm::Filter, xignore_biasbn: false, yignore_biasbn: true, same_dir: false };
        let mut req = f.request(axes, "-1:1:5", Some("-0.5:0.5:3"));
        req.loss = loss;
        let (dir, rows) = surface(&req);
        assert_eq!(rows.len(), 5 * 3 * 2);
        let dirs: Vec<DirectionRow> = read_rows(&dir.join("directions.parquet")).unwrap();
        let (dx, dy) = (&dirs[0].vector, &dirs[1].vector);
        // The seed's rules: x copies the bias (not ignored), y zeroes it (ignored).
        let bias = layout.tensors.iter().find(|t| t.shape == [3]).unwrap();
        assert_eq!(&dx[bias.range()], &w[bias.range()]);
        assert!(dy[bias.range()].iter().all(|&v| v == 0.0));
        for r in &rows {
            let s: Vec<f32> = (0..w.len()).map(|i| w[i] + r.x as f32 * dx[i] + r.y as f32 * dy[i]).collect();
            let (want, acc) = linear_loss(&f, &layout, &s, &r.split, loss);
            assert!((r.loss - want).abs() <= 1e-5 * (1.0 + want), "{loss:?} {} ({}, {}): {} vs {want}", r.split, r.x, r.y, r.loss);
            assert_eq!(r.accuracy, acc);
        }
        // 1D: one direction, the same formula along the line.
        let axes = Axes::Random { seed: 8, xnorm: Norm::Layer, ynorm: Norm::Layer, xignore_biasbn: true, yignore_biasbn: true, same_dir: false };
        let mut req = f.request(axes, "-2:2:9", None);
        req.loss = loss;
        let (dir, rows) = surface(&req);
        assert_eq!(rows.len(), 9 * 2);
        let dirs: Vec<DirectionRow> = read_rows(&dir.join("directions.parquet")).unwrap();
        assert_eq!(dirs.len(), 1);
        let dx = &dirs[0].vector;
        for r in &rows {
            assert_eq!(r.y, 0.0);
            let s: Vec<f32> = (0..w.len()).map(|i| w[i] + r.x as f32 * dx[i]).collect();
            let (want, acc) = linear_loss(&f, &layout, &s, &r.split, loss);
            assert!((r.loss - want).abs() <= 1e-5 * (1.0 + want), "1D {loss:?} {} ({}): {} vs {want}", r.split, r.x, r.loss);
            assert_eq!(r.accuracy, acc);
        }
    }
}

#[test]
fn interpolation_endpoints_reproduce_both_models_including_batch_norm_states() {
    let f = fixture(resnet());
    let (a, b) = (f.checkpoint(10), f.checkpoint(30));
    let direct = |path: &Path| {
        let net = load(&f, path);
        let set = load_images(&DataDir::new(f.data()), "tiny", "train", None).unwrap();
        let e = hessx_pipeline::train::evaluate(&net, &set, &f.cfg, &Default::default());
        (e.loss, e.accuracy)
    };
    let (la, lb) = (direct(&a), direct(&b));
    assert!((la.0 - lb.0).abs() > 1e-3, "the two models must differ for this test to mean anything");
    let mut req = f.request(Axes::Interpolate { target: b.clone() }, "-0.5:1.5:9", None);
    req.model_file = Some(a.clone());
    req.splits = vec![Split::Train];
    req.dir_type = DirType::States;
    let (_, rows) = surface(&req);
    let at = |x: f64| rows.iter().find(|r| r.x == x).unwrap();
    assert_eq!(at(0.0).step, 10, "a model file of the run is recognised as its checkpoint");
    assert!((at(0.0).loss - la.0).abs() < 1e-5, "{} vs {}", at(0.0).loss, la.0);
    assert!((at(1.0).loss - lb.0).abs() < 1e-5, "{} vs {}", at(1.0).loss, lb.0);
    assert_eq!((at(0.0).accuracy, at(1.0).accuracy), (la.1, lb.1));
    // With `weights`, the running statistics stay model A's: x = 1 is not model B.
    req.dir_type = DirType::Weights;
    let (_, rows) = surface(&req);
    let one = rows.iter().find(|r| r.x == 1.0).unwrap();
    assert!((one.loss - lb.0).abs() > 1e-4, "weights-only interpolation keeps A's batch-norm statistics");
    // Another model as the second file is refused, naming the flag and both models.
    let other = f.root().join("linear.mpk");
    let spec = linear();
    save_checkpoint(&spec.init::<Flex>(&Default::default()), &spec, &other).unwrap();
    let req = f.request(Axes::Interpolate { target: other }, "0:1:3", None);
    let err = compute_surface::<Flex>(&req, &Default::default(), &indicatif::ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("--model-file2") && err.contains("linear.mpk") && err.contains("resnet8") && err.contains("mlp-linear"), "{err}");
}

#[test]
fn eigenvector_axes_use_the_saved_vectors_and_refuse_another_models() {
    let f = fixture(linear());
    let run = f.run();
    let net = load(&f, &f.checkpoint(30));
    let layout = StateLayout::of(&net);
    let id = RunIdentity::new("tiny", &f.spec.name(), "tiny", "none", 0);
    let n = layout.num_trainable();
    let unit = |k: usize| (0..n).map(|i| if i == k { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
    let row = |rank: u32, eigenvalue: f64, vector: Vec<f32>, step: i64| EigenvectorRow { settings_id: "eig1".into(), step, rank, eigenvalue, vector };
    let rows = vec![row(1, 0.5, unit(4), 30), row(0, 2.0, unit(n - 1), 30)];
    write_rows(&run.eigenvectors("eig1", 30), &id, &rows).unwrap();
    let eigen = |eigen_settings: Option<&str>| Axes::Eigen {
        xnorm: Norm::None,
        ynorm: Norm::None,
        xignore_biasbn: false,
        yignore_biasbn: false,
        eigen_settings: eigen_settings.map(str::to_owned),
    };
    let axes = eigen(None);
    let (dir, surf) = surface(&f.request(axes.clone(), "-1:1:3", Some("-1:1:3")));
    assert_eq!(surf.len(), 18);
    let dirs: Vec<DirectionRow> = read_rows(&dir.join("directions.parquet")).unwrap();
    // Rank 0 (largest eigenvalue) is x; entries land on the same parameters (flat order of the trainable ones).
    assert_eq!(dirs[0].vector, unit(n - 1));
    assert_eq!(dirs[1].vector, unit(4));
    assert!(dirs[0].source.contains("rank=0") && dirs[1].source.contains("rank=1"));

    // Eigenvectors of a second settings fingerprint at the same step: the flag must pick one.
    write_rows(&run.eigenvectors("eig2", 30), &id, &rows).unwrap();
    let err = compute_surface::<Flex>(&f.request(axes.clone(), "-1:1:3", Some("-1:1:3")), &Default::default(), &indicatif::ProgressBar::hidden())
        .unwrap_err()
        .to_string();
    assert!(err.contains("--eigen-settings") && err.contains("eig1") && err.contains("eig2"), "{err}");
    let picked = eigen(Some("eig1"));
    let (again, _) = surface(&f.request(picked, "-1:1:3", Some("-1:1:3")));
    assert_eq!(again, dir, "the same vectors, picked by fingerprint, are the same surface");
    let unknown = eigen(Some("nope"));
    let err = compute_surface::<Flex>(&f.request(unknown, "-1:1:3", Some("-1:1:3")), &Default::default(), &indicatif::ProgressBar::hidden())
        .unwrap_err()
        .to_string();
    assert!(err.contains("--eigen-settings nope") && err.contains("eig1, eig2"), "{err}");

    // A table of another model: refused, naming the file and both models.
    let other = RunIdentity::new("tiny", "resnet20", "tiny", "none", 0);
    let rows20: Vec<EigenvectorRow> = rows.iter().map(|r| EigenvectorRow { step: 20, ..r.clone() }).collect();
    write_rows(&run.eigenvectors("eig1", 20), &other, &rows20).unwrap();
    let mut req = f.request(axes.clone(), "-1:1:3", Some("-1:1:3"));
    req.step = Some(20);
    let err = compute_surface::<Flex>(&req, &Default::default(), &indicatif::ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("step-00000020.parquet") && err.contains("resnet20") && err.contains("mlp-linear"), "{err}");
    // Vectors of the wrong length (same model name): refused too.
    let short = vec![row(0, 1.0, vec![1.0; n - 2], 10), row(1, 0.5, vec![1.0; n - 2], 10)];
    write_rows(&run.eigenvectors("eig1", 10), &id, &short).unwrap();
    req.step = Some(10);
    let err = compute_surface::<Flex>(&req, &Default::default(), &indicatif::ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("step-00000010.parquet") && err.contains(&format!("{} entries", n - 2)), "{err}");
    // No table at all: says how to make one.
    req.step = Some(0);
    let err = compute_surface::<Flex>(&req, &Default::default(), &indicatif::ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("hx-eigen"), "{err}");
}

#[test]
fn other_settings_under_the_same_name_are_refused_and_by_default_live_beside() {
    let f = fixture(linear());
    let axes = Axes::Random { seed: 1, xnorm: Norm::Filter, ynorm: Norm::Filter, xignore_biasbn: true, yignore_biasbn: true, same_dir: false };
    let (first, _) = surface(&f.request(axes.clone(), "-1:1:3", None));
    let other = Axes::Random { seed: 2, xnorm: Norm::Filter, ynorm: Norm::Filter, xignore_biasbn: true, yignore_biasbn: true, same_dir: false };
    let (second, _) = surface(&f.request(other.clone(), "-1:1:3", None));
    assert_ne!(first, second, "new settings make a new surface beside the old one");
    assert!(first.join("surface.parquet").exists());
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    let mut req = f.request(other, "-1:1:3", None);
    req.name = Some(name);
    let err = compute_surface::<Flex>(&req, &Default::default(), &indicatif::ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("settings.toml") && err.contains("differs in: x"), "{err}");
}

#[test]
fn trajectory_axes_project_the_checkpoints() {
    let f = fixture(linear());
    let (dir, rows) = surface(&f.request(Axes::Pca { ignore_biasbn: false }, "-1:1:3", Some("-1:1:3")));
    assert_eq!(rows.len(), 18);
    let t: Vec<hessx_store::landscape::TrajectoryRow> = read_rows(&dir.join("trajectory.parquet")).unwrap();
    assert_eq!(t.iter().map(|r| r.step).collect::<Vec<_>>(), STEPS);
    let last = t.last().unwrap();
    assert_eq!((last.x, last.y), (0.0, 0.0), "the origin (last checkpoint) projects to (0, 0)");
    assert!(last.explained_x >= last.explained_y && last.explained_x + last.explained_y <= 1.0 + 1e-9);
}

#[test]
fn curvature_on_the_grid_matches_the_dense_hessian() {
    use burn::backend::Autodiff;
    use hessx_hessian::{dense_eigen, dense_hessian};
    use hessx_pipeline::curvature::{HessianBnMode, hessian_batches, model_hessian};
    let spec = ModelSpec { arch: Arch::Mlp { hidden: vec![4], activation: Activation::Tanh }, ..linear() };
    let f = fixture(spec);
    let axes = Axes::Random { seed: 3, xnorm: Norm::Filter, ynorm: Norm::Filter, xignore_biasbn: false, yignore_biasbn: false, same_dir: false };
    let mut req = f.request(axes, "-1:1:3", Some("0:0.5:2"));
    req.splits = vec![Split::Train];
    // More examples than the split has: the Hessian of the whole split, as the dense reference below.
    req.curvature = Some(hx_landscape::curvature::CurvatureConfig { examples: 1000, max_iter: 200, tol: 1e-6, seed: 1 });
    let (dir, _) = surface(&req);
    let rows: Vec<hessx_store::landscape::CurvatureRow> = read_rows(&dir.join("curvature.parquet")).unwrap();
    assert_eq!(rows.len(), 6);
    let dirs: Vec<DirectionRow> = read_rows(&dir.join("directions.parquet")).unwrap();
    let dev = Default::default();
    let (_, net1) = hessx_models::load_checkpoint::<Autodiff<Flex>>(&f.checkpoint(30), Some(&f.spec), &dev).unwrap();
    let layout = StateLayout::of(&net1);
    let w = layout.read(&net1);
    let train = load_images(&DataDir::new(f.data()), "tiny", "train", None).unwrap();
    let idx: Vec<usize> = (0..train.len()).collect();
    let batches = hessian_batches::<Flex>(&train, &idx, 7, &f.cfg.normalization, HessianBnMode::Eval, &dev);
    let mut saw_negative = false;
    for r in &rows {
        let s: Vec<f32> = (0..w.len()).map(|i| w[i] + r.x as f32 * dirs[0].vector[i] + r.y as f32 * dirs[1].vector[i]).collect();
        let mut op = model_hessian::<Flex>(layout.write(net1.clone(), &s, &dev), batches.clone()).unwrap();
        let dense = dense_eigen(&dense_hessian(&mut op).unwrap().matrix);
        let (max, min) = (dense.values[0], *dense.values.last().unwrap());
        let scale = max.abs().max(min.abs());
        assert!((r.lambda_max - max).abs() <= 1e-4 * scale, "({}, {}): lambda_max {} vs dense {max}", r.x, r.y, r.lambda_max);
        assert!((r.lambda_min - min).abs() <= 1e-4 * scale, "({}, {}): lambda_min {} vs dense {min}", r.x, r.y, r.lambda_min);
        saw_negative |= min < -1e-3 * scale;
    }
    assert!(saw_negative, "a tanh network should have negative curvature somewhere on the grid");
}

// ---- the binary ----

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hx-landscape"))
}

fn cli(f: &Fixture, args: &[&str]) -> std::process::Output {
    let mut c = bin();
    c.arg("--run").arg(f.run().root()).arg("--data-dir").arg(f.data()).args(args).env("HESSX_LOG", "warn");
    c.output().unwrap()
}

fn ok(f: &Fixture, args: &[&str]) -> String {
    let out = cli(f, args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "hx-landscape {args:?} failed:\n{text}");
    text
}

fn fails(f: &Fixture, args: &[&str]) -> String {
    let out = cli(f, args);
    assert!(!out.status.success(), "hx-landscape {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_input_gets_a_clear_error() {
    let f = fixture(linear());
    for (args, want) in [
        (vec!["--x=1:0:5"], "--x=1:0:5: max (0) must be greater than min (1)"),
        (vec!["--x=-1:1:3", "--y=0:1"], "--y=0:1"),
        (vec!["--x=-1:1:3", "--shard", "3/2"], "--shard 3/2: i must be smaller than n"),
        (vec!["--x=-1:1:3", "--step", "15"], "--step 15: no such checkpoint"),
        (vec!["--x=-1:1:3", "--axes", "eigen"], "hx-eigen --run"),
        (vec!["--x=-1:1:3", "--merge"], "--name"),
        (vec!["--x=-1:1:3", "--name", "../x"], "--name ../x"),
    ] {
        let err = fails(&f, &args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let err = cli(&f, &["--x=0:1:3", "--model-file2", "/nonexistent.mpk"]);
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(err.contains("nonexistent.mpk"), "{err}");
}

fn surface_rows(dir: &Path) -> Vec<SurfaceRow> {
    read_rows(&dir.join("surface.parquet")).unwrap()
}

#[test]
fn killed_and_sharded_runs_end_with_the_uninterrupted_surface() {
    let f = fixture(linear());
    let args = ["--x=-1:1:9", "--y=-1:1:9", "--split", "train,test", "--xignore", "biasbn", "--yignore", "biasbn", "--save-every", "0"];
    let landscape = f.run().root().join("landscape");
    let with = |name: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--name".into(), name.into()]);
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |a: Vec<String>| ok(&f, &a.iter().map(String::as_str).collect::<Vec<_>>());
    run(with("whole", &[]));
    let expected = surface_rows(&landscape.join("whole"));
    assert_eq!(expected.len(), 81 * 2);
    for stem in ["2d_contour_train_loss.png", "2d_heatmap_test_loss.svg"] {
        assert!(landscape.join("whole/plots").join(stem).exists(), "{stem}");
    }
    assert!(landscape.join("whole/train_loss.vtp").exists());

    // A real kill: start, wait for some rows, kill, resume.
    let mut child = {
        let a = with("killed", &[]);
        let mut c = bin();
        c.arg("--run").arg(f.run().root()).arg("--data-dir").arg(f.data()).args(&a).env("HESSX_LOG", "warn");
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap()
    };
    let table = landscape.join("killed/surface.parquet");
    let started = std::time::Instant::now();
    while !table.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Also a time-limited slot: --max-points stops early and says how to continue.
    let text = run(with("killed", &["--max-points", "5"]));
    assert!(text.contains("run the same command again") || text.contains("done"), "{text}");
    run(with("killed", &[]));
    assert_eq!(surface_rows(&landscape.join("killed")), expected);

    // Three shards, then the merge.
    for i in 0..3 {
        run(with("sharded", &["--shard", &format!("{i}/3")]));
    }
    let text = run(with("sharded", &["--merge"]));
    assert!(text.contains("merged 162 rows"), "{text}");
    assert_eq!(surface_rows(&landscape.join("sharded")), expected);
    // A shard made with other directions is refused by the merge.
    run(with("reseeded", &["--shard", "0/3", "--seed", "9"]));
    let stray = landscape.join("reseeded/shards/shard-0000-of-0003.parquet");
    std::fs::copy(&stray, landscape.join("sharded/shards/shard-0000-of-0003.parquet")).unwrap();
    let err = fails(&f, &with("sharded", &["--merge"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("shard-0000-of-0003") && err.contains("other settings or directions"), "{err}");
}
