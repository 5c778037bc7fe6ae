//! Issue 18, part 3: a torchvision state_dict saved by PyTorch
//! (`tests/fixtures/tv_resnet18_w2.pt`, a narrow resnet18 with a 3-class
//! `fc`) is fine-tuned by hx-train and its Hessian taken by hx-eigen, and a
//! file of another depth is refused with the keys that differ.

use hessx_store::RunDir;
use hessx_store::tables::{CheckpointRow, EigenvalueRow, read_rows};

use crate::util::Scratch;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_torchvision_state_dict_fine_tunes_and_gets_its_hessian() {
    let s = Scratch::new();
    let fetch = ["synthetic", "--name", "three", "--classes", "3", "--train", "40", "--test", "20", "--quiet"];
    s.ok("hx-fetch", &fetch);
    let init = fixture("tv_resnet18_w2.pt");
    let model = ["--dataset", "three", "--model", "resnet18", "--width", "2", "--init", &init];
    let train = ["--run", "runs/tv", "--epochs", "1", "--batch-size", "20", "--lr", "0.01", "--no-augment"];
    s.ok("hx-train", &[&train[..], &model].concat());
    let run = RunDir::new(s.join("runs/tv"));
    let checkpoints: Vec<CheckpointRow> = read_rows(&run.checkpoints()).unwrap();
    assert_eq!(checkpoints.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 2]);
    assert!(checkpoints.iter().all(|c| c.heldout_loss.is_finite()));

    s.ok("hx-eigen", &["--run", "runs/tv", "--top-k", "2", "--hessian-batch-size", "20"]);
    let values: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    assert_eq!(values.len(), 2 * 2, "2 eigenvalues at each of 2 checkpoints");
    assert!(values.iter().all(|r| r.eigenvalue.is_finite() && r.num_params == 11_541), "{values:?}");
    let out = s.ok("hx-query", &["runs/tv", "SELECT DISTINCT model FROM eigenvalues"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("resnet18-w2"));

    // resnet18's file into a resnet50: bottleneck keys missing, basic-block shapes wrong.
    let wrong = ["--dataset", "three", "--model", "resnet50", "--width", "2", "--init", &init];
    let err = s.fails("hx-train", &[&["--run", "runs/wrong", "--epochs", "1"][..], &wrong].concat());
    assert!(err.contains("tv_resnet18_w2.pt") && err.contains("layer1.0.conv3.weight"), "{err}");
}
