//! Issue 18 part 2: `hx-train --track-sharpness N`. Tracking estimates the top Hessian eigenvalue of
//! the current batch on detached copies, so the trained weights are bit for bit those of a run without
//! it (with augmentation, and with batch norm); the estimates land in `train_log.parquet` and
//! hx-analyze draws them against the edge-of-stability line.

use burn::backend::Flex;
use hessx_hessian::{B1, ParamLayout};
use hessx_store::RunDir;
use hessx_store::tables::{CheckpointRow, TrainLogRow, read_rows};

use crate::util::Scratch;

hessx_store::row_type! {
    /// The columns of hx-analyze's `analysis/figure_series.parquet` this test reads.
    pub struct FigureSeriesRow {
        /// Figure stem.
        pub figure: String,
        /// Series name.
        pub series: String,
        /// Abscissa.
        pub x: f64,
        /// Ordinate.
        pub y: f64,
    }
}

fn fetch(s: &Scratch) {
    s.ok("hx-fetch", &["synthetic", "--name", "tiny", "--classes", "3", "--channels", "1", "--height", "8", "--width", "8",
        "--train", "96", "--test", "48", "--seed", "3", "--quiet"]);
}

/// Trains `runs/<name>` with `model` and `extra` flags; returns its checkpoints and log.
fn train(s: &Scratch, name: &str, model: &[&str], extra: &[&str]) -> (Vec<CheckpointRow>, Vec<TrainLogRow>) {
    let run = format!("runs/{name}");
    let base = ["--run", run.as_str(), "--dataset", "tiny", "--batch-size", "32", "--epochs", "2", "--lr", "0.1",
        "--crop-padding", "1", "--save-interval", "2"];
    s.ok("hx-train", &[&base[..], model, extra].concat());
    let dir = RunDir::new(s.join(&run));
    (read_rows(&dir.checkpoints()).unwrap(), read_rows(&dir.train_log()).unwrap())
}

/// The trainable weights of a checkpoint, flattened, as bits. (Checkpoint files themselves, and so their
/// sha256, differ between identical runs: burn gives every parameter a random id.)
fn weights(s: &Scratch, run: &str, row: &CheckpointRow) -> Vec<u32> {
    let dir = RunDir::new(s.join(&format!("runs/{run}")));
    let (_, net) = hessx_models::load_checkpoint::<B1<Flex>>(&dir.root().join(&row.file), None, &Default::default()).unwrap();
    let layout = ParamLayout::trainable(&net).unwrap();
    layout.flatten(&net).into_data().to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect()
}

fn same_trajectory(s: &Scratch, plain: &(Vec<CheckpointRow>, Vec<TrainLogRow>), tracked: &(Vec<CheckpointRow>, Vec<TrainLogRow>)) {
    assert_eq!(plain.0.len(), tracked.0.len());
    for (a, b) in plain.0.iter().zip(&tracked.0) {
        assert_eq!(a.step, b.step);
        assert_eq!(weights(s, "plain", a), weights(s, "tracked", b), "checkpoint weights differ at step {}", a.step);
        // Held-out loss uses the BN running statistics: equal bits mean equal statistics too.
        assert_eq!(a.heldout_loss.to_bits(), b.heldout_loss.to_bits());
    }
    let losses = |log: &[TrainLogRow]| log.iter().map(|r| (r.step, r.loss.to_bits())).collect::<Vec<_>>();
    assert_eq!(losses(&plain.1), losses(&tracked.1), "same batch losses bit for bit");
}

#[test]
fn regression_issue_18_tracking_sharpness_leaves_the_weights_bit_for_bit() {
    let s = Scratch::new();
    fetch(&s);
    let mlp = ["--model", "mlp", "--hidden", "12"];
    let plain = train(&s, "plain", &mlp, &[]);
    let tracked = train(&s, "tracked", &mlp, &["--track-sharpness", "1"]);
    same_trajectory(&s, &plain, &tracked);
    assert!(plain.1.iter().all(|r| r.sharpness.is_nan() && r.sharpness_hvps == 0), "no estimates without the flag");
    // 96 / 32 = 3 steps per epoch, 2 epochs: an estimate on each of the 6 steps, 10 products at most.
    assert_eq!(tracked.1.len(), 6);
    for r in &tracked.1 {
        assert!(r.sharpness.is_finite() && r.sharpness > 0.0, "step {}: {r:?}", r.step);
        assert!(r.sharpness_residual.is_finite() && r.sharpness_residual >= 0.0, "{r:?}");
        assert!((2..=10).contains(&r.sharpness_hvps) && r.sharpness_seconds > 0.0, "{r:?}");
    }
    // The settings are recorded with the run.
    let config = std::fs::read_to_string(RunDir::new(s.join("runs/tracked")).stage_config("train")).unwrap();
    assert!(config.contains("[sharpness]") && config.contains("every = 1") && config.contains("hvps = 10"), "{config}");

    // hx-analyze draws the estimates against 2(1 + momentum)/lr = 2 * 1.9 / 0.1 = 38.
    s.ok("hx-analyze", &["--run", "runs/tracked"]);
    let run = RunDir::new(s.join("runs/tracked"));
    assert!(run.plots_dir().join("sharpness.png").exists());
    let series: Vec<FigureSeriesRow> = read_rows(&run.analysis_table("figure_series")).unwrap();
    let fig: Vec<&FigureSeriesRow> = series.iter().filter(|r| r.figure == "sharpness").collect();
    let estimates: Vec<&&FigureSeriesRow> = fig.iter().filter(|r| r.series.starts_with("sharpness estimate")).collect();
    let line: Vec<&&FigureSeriesRow> = fig.iter().filter(|r| r.series.starts_with("edge of stability")).collect();
    assert_eq!(estimates.len(), 6);
    assert_eq!(line.len(), 6);
    assert!(line.iter().all(|r| (r.y - 38.0).abs() < 1e-9), "{line:?}");
    let report = std::fs::read_to_string(run.report()).unwrap();
    assert!(report.contains("edge-of-stability threshold") && report.contains("sharpness.png"), "report lacks sharpness");
    // A run without estimates has no such figure.
    s.ok("hx-analyze", &["--run", "runs/plain"]);
    assert!(!RunDir::new(s.join("runs/plain")).plots_dir().join("sharpness.png").exists());
}

#[test]
fn regression_issue_18_tracking_sharpness_with_batch_norm_leaves_the_weights_bit_for_bit() {
    let s = Scratch::new();
    fetch(&s);
    let resnet = ["--model", "resnet20", "--depth", "8"];
    let plain = train(&s, "plain", &resnet, &[]);
    let tracked = train(&s, "tracked", &resnet, &["--track-sharpness", "2", "--sharpness-hvps", "3"]);
    same_trajectory(&s, &plain, &tracked);
    let estimated: Vec<i64> = tracked.1.iter().filter(|r| r.sharpness.is_finite()).map(|r| r.step).collect();
    assert_eq!(estimated, [1, 3, 5], "steps 1, N + 1, 2N + 1, ...");
    assert!(tracked.1.iter().all(|r| r.sharpness_hvps <= 3));
}

#[test]
fn regression_issue_18_sharpness_flags_are_checked() {
    let s = Scratch::new();
    let err = s.fails("hx-train", &["--run", "runs/x", "--track-sharpness", "0"]);
    assert!(err.contains("--track-sharpness") && err.contains("at least 1"), "{err}");
    let err = s.fails("hx-train", &["--run", "runs/x", "--track-sharpness", "5", "--sharpness-hvps", "1"]);
    assert!(err.contains("--sharpness-hvps") && err.contains("at least 2"), "{err}");
    let err = s.fails("hx-train", &["--run", "runs/x", "--sharpness-hvps", "5"]);
    assert!(err.contains("--track-sharpness"), "{err}");
}

/// A tracked run stopped after one epoch and resumed to two ends with the weights and batch losses of
/// an uninterrupted untracked run, and keeps estimating on schedule after the resume (cold-started:
/// the previous direction is not saved, which changes estimates, never weights).
#[test]
fn regression_issue_18_a_tracked_run_resumes_on_schedule_with_the_same_weights() {
    let s = Scratch::new();
    fetch(&s);
    let plain = train(&s, "plain", &["--model", "mlp", "--hidden", "12"], &[]);
    let args = |epochs: &'static str| {
        ["--run", "runs/tracked", "--dataset", "tiny", "--batch-size", "32", "--epochs", epochs, "--lr", "0.1", "--crop-padding", "1",
            "--save-interval", "2", "--model", "mlp", "--hidden", "12", "--track-sharpness", "2", "--sharpness-hvps", "4"]
    };
    s.ok("hx-train", &args("1"));
    s.ok("hx-train", &args("2"));
    let dir = RunDir::new(s.join("runs/tracked"));
    let checkpoints: Vec<CheckpointRow> = read_rows(&dir.checkpoints()).unwrap();
    let log: Vec<TrainLogRow> = read_rows(&dir.train_log()).unwrap();
    let (last_plain, last_tracked) = (plain.0.last().unwrap(), checkpoints.last().unwrap());
    assert_eq!((last_plain.step, last_tracked.step), (6, 6), "2 epochs of 3 steps");
    assert_eq!(weights(&s, "plain", last_plain), weights(&s, "tracked", last_tracked));
    let losses = |log: &[TrainLogRow]| log.iter().map(|r| (r.step, r.loss.to_bits())).collect::<Vec<_>>();
    assert_eq!(losses(&plain.1), losses(&log));
    // Due before optimiser steps 0, 2 and 4 (log rows 1, 3, 5): the last one after the resume at step 3.
    let estimated: Vec<i64> = log.iter().filter(|r| r.sharpness.is_finite()).map(|r| r.step).collect();
    assert_eq!(estimated, [1, 3, 5], "{log:?}");
}
