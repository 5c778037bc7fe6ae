//! Runs the `hx-query` binary on a small synthetic run directory, including
//! the README's example questions, so the documented commands keep working.

use std::path::Path;
use std::process::{Command, Output};

use hessx_store::tables::{CheckpointRow, EigenvalueRow, EigenvectorRow, write_rows};
use hessx_store::{RunDir, RunIdentity};

fn synthetic_run(root: &Path) -> RunDir {
    let run = RunDir::new(root.join("r1"));
    let id = RunIdentity::new("r1", "mlp", "digits", "gaussian_noise", 5);
    let mut values = Vec::new();
    for (k, step) in [0i64, 10, 20].into_iter().enumerate() {
        let vectors: Vec<EigenvectorRow> = (0..2u32)
            .map(|rank| EigenvectorRow {
                step,
                rank,
                eigenvalue: 5.0 - rank as f64 + k as f64,
                vector: vec![rank as f32, 1.0, 0.0],
            })
            .collect();
        write_rows(&run.eigenvectors(step), &id, &vectors).unwrap();
        for v in &vectors {
            values.push(EigenvalueRow {
                step,
                rank: v.rank,
                eigenvalue: v.eigenvalue,
                residual: 1e-3,
                converged: true,
                hvps: 40,
                method: "lanczos".into(),
                seconds: 0.1,
                num_params: 3,
            });
        }
    }
    write_rows(&run.eigenvalues(), &id, &values).unwrap();
    let cps: Vec<CheckpointRow> = [0i64, 10, 20]
        .into_iter()
        .map(|step| CheckpointRow {
            step,
            epoch: 0,
            batch: step,
            lr: 0.01,
            train_loss: 1.0,
            train_accuracy: 0.5,
            heldout_loss: 2.0 - step as f64 / 20.0,
            heldout_accuracy: 0.4 + step as f64 / 100.0,
            file: String::new(),
            sha256: String::new(),
        })
        .collect();
    write_rows(&run.checkpoints(), &id, &cps).unwrap();
    // An analysis table whose stem clashes with a run table.
    write_rows(
        &run.analysis_dir().join("eigenvalues.parquet"),
        &id,
        &values[..1],
    )
    .unwrap();
    run
}

fn hx_query(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_hx-query"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hx-query {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn lists_tables_with_columns() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let out = hx_query(&[run.root().to_str().unwrap(), "--tables"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "eigenvalues (",
        "eigenvectors (3 files)",
        "checkpoints (",
        "analysis_eigenvalues (",
        "vector:",
        "severity: u8",
    ] {
        assert!(text.contains(needle), "--tables lacks `{needle}`:\n{text}");
    }
}

#[test]
fn select_over_all_eigenvector_files_to_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let csv = dir.path().join("out/counts.csv");
    hx_query(&[
        run.root().to_str().unwrap(),
        "SELECT step, COUNT(*) AS n, MAX(eigenvalue) AS top FROM eigenvectors GROUP BY step ORDER BY step",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.trim(), "step,n,top\n0,2,5.0\n10,2,6.0\n20,2,7.0");
}

#[test]
fn readme_questions_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let r = run.root().to_str().unwrap();
    let q1 = hx_query(&[
        r,
        "SELECT step, eigenvalue, residual, converged, hvps FROM eigenvalues WHERE rank = 0 ORDER BY step",
    ]);
    let t1 = String::from_utf8_lossy(&q1.stdout);
    assert!(t1.contains("shape: (3, 5)"), "{t1}");
    let out = dir.path().join("q3.parquet");
    hx_query(&[
        r,
        "SELECT c.step, e.eigenvalue AS top_eigenvalue, c.heldout_loss, c.heldout_accuracy \
         FROM checkpoints c JOIN (SELECT step, eigenvalue FROM eigenvalues WHERE rank = 0) e ON e.step = c.step \
         ORDER BY c.step",
        "--parquet",
        out.to_str().unwrap(),
    ]);
    let back = hessx_store::column::read_parquet(&out).unwrap();
    assert_eq!(back.num_rows(), 3);
    let top = hessx_store::column::read_column::<f64>(&back, "top_eigenvalue", &out).unwrap();
    assert_eq!(top, vec![5.0, 6.0, 7.0]);
}

#[test]
fn bad_query_and_empty_directory_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hx-query"))
        .args([dir.path().to_str().unwrap(), "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Parquet tables found"));
    let run = synthetic_run(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_hx-query"))
        .args([run.root().to_str().unwrap(), "SELECT nope FROM trace"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tables"));
}
