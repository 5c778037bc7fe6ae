//! A killed training run, re-run with the same flags, resumes from its last
//! complete checkpoint and ends with exactly the weights of an uninterrupted
//! run (issue 3).

use std::process::Command;
use std::time::Duration;

use burn::backend::Flex;
use hessx_hessian::{B1, ParamLayout};
use hessx_store::RunDir;
use hessx_store::tables::{CheckpointRow, TrainLogRow, read_rows};

use crate::util::{Scratch, bin};

fn train_args(run: &str, epochs: &str) -> Vec<String> {
    [
        "--run", run, "--dataset", "tiny", "--model", "mlp", "--hidden", "12", "--batch-size", "32", "--epochs", epochs,
        "--lr", "0.1", "--crop-padding", "1", "--save-interval", "2", "--seed", "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The final weights of a run, flattened. (Checkpoint files themselves
/// differ between runs: burn gives every parameter a random id.)
fn final_model(s: &Scratch, run: &str) -> Vec<f32> {
    let dir = RunDir::new(s.join(run));
    let rows: Vec<CheckpointRow> = read_rows(&dir.checkpoints()).unwrap();
    let last = rows.last().expect("the run has checkpoints");
    assert_eq!(last.step, 9, "3 epochs of 3 steps");
    let device = Default::default();
    let (_, net) = hessx_models::load_checkpoint::<B1<Flex>>(&dir.root().join(&last.file), None, &device).unwrap();
    let layout = ParamLayout::trainable(&net).unwrap();
    layout.flatten(&net).into_data().to_vec().unwrap()
}

#[test]
fn resumed_runs_end_with_the_weights_of_an_uninterrupted_run() {
    let s = Scratch::new();
    s.ok("hx-fetch", &["synthetic", "--name", "tiny", "--classes", "3", "--channels", "1", "--height", "8", "--width", "8",
        "--train", "96", "--test", "48", "--seed", "3", "--quiet"]);
    let args = |run, epochs| train_args(run, epochs);
    let run_ok = |v: Vec<String>| {
        s.ok("hx-train", &v.iter().map(String::as_str).collect::<Vec<_>>());
    };
    run_ok(args("runs/a", "3"));
    let reference = final_model(&s, "runs/a");

    // Interrupted after one epoch, with the last checkpoint damaged (as if the
    // process died while its file was being replaced) and a stray temp file.
    run_ok(args("runs/b", "1"));
    let b = RunDir::new(s.join("runs/b"));
    let model3 = b.checkpoint_model(3);
    let bytes = std::fs::read(&model3).unwrap();
    std::fs::write(&model3, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(b.checkpoints_dir().join(".step-00000004.mpk.999.tmp"), b"partial").unwrap();
    run_ok(args("runs/b", "3"));
    assert_eq!(final_model(&s, "runs/b"), reference, "resumed from step 2 after a damaged checkpoint");
    let log: Vec<TrainLogRow> = read_rows(&b.train_log()).unwrap();
    assert_eq!(log.iter().map(|r| r.step).collect::<Vec<_>>(), (1..=9).collect::<Vec<_>>(), "one log row per step");

    // Killed for real at some moment, then re-run: whatever the moment, the end is the same.
    for delay_ms in [150, 600] {
        let run = format!("runs/kill{delay_ms}");
        let mut child = Command::new(bin("hx-train")).args(train_args(&run, "3")).current_dir(s.path()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        run_ok(train_args(&run, "3"));
        assert_eq!(final_model(&s, &run), reference, "killed after {delay_ms} ms, then resumed");
    }
}

#[test]
fn resuming_with_other_settings_is_refused() {
    let s = Scratch::new();
    s.ok("hx-fetch", &["synthetic", "--name", "tiny", "--classes", "3", "--channels", "1", "--height", "8", "--width", "8",
        "--train", "96", "--test", "48", "--seed", "3", "--quiet"]);
    let a = train_args("runs/a", "1");
    s.ok("hx-train", &a.iter().map(String::as_str).collect::<Vec<_>>());
    let mut b = a.clone();
    b.extend(["--lr".to_string(), "0.5".to_string()]);
    let err = s.fails("hx-train", &b.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("different settings") && err.contains("runs/a"), "{err}");
}
