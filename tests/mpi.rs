//! hx-eigen and hx-spectrum under `mpirun -n 2`: the 2-rank full-dataset
//! results equal the 1-rank ones, and a failure on one rank stops the job.
//!
//! These need the stage binaries built with the cargo feature `mpi` and an
//! MPI installation, so they are ignored by a plain `cargo test`; `just
//! test-mpi` builds them that way and runs these (CI does, after `just test`).

use std::process::{Command, Output};
use std::time::Duration;

use hessx_store::tables::{EigenvalueRow, TraceRow, read_rows};

use crate::util::{Scratch, bin, describe};

/// `mpirun -n 2` of stage `name` (oversubscribed: CI has 2 cores; as root, which OpenMPI refuses by default).
fn mpirun(s: &Scratch, name: &str, args: &[&str]) -> Output {
    let mut child = Command::new("timeout");
    child
        .arg("300")
        .args(["mpirun", "-n", "2", "--oversubscribe", "--allow-run-as-root"])
        .arg(bin(name))
        .args(args)
        .current_dir(s.path())
        .env("HESSX_LOG", "info");
    child.output().unwrap_or_else(|e| panic!("cannot start mpirun (install MPI with `just setup-mpi`): {e}"))
}

/// A trained MLP on the digits, copied into two runs: one for 1 rank, one for 2.
fn two_runs() -> Scratch {
    let s = Scratch::new();
    s.ok("hx-fetch", &["digits"]);
    s.ok("hx-train", &["--run", "runs/one", "--dataset", "digits", "--model", "mlp", "--hidden", "16", "--epochs", "2", "--batch-size", "128", "--no-augment", "--save-interval", "100"]);
    let copy = Command::new("cp").args(["-r", "runs/one", "runs/two"]).current_dir(s.path()).status().unwrap();
    assert!(copy.success());
    s
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-12)
}

/// The ranks sum their weighted halves of each product in f64, one process sums all batches in its own
/// order in f32: the products differ by f32 rounding (about 1e-7 relative), which Lanczos carries into
/// eigenvalues at about that level; 1e-4 leaves room for the residual-driven last digits.
#[test]
#[ignore = "needs the binaries built with --features mpi and mpirun: just test-mpi"]
fn two_ranks_give_the_one_rank_full_dataset_eigenvalues_trace_and_density() {
    let s = two_runs();
    let eigen = ["--full-dataset", "--top-k", "3", "--steps", "24"];
    s.ok("hx-eigen", &[&["--run", "runs/one"][..], &eigen].concat());
    let out = mpirun(&s, "hx-eigen", &[&["--run", "runs/two"][..], &eigen].concat());
    assert!(out.status.success(), "{}", describe("mpirun hx-eigen", &eigen, &out));
    let one: Vec<EigenvalueRow> = read_rows(&s.join("runs/one/eigenvalues.parquet")).unwrap();
    let two: Vec<EigenvalueRow> = read_rows(&s.join("runs/two/eigenvalues.parquet")).unwrap();
    assert_eq!(one.len(), 3, "rank 0 wrote the rows once");
    assert_eq!(two.len(), 3, "rank 0 wrote the rows once");
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.settings_id, b.settings_id, "the number of ranks is not part of the settings");
        assert!(close(a.eigenvalue, b.eigenvalue, 1e-4), "rank {}: {} vs {}", a.rank, a.eigenvalue, b.eigenvalue);
    }
    let spectrum = ["--full-dataset", "--iter", "20", "--trace", "hutchinson", "--trace-hvps", "12", "--steps", "24"];
    s.ok("hx-spectrum", &[&["--run", "runs/one"][..], &spectrum].concat());
    let out = mpirun(&s, "hx-spectrum", &[&["--run", "runs/two"][..], &spectrum].concat());
    assert!(out.status.success(), "{}", describe("mpirun hx-spectrum", &spectrum, &out));
    let one: Vec<TraceRow> = read_rows(&s.join("runs/one/trace.parquet")).unwrap();
    let two: Vec<TraceRow> = read_rows(&s.join("runs/two/trace.parquet")).unwrap();
    assert_eq!((one.len(), two.len()), (1, 1));
    assert!(close(one[0].estimate, two[0].estimate, 1e-4), "{} vs {}", one[0].estimate, two[0].estimate);
    let nodes = |run: &str| -> Vec<f64> {
        let rows: Vec<hessx_store::tables::QuadratureRow> = read_rows(&s.join(&format!("runs/{run}/lanczos_nodes.parquet"))).unwrap();
        rows.iter().map(|r| r.node).collect()
    };
    let (a, b) = (nodes("one"), nodes("two"));
    assert_eq!(a.len(), b.len());
    // The extreme Ritz values converge first; the inner ones of a 20-step run are sensitive to rounding.
    let (amax, bmax) = (a.iter().cloned().fold(f64::MIN, f64::max), b.iter().cloned().fold(f64::MIN, f64::max));
    assert!(close(amax, bmax, 1e-4), "{amax} vs {bmax}");
}

/// One rank failing (here: 2 ranks for a 1-example Hessian leave rank 1 without examples) stops the
/// whole job with that rank's error instead of leaving rank 0 waiting in an all-reduce.
#[test]
#[ignore = "needs the binaries built with --features mpi and mpirun: just test-mpi"]
fn a_failure_on_one_rank_stops_the_job_with_its_error() {
    let s = two_runs();
    let started = std::time::Instant::now();
    let out = mpirun(&s, "hx-eigen", &["--run", "runs/two", "--hessian-batch-size", "1", "--top-k", "1", "--steps", "24"]);
    assert!(!out.status.success(), "{}", describe("mpirun hx-eigen", &[], &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rank 1 has none"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(240), "the job hung until the timeout");
    // Stages that do not share their work refuse to run as N copies.
    let out = mpirun(&s, "hx-train", &["--run", "runs/three", "--dataset", "digits"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("does not run under mpirun"), "{stderr}");
}

/// A robustness sweep under `mpirun -n 2`: the ranks claim cells dynamically, a job stopped after one
/// cell per rank resumes where it stopped, and the cells hold the numbers one process computes (each
/// cell is computed whole by one rank, so they agree to the last bit).
#[test]
#[ignore = "needs the binaries built with --features mpi and mpirun: just test-mpi"]
fn a_robustness_sweep_shared_by_two_ranks_resumes_and_equals_one_process() {
    use hessx_store::robustness::{CellRow, SweepDir};
    use hessx_store::tables::read_rows_with_identity;
    let s = two_runs();
    let sweep = ["--corruptions", "gaussian_noise,fog", "--severities", "1,5", "--hessian-examples", "50", "--iter", "12", "--top-k", "2", "--name", "s"];
    s.ok("hx-robustness", &[&["--run", "runs/one"][..], &sweep].concat());
    let first = mpirun(&s, "hx-robustness", &[&["--run", "runs/two", "--max-cells", "1"][..], &sweep].concat());
    assert!(first.status.success(), "{}", describe("mpirun hx-robustness --max-cells 1", &sweep, &first));
    let cells = |run: &str| SweepDir::tables_in(&s.join(&format!("runs/{run}/robustness/s/cells"))).unwrap();
    assert_eq!(cells("two").len(), 2, "each rank computed one cell");
    let second = mpirun(&s, "hx-robustness", &[&["--run", "runs/two"][..], &sweep].concat());
    assert!(second.status.success(), "{}", describe("mpirun hx-robustness", &sweep, &second));
    assert_eq!(cells("two").len(), 5);
    assert!(s.join("runs/two/robustness/s/robustness.html").is_file(), "rank 0 drew the page");
    for (a, b) in cells("one").iter().zip(cells("two")) {
        let (ia, ra) = read_rows_with_identity::<CellRow>(a).unwrap();
        let (ib, rb) = read_rows_with_identity::<CellRow>(&b).unwrap();
        assert_eq!(ia.map(|i| (i.corruption, i.severity)), ib.map(|i| (i.corruption, i.severity)));
        assert_eq!((ra[0].accuracy, ra[0].lambda_max, ra[0].trace), (rb[0].accuracy, rb[0].lambda_max, rb[0].trace), "{}", a.display());
    }
}

/// A loss surface under `mpirun -n 2`: the ranks claim shards of the grid as they become free, each
/// shard into its own table, and rank 0 merges them through the `--merge` checks; the merged grid
/// equals one process's point for point.
#[test]
#[ignore = "needs the binaries built with --features mpi and mpirun: just test-mpi"]
fn a_surface_split_over_two_ranks_equals_one_process() {
    use hessx_store::landscape::SurfaceRow;
    let s = two_runs();
    let grid = ["--x=-1:1:5", "--y=-1:1:4", "--examples", "100", "--name", "g", "--no-plot"];
    s.ok("hx-landscape", &[&["--run", "runs/one"][..], &grid].concat());
    let out = mpirun(&s, "hx-landscape", &[&["--run", "runs/two"][..], &grid].concat());
    assert!(out.status.success(), "{}", describe("mpirun hx-landscape", &grid, &out));
    let rows = |run: &str| {
        let mut r: Vec<SurfaceRow> = read_rows(&s.join(&format!("runs/{run}/landscape/g/surface.parquet"))).unwrap();
        r.sort_by(|a, b| (a.point, &a.split).cmp(&(b.point, &b.split)));
        r
    };
    let (one, two) = (rows("one"), rows("two"));
    assert_eq!(one.len(), 20);
    assert_eq!(two.len(), 20);
    for (a, b) in one.iter().zip(&two) {
        assert_eq!((a.point, a.x, a.y, a.loss, a.accuracy), (b.point, b.x, b.y, b.loss, b.accuracy));
    }
    let shards = std::fs::read_dir(s.join("runs/two/landscape/g/shards")).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "parquet")).count();
    assert_eq!(shards, 20, "one table per shard: 20 points give 20 shards (at most 64)");
    let report = String::from_utf8_lossy(&out.stdout);
    let claimed: Vec<usize> = report.lines().filter_map(|l| l.split(" of ").nth(1)?.split_whitespace().next()?.parse().ok()).collect();
    assert_eq!(claimed.iter().sum::<usize>(), 20, "every shard claimed once: {report}");
}
