//! Runs the `hx-query` binary on a small synthetic run directory, including
//! the README's example questions, so the documented commands keep working.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use hessx_store::tables::{CheckpointRow, EigenvalueRow, EigenvectorRow, SettingsRow, write_rows};
use hessx_store::{EigenMethod, ResidualKind, RunDir, RunIdentity, Stage};

const SETTINGS_ID: &str = "3f2a9c41d0b7";

fn synthetic_run(root: &Path) -> RunDir {
    let run = RunDir::new(root.join("r1"));
    let id = RunIdentity::new("r1", "mlp", "digits", "gaussian_noise", 5);
    let mut values = Vec::new();
    for (k, step) in [0i64, 10, 20].into_iter().enumerate() {
        let vectors: Vec<EigenvectorRow> = (0..2u32)
            .map(|rank| EigenvectorRow {
                settings_id: SETTINGS_ID.into(),
                step,
                rank,
                eigenvalue: 5.0 - rank as f64 + k as f64,
                vector: vec![rank as f32, 1.0, 0.0],
            })
            .collect();
        write_rows(&run.eigenvectors(SETTINGS_ID, step), &id, &vectors).unwrap();
        for v in &vectors {
            values.push(EigenvalueRow {
                settings_id: SETTINGS_ID.into(),
                step,
                rank: v.rank,
                eigenvalue: v.eigenvalue,
                residual: 1e-3,
                residual_kind: ResidualKind::Explicit,
                converged: true,
                iterations: 20,
                hvps: 40,
                method: EigenMethod::Lanczos,
                seconds: 0.1,
                num_params: 3,
                spectrum_end: hessx_store::SpectrumEnd::Top,
            });
        }
        // The bottom end (`hx-eigen --which both`): one pair, in its own folder.
        let bottom = EigenvectorRow {
            settings_id: SETTINGS_ID.into(),
            step,
            rank: 0,
            eigenvalue: -1.0 - k as f64,
            vector: vec![0.0, 0.0, 1.0],
        };
        write_rows(&run.bottom_eigenvectors(SETTINGS_ID, step), &id, std::slice::from_ref(&bottom)).unwrap();
        values.push(EigenvalueRow {
            rank: 0,
            eigenvalue: bottom.eigenvalue,
            spectrum_end: hessx_store::SpectrumEnd::Bottom,
            ..values.last().cloned().unwrap()
        });
    }
    write_rows(&run.eigenvalues(), &id, &values).unwrap();
    let settings = SettingsRow {
        settings_id: SETTINGS_ID.into(),
        stage: Stage::Eigen,
        methods: "lanczos".into(),
        params: "layer3".into(),
        ignore_biasbn: false,
        hessian_batch_size: 200,
        full_dataset: false,
        examples: 200,
        mini_hessian_batch_size: 200,
        bn_mode: "eval".into(),
        seed: 1,
        backend: "flex".into(),
        dtype: "f32".into(),
        settings: "top_k = 2\n".into(),
    };
    write_rows(&run.settings(), &id, &[settings]).unwrap();
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
            heldout_auc: f64::NAN,
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
        "bottom_eigenvectors (3 files)",
        "spectrum_end: str",
        "settings (",
        "settings_id: str",
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
        "SELECT step, eigenvalue, residual, converged, hvps FROM eigenvalues WHERE rank = 0 AND spectrum_end = 'top' ORDER BY step",
    ]);
    let t1 = String::from_utf8_lossy(&q1.stdout);
    assert!(t1.contains("shape: (3, 5)"), "{t1}");
    let out = dir.path().join("q3.parquet");
    hx_query(&[
        r,
        "SELECT c.step, e.eigenvalue AS top_eigenvalue, c.heldout_loss, c.heldout_accuracy \
         FROM checkpoints c JOIN (SELECT step, eigenvalue FROM eigenvalues WHERE rank = 0 AND spectrum_end = 'top') e ON e.step = c.step \
         ORDER BY c.step",
        "--parquet",
        out.to_str().unwrap(),
    ]);
    let back = hessx_store::column::read_parquet(&out).unwrap();
    assert_eq!(back.num_rows(), 3);
    let top = hessx_store::column::read_column::<f64>(&back, "top_eigenvalue", &out).unwrap();
    assert_eq!(top, vec![5.0, 6.0, 7.0]);
    // Question 4: which parameter group and batch size gave each eigenvalue.
    let csv = dir.path().join("q4.csv");
    hx_query(&[
        r,
        "SELECT e.step, e.eigenvalue, s.methods, s.params, s.hessian_batch_size, s.seed \
         FROM eigenvalues e JOIN settings s ON e.settings_id = s.settings_id WHERE e.rank = 0 AND e.spectrum_end = 'top' ORDER BY e.step",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text.trim(),
        "step,eigenvalue,methods,params,hessian_batch_size,seed\n0,5.0,lanczos,layer3,200,1\n10,6.0,lanczos,layer3,200,1\n20,7.0,lanczos,layer3,200,1"
    );
}

/// Issue 18: the bottom end is one query away, and a run written before
/// `spectrum_end` existed answers the same queries (every row is the top).
#[test]
fn spectrum_end_selects_the_end_in_new_and_old_tables() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let r = run.root().to_str().unwrap();
    let csv = dir.path().join("bottom.csv");
    hx_query(&[
        r,
        "SELECT e.step, e.eigenvalue, v.eigenvalue AS stored FROM eigenvalues e JOIN bottom_eigenvectors v \
         ON e.step = v.step AND e.rank = v.rank WHERE e.spectrum_end = 'bottom' ORDER BY e.step",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.trim(), "step,eigenvalue,stored\n0,-1.0,-1.0\n10,-2.0,-2.0\n20,-3.0,-3.0");

    hessx_store::row_type! {
        /// `eigenvalues.parquet` before issue 18.
        pub struct OldEigenvalueRow { pub settings_id: String, pub step: i64, pub rank: u32, pub eigenvalue: f64 }
    }
    let old = RunDir::new(dir.path().join("old"));
    let id = RunIdentity::new("old", "mlp", "digits", "none", 0);
    let rows: Vec<OldEigenvalueRow> =
        (0..2).map(|rank| OldEigenvalueRow { settings_id: SETTINGS_ID.into(), step: 5, rank, eigenvalue: 2.0 - rank as f64 }).collect();
    write_rows(&old.eigenvalues(), &id, &rows).unwrap();
    let csv = dir.path().join("old.csv");
    hx_query(&[
        old.root().to_str().unwrap(),
        "SELECT step, eigenvalue, spectrum_end FROM eigenvalues WHERE rank = 0 AND spectrum_end = 'top'",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&csv).unwrap().trim(), "step,eigenvalue,spectrum_end\n5,2.0,top");
}

/// Issue 10: `hx-query RUN "..." | head -1` must not panic when the reader
/// closes the pipe; the command ends quietly and successfully.
#[test]
fn closed_stdout_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    // About 4,000 rows printed in full: far more than a pipe buffer holds.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hx-query"))
        .args([
            run.root().to_str().unwrap(),
            "SELECT a.step, a.eigenvalue, b.residual, c.hvps, d.rank FROM eigenvalues a \
             CROSS JOIN eigenvalues b CROSS JOIN eigenvalues c CROSS JOIN eigenvalues d CROSS JOIN checkpoints",
        ])
        .env("POLARS_FMT_MAX_ROWS", "-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked") && !err.contains("error"), "{}: {err}", out.status);
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

#[test]
fn loss_surfaces_of_every_folder_form_one_table() {
    use hessx_store::landscape::SurfaceRow;
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let id = RunIdentity::new("r1", "mlp", "digits", "gaussian_noise", 5);
    for (name, fingerprint, points) in [("eigen-2d", "aaaa", 4i64), ("trajectory", "bbbb", 2)] {
        let surface = run.landscape(name);
        hessx_store::write_bytes_atomic(&surface.settings(), b"fingerprint = \"x\"\n").unwrap();
        let rows: Vec<SurfaceRow> = (0..points)
            .map(|point| SurfaceRow {
                step: 20,
                point,
                x: point as f64,
                y: 0.0,
                split: "train".into(),
                loss: 1.0 + point as f64,
                accuracy: 0.5,
                examples: 10,
                fingerprint: fingerprint.into(),
            })
            .collect();
        write_rows(&surface.surface(), &id, &rows).unwrap();
    }
    let out = hx_query(&[
        run.root().to_str().unwrap(),
        "SELECT fingerprint, COUNT(*) AS n, MAX(loss) AS top FROM landscape_surface GROUP BY fingerprint ORDER BY fingerprint",
        "--csv",
        dir.path().join("s.csv").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir.path().join("s.csv")).unwrap();
    assert_eq!(text.trim(), "fingerprint,n,top\naaaa,4,4.0\nbbbb,2,2.0");
}

/// Issue 19: what `hx-query --parquet` writes (Polars' own string, integer
/// and list types) replaces the table it was selected from: a filtered
/// eigenvalue table and one checkpoint's eigenvectors read back through the
/// stages' readers as the rows they hold.
#[test]
fn query_output_reads_back_as_the_table_it_came_from() {
    use hessx_store::tables::{Row, read_rows, read_rows_with_identity};
    fn same_rows<R: Row + PartialEq + std::fmt::Debug>(
        original: &Path,
        filtered: &Path,
        keep: impl Fn(&R) -> bool,
    ) {
        let want: Vec<R> = read_rows::<R>(original).unwrap().into_iter().filter(keep).collect();
        assert!(!want.is_empty());
        let (id, got) = read_rows_with_identity::<R>(filtered).unwrap();
        assert_eq!(got, want);
        assert_eq!(id, Some(RunIdentity::new("r1", "mlp", "digits", "gaussian_noise", 5)));
    }
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let r = run.root().to_str().unwrap();
    let edited = RunDir::new(dir.path().join("edited"));
    std::fs::create_dir_all(edited.eigenvectors_dir().join(SETTINGS_ID)).unwrap();

    let values = edited.eigenvalues();
    hx_query(&[r, "SELECT * FROM eigenvalues WHERE step > 0", "--parquet", values.to_str().unwrap()]);
    same_rows::<EigenvalueRow>(&run.eigenvalues(), &values, |v| v.step > 0);

    let vectors = edited.eigenvectors(SETTINGS_ID, 10);
    hx_query(&[r, "SELECT * FROM eigenvectors WHERE step = 10", "--parquet", vectors.to_str().unwrap()]);
    same_rows::<EigenvectorRow>(&run.eigenvectors(SETTINGS_ID, 10), &vectors, |v| v.step == 10);
}

/// Issue 16: `count(*)` over every registered table, the multi-file ones
/// included (Polars rewrites a union's count into a cast to UInt128, which
/// failed before the `dtype-u128` feature).
#[test]
fn count_star_works_on_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let r = run.root().to_str().unwrap();
    let listing = String::from_utf8_lossy(&hx_query(&[r, "--tables"]).stdout).into_owned();
    let names: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split(" (").next())
        .collect();
    assert!(names.contains(&"eigenvectors") && names.len() >= 5, "{listing}");
    for name in names {
        let out = hx_query(&[r, &format!("SELECT count(*) AS n FROM {name}"), "--csv", "-"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let n: u64 = text.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("{name}: {text}"));
        assert!(n > 0, "{name}: {text}");
    }
}

/// Issue 16: `--csv` follows a symbolic link (the link stays a link), writes
/// through a FIFO to its reader, and `-` is stdout.
#[test]
fn csv_output_to_a_symlink_a_fifo_and_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let r = run.root().to_str().unwrap();
    let query = "SELECT step FROM checkpoints ORDER BY step";
    let expected = "step\n0\n10\n20\n";

    let target = dir.path().join("real.csv");
    std::fs::write(&target, "old").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    hx_query(&[r, query, "--csv", link.to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), expected);

    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(&fifo).unwrap())
    };
    hx_query(&[r, query, "--csv", fifo.to_str().unwrap()]);
    assert_eq!(reader.join().unwrap(), expected);
    assert!(!std::fs::metadata(&fifo).unwrap().is_file(), "the FIFO was replaced by a file");

    let out = hx_query(&[r, query, "--csv", "-"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let err = Command::new(env!("CARGO_BIN_EXE_hx-query")).args([r, query, "--csv", r]).output().unwrap();
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(!err.status.success() && text.contains("is a directory"), "{text}");
}

/// Issue 16: a failing query says Polars' message once, not twice.
#[test]
fn errors_are_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let query = "SELECT nope FROM eigenvalues";
    let polars_says = match hx_query::Catalog::open(run.root()).unwrap().query(query) {
        Err(hx_query::Error::Query { message }) => message,
        other => panic!("expected a query error, got {other:?}"),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_hx-query")).args([run.root().to_str().unwrap(), query]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(text.matches(polars_says.as_str()).count(), 1, "Polars' message said more or less than once:\n{text}");
    // A plan-time error over a union of files names the problem without Polars' plan of every scan.
    let out = Command::new(env!("CARGO_BIN_EXE_hx-query"))
        .args([run.root().to_str().unwrap(), "SELECT step AS a, rank AS a FROM eigenvectors"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("duplicate") && !text.contains("Parquet SCAN") && text.lines().count() < 12, "{text}");
}
