//! The whole pipeline on a tiny synthetic dataset: fetch (with a computed
//! corruption), train, fine-tune with checkpoints, eigenpairs, trace and
//! density, analysis and report, and a query; then every promised file is
//! checked for existence and sane values.

use hessx_store::RunDir;
use hessx_store::tables::{CheckpointRow, DensityRow, EigenvalueRow, EigenvectorRow, TraceRow, read_rows};

use crate::util::Scratch;

const FETCH: &[&str] = &[
    "synthetic", "--name", "tiny", "--classes", "3", "--channels", "1", "--height", "8", "--width", "8",
    "--train", "96", "--test", "48", "--seed", "3", "--corruption", "gaussian_noise", "--severity", "5", "--quiet",
];

#[test]
fn fetch_train_finetune_eigen_spectrum_analyze_query() {
    let s = Scratch::new();
    s.ok("hx-fetch", FETCH);
    let common = ["--dataset", "tiny", "--model", "mlp", "--hidden", "12", "--batch-size", "32"];
    s.ok("hx-train", &[&["--run", "runs/pre", "--epochs", "3", "--lr", "0.1", "--crop-padding", "1"], &common[..]].concat());
    let ft = [
        &["--run", "runs/ft", "--init", "runs/pre", "--noise-type", "gaussian_noise", "--corruption-level", "5"][..],
        &["--epochs", "2", "--lr", "0.05", "--no-augment", "--save-interval", "2"],
        &common,
    ]
    .concat();
    s.ok("hx-train", &ft);
    let run = RunDir::new(s.join("runs/ft"));

    // 96 examples / 32 = 3 steps per epoch, 2 epochs: checkpoints at 0, 2, 4, 6.
    let checkpoints: Vec<CheckpointRow> = read_rows(&run.checkpoints()).unwrap();
    assert_eq!(checkpoints.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 2, 4, 6]);
    assert!(checkpoints.iter().all(|c| (0.0..=1.0).contains(&c.heldout_accuracy) && c.heldout_loss.is_finite()));

    let hess = ["--run", "runs/ft", "--hessian-batch-size", "40"];
    s.ok("hx-eigen", &[&hess[..], &["--top-k", "3"]].concat());
    s.ok("hx-spectrum", &[&hess[..], &["--iter", "20", "--trace", "slq", "--trace", "hutchinson", "--trace-hvps", "10"]].concat());

    let values: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    assert_eq!(values.len(), 4 * 3, "3 eigenvalues per checkpoint");
    for c in &checkpoints {
        let mut top: Vec<&EigenvalueRow> = values.iter().filter(|r| r.step == c.step).collect();
        top.sort_by_key(|r| r.rank);
        assert!(top.windows(2).all(|w| w[0].eigenvalue >= w[1].eigenvalue), "descending by rank at step {}", c.step);
        assert!(top.iter().all(|r| r.residual <= 1e-2 * r.eigenvalue.abs().max(1e-3)), "residuals small: {top:?}");
        let vectors: Vec<EigenvectorRow> = read_rows(&run.eigenvectors(&top[0].settings_id, c.step)).unwrap();
        assert_eq!(vectors.len(), 3);
        for v in &vectors {
            let norm: f64 = v.vector.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "unit eigenvectors, got norm {norm}");
            assert_eq!(v.vector.len() as i64, top[0].num_params);
        }
    }
    let traces: Vec<TraceRow> = read_rows(&run.trace()).unwrap();
    assert_eq!(traces.len(), 4 * 2);
    let density: Vec<DensityRow> = read_rows(&run.density()).unwrap();
    for c in &checkpoints {
        let d: Vec<&DensityRow> = density.iter().filter(|r| r.step == c.step).collect();
        let mass: f64 = d.windows(2).map(|w| w[0].density * (w[1].lambda - w[0].lambda)).sum();
        assert!((mass - 1.0).abs() < 1e-2, "density integrates to 1, got {mass}");
    }

    // Re-running a stage on a complete run does no new work.
    let again = s.ok("hx-eigen", &[&hess[..], &["--top-k", "3"]].concat());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"), "{}", String::from_utf8_lossy(&again.stderr));

    s.ok("hx-analyze", &["runs/ft"]);
    for name in ["pca_variance", "pca_cumulative_variance", "pca_projection", "cosine_similarity", "eigenvalues", "density", "loss"] {
        for ext in ["png", "svg"] {
            let path = run.plots_dir().join(format!("{name}.{ext}"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(bytes.len() > 500, "{} is too small to be a figure", path.display());
        }
    }
    let report = std::fs::read_to_string(run.report()).unwrap();
    assert!(report.contains("<html") && report.contains("pca_variance"), "report lists the figures");

    let out = s.ok("hx-query", &["runs/ft", "SELECT step, count(*) AS n FROM eigenvalues GROUP BY step ORDER BY step"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for step in ["0", "2", "4", "6"] {
        assert!(text.contains(step), "query output lists step {step}: {text}");
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let s = Scratch::new();
    let err = s.fails("hx-train", &["--run", "runs/x", "--dataset", "nowhere"]);
    assert!(err.contains("nowhere") && err.contains("hx-fetch"), "{err}");
    let err = s.fails("hx-eigen", &["--run", "runs/none"]);
    assert!(err.contains("runs/none") && err.contains("checkpoints.parquet"), "{err}");
    s.ok("hx-fetch", FETCH);
    let err = s.fails("hx-train", &["--run", "runs/x", "--dataset", "tiny", "--model", "vgg16"]);
    assert!(err.contains("--model vgg16"), "{err}");
    let err = s.fails("hx-train", &["--run", "runs/x", "--dataset", "tiny", "--noise-type", "fog", "--corruption-level", "9"]);
    assert!(err.contains("corruption-level") || err.contains("severity"), "{err}");
}

/// Issue 16: every numeric flag is checked when parsed, and the message
/// names the flag and its range; nothing is written.
#[test]
fn numeric_flags_are_checked_at_parse_time_naming_the_flag() {
    let s = Scratch::new();
    for (bin, flag, value, says) in [
        ("hx-train", "--lr", "-0.1", "greater than 0"),
        ("hx-train", "--lr", "nan", "finite"),
        ("hx-train", "--momentum", "1.5", "[0, 1)"),
        ("hx-train", "--weight-decay", "-1", "0 or more"),
        ("hx-train", "--epochs", "0", "at least 1"),
        ("hx-train", "--batch-size", "0", "at least 1"),
        ("hx-train", "--heldout-fraction", "1", "[0, 1)"),
        ("hx-eigen", "--max-iter", "0", "at least 1"),
        ("hx-eigen", "--hessian-batch-size", "0", "at least 1"),
        ("hx-eigen", "--tol", "0", "greater than 0"),
        ("hx-eigen", "--top-k", "0", "at least 1"),
        ("hx-spectrum", "--num-bins", "1", "at least 2"),
        ("hx-spectrum", "--sigma-squared", "inf", "finite"),
        ("hx-spectrum", "--n-v", "0", "at least 1"),
        ("hx-spectrum", "--trace-tol", "-1", "0 or more"),
    ] {
        let value = format!("{flag}={value}");
        let err = s.fails(bin, &["--run", "runs/x", &value]);
        assert!(err.contains(flag) && err.contains(says), "{bin} {value}: {err}");
    }
    assert!(!s.join("runs/x").exists(), "a refused flag must not create the run directory");
}

/// Issue 16: a run that diverges keeps its checkpoints, warns about the one
/// whose held-out loss is not finite, and the curvature stages skip it by
/// name (or refuse, naming the steps, when nothing else is selected).
#[test]
fn diverged_checkpoints_are_skipped_by_name() {
    let s = Scratch::new();
    s.ok("hx-fetch", FETCH);
    // A learning rate of 1e20 makes the held-out loss NaN after one step
    // and the training loss NaN at the second, where training stops.
    let train = s.run(
        "hx-train",
        &[
            "--run", "runs/nan", "--dataset", "tiny", "--model", "mlp", "--hidden", "12", "--activation", "relu",
            "--batch-size", "32", "--epochs", "2", "--lr", "1e20", "--momentum", "0", "--save-interval", "1",
        ],
    );
    let log = String::from_utf8_lossy(&train.stderr);
    assert!(!train.status.success() && log.contains("checkpoint step 1 diverged"), "{log}");
    let run = RunDir::new(s.join("runs/nan"));
    let checkpoints: Vec<CheckpointRow> = read_rows(&run.checkpoints()).unwrap();
    assert_eq!(checkpoints.iter().map(|c| (c.step, c.heldout_loss.is_finite())).collect::<Vec<_>>(), [(0, true), (1, false)]);

    let eigen = s.ok("hx-eigen", &["--run", "runs/nan", "--hessian-batch-size", "40", "--top-k", "2"]);
    let log = String::from_utf8_lossy(&eigen.stderr);
    assert!(log.contains("skipping checkpoint 1") && log.contains("step-00000001"), "{log}");
    let values: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    assert!(values.iter().all(|r| r.step == 0 && r.eigenvalue.is_finite()));
    let err = s.fails("hx-spectrum", &["--run", "runs/nan", "--steps", "1", "--hessian-batch-size", "40"]);
    assert!(err.contains("diverged") && err.contains("[1]"), "{err}");
}
