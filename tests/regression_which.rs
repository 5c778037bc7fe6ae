//! Issue 18: `hx-eigen --which`. The bottom end comes from the same Lanczos
//! run as the top (`both` is one solve), is written beside it with
//! `spectrum_end`, its vectors in their own folder; `largest` keeps today's
//! fingerprint; power iteration refuses the bottom end before touching the
//! run; hx-analyze reports the negative curvature.

use hessx_store::tables::{EigenvalueRow, EigenvectorRow, read_rows};
use hessx_store::{RunDir, SpectrumEnd};

use crate::util::{Scratch, tiny_mlp_run};

#[test]
fn regression_issue_18_power_iteration_refuses_the_bottom_end_naming_both_flags() {
    let s = Scratch::new();
    for which in ["smallest", "both"] {
        // No run directory: the flags are refused before the run is opened.
        let err = s.fails("hx-eigen", &["--run", "runs/none", "--which", which, "--method", "power"]);
        assert!(err.contains("--which") && err.contains("--method"), "{err}");
        assert!(!err.contains("runs/none"), "refused at resolve time, not after opening the run: {err}");
    }
    let err = s.fails("hx-eigen", &["--run", "runs/none", "--which", "lowest"]);
    assert!(err.contains("--which") && err.contains("smallest"), "{err}");
}

/// Power iteration finds the largest |eigenvalue|: with the default `--which largest` its rows say so
/// (`magnitude`), and hx-analyze still draws them (it reads magnitude rows where there are no top ones).
#[test]
fn regression_issue_18_power_rows_are_labelled_magnitude() {
    let s = Scratch::new();
    tiny_mlp_run(&s, "runs/p");
    s.ok("hx-eigen", &["--run", "runs/p", "--hessian-batch-size", "40", "--top-k", "2", "--method", "power", "--max-iter", "200"]);
    let rows: Vec<EigenvalueRow> = read_rows(&RunDir::new(s.join("runs/p")).eigenvalues()).unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.spectrum_end == SpectrumEnd::Magnitude), "{rows:?}");
    s.ok("hx-analyze", &["--run", "runs/p"]);
    assert!(s.join("runs/p/report.html").is_file());
}

#[test]
fn regression_issue_18_both_ends_from_one_run() {
    let s = Scratch::new();
    tiny_mlp_run(&s, "runs/w");
    let run = RunDir::new(s.join("runs/w"));
    let hess = ["--run", "runs/w", "--hessian-batch-size", "40", "--steps", "0,3", "--top-k", "2", "--max-iter", "400"];

    s.ok("hx-eigen", &hess);
    let largest: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    assert!(largest.iter().all(|r| r.spectrum_end == SpectrumEnd::Top));
    let id_largest = largest[0].settings_id.clone();
    // Spelled out, `largest` is the same settings: nothing to compute.
    let again = s.ok("hx-eigen", &[&hess[..], &["--which", "largest"]].concat());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already have"));

    s.ok("hx-eigen", &[&hess[..], &["--which", "both"]].concat());
    let rows: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    let both: Vec<&EigenvalueRow> = rows.iter().filter(|r| r.settings_id != id_largest).collect();
    let id_both = both[0].settings_id.clone();
    assert_eq!(both.len(), 2 * 2 * 2, "two checkpoints, two ends, top-2");
    for step in [0, 3] {
        let end = |e: SpectrumEnd| -> Vec<&EigenvalueRow> {
            let mut v: Vec<&EigenvalueRow> = both.iter().copied().filter(|r| r.step == step && r.spectrum_end == e).collect();
            v.sort_by_key(|r| r.rank);
            v
        };
        let (top, bottom) = (end(SpectrumEnd::Top), end(SpectrumEnd::Bottom));
        assert!(top[0].eigenvalue >= top[1].eigenvalue && bottom[0].eigenvalue <= bottom[1].eigenvalue);
        assert!(bottom[1].eigenvalue < top[1].eigenvalue);
        // One solve: every row reports the same products, the run's steps plus k verification products per end.
        assert!(both.iter().filter(|r| r.step == step).all(|r| r.hvps == top[0].hvps && r.iterations == top[0].iterations));
        assert_eq!(top[0].hvps, top[0].iterations + 2 * 2);
        let single = largest.iter().find(|r| r.step == step && r.rank == 0).unwrap();
        assert!(top[0].iterations >= single.iterations);
        // Same Krylov space (same seed): the top of `both` is the top of `largest`, to the tolerance.
        assert!((top[0].eigenvalue - single.eigenvalue).abs() <= 1e-3 * single.eigenvalue.abs());
        let vectors: Vec<EigenvectorRow> = read_rows(&run.bottom_eigenvectors(&id_both, step)).unwrap();
        assert_eq!(vectors.iter().map(|v| (v.rank, v.eigenvalue)).collect::<Vec<_>>(), vec![(0, bottom[0].eigenvalue), (1, bottom[1].eigenvalue)]);
        assert!(run.eigenvectors(&id_both, step).exists());
    }
    // The top listing (analysis, landscape, hx-query's `eigenvectors`) never holds bottom vectors.
    assert!(run.eigenvector_tables().unwrap().iter().all(|(_, _, p)| !p.to_string_lossy().contains("bottom")));

    s.ok("hx-analyze", &["runs/w", "--settings", &id_both]);
    let nc = hessx_store::column::read_parquet(&run.analysis_table("negative_curvature")).unwrap();
    assert_eq!(nc.num_rows(), 2);
    let report = std::fs::read_to_string(run.report()).unwrap();
    assert!(report.contains("most negative eigenvalue") && report.contains("lambda_min"), "report lacks negative curvature");
    assert!(run.plots_dir().join("lambda_min.png").exists() && run.plots_dir().join("negative_curvature_ratio.png").exists());
}
