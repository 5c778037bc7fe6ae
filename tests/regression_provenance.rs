//! Issue 10: every result knows how it was made. hx-eigen run with other
//! settings adds rows beside the old ones under a new fingerprint, Lanczos
//! and power vectors never overwrite each other, the settings table says
//! what each fingerprint means, hx-analyze draws the vectors of the
//! eigenvalues it shows, identical settings compute nothing, and --replace
//! drops the rows of earlier settings.

use std::collections::BTreeSet;

use hessx_store::RunDir;
use hessx_store::tables::{DensityRow, EigenvalueRow, EigenvectorRow, SettingsRow, TraceRow, read_rows};
use hessx_store::{EigenMethod, Stage, TraceMethod};

use crate::util::Scratch;

const FETCH: &[&str] = &[
    "synthetic", "--name", "tiny", "--classes", "3", "--channels", "1", "--height", "8", "--width", "8",
    "--train", "96", "--test", "48", "--seed", "3", "--quiet",
];

fn ids(rows: &[EigenvalueRow]) -> BTreeSet<String> {
    rows.iter().map(|r| r.settings_id.clone()).collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn regression_issue_10_other_settings_add_rows_and_never_overwrite() {
    let s = Scratch::new();
    s.ok("hx-fetch", FETCH);
    s.ok("hx-train", &["--run", "runs/a", "--dataset", "tiny", "--model", "mlp", "--hidden", "12", "--batch-size", "32",
        "--epochs", "1", "--lr", "0.1", "--no-augment", "--save-interval", "3"]);
    let run = RunDir::new(s.join("runs/a"));
    let hess = ["--run", "runs/a", "--hessian-batch-size", "40", "--steps", "0,3"];

    // 1. Lanczos, top 3 over all parameters.
    s.ok("hx-eigen", &[&hess[..], &["--top-k", "3"]].concat());
    let first: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    assert_eq!(first.len(), 2 * 3);
    let id_a = first[0].settings_id.clone();
    assert_eq!(ids(&first).len(), 1);
    assert!(first.iter().all(|r| r.iterations > 0 && r.method == EigenMethod::Lanczos));

    // 2. Another top-k, parameter group and seed: new rows beside the old ones.
    s.ok("hx-eigen", &[&hess[..], &["--top-k", "2", "--params", "layers.1", "--seed", "7"]].concat());
    let second: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    assert_eq!(second.len(), 2 * 3 + 2 * 2, "both sets of rows are kept");
    let id_b = ids(&second).into_iter().find(|i| *i != id_a).expect("a second fingerprint");
    assert!(second.iter().filter(|r| r.settings_id == id_a).eq(first.iter()), "earlier rows are untouched");
    let dims: BTreeSet<i64> = second.iter().map(|r| r.num_params).collect();
    assert_eq!(dims.len(), 2, "the parameter group changed the Hessian's size: {dims:?}");

    // 3. Power iteration, same Hessian as 1: a third fingerprint, its own vectors.
    s.ok("hx-eigen", &[&hess[..], &["--top-k", "3", "--method", "power"]].concat());
    let third: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    let id_c = ids(&third).into_iter().find(|i| *i != id_a && *i != id_b).expect("a third fingerprint");
    assert!(third.iter().filter(|r| r.settings_id == id_c).all(|r| r.method == EigenMethod::Power));
    for id in [&id_a, &id_b, &id_c] {
        for step in [0, 3] {
            let vectors: Vec<EigenvectorRow> = read_rows(&run.eigenvectors(id, step)).unwrap();
            let values: Vec<&EigenvalueRow> = third.iter().filter(|r| r.settings_id == *id && r.step == step).collect();
            assert_eq!(vectors.len(), values.len(), "settings {id} step {step}: one vector per eigenvalue");
            assert!(vectors.iter().all(|v| v.settings_id == *id && v.vector.len() as i64 == values[0].num_params));
        }
    }
    // Lanczos and power agree on the top eigenvalue of the same Hessian (both converged).
    let top = |id: &str| third.iter().find(|r| r.settings_id == id && r.step == 3 && r.rank == 0).unwrap().eigenvalue;
    assert!((top(&id_a) - top(&id_c)).abs() <= 1e-2 * top(&id_a).abs(), "{} vs {}", top(&id_a), top(&id_c));

    // The settings table describes each fingerprint.
    let settings: Vec<SettingsRow> = read_rows(&run.settings()).unwrap();
    let row = |id: &str| settings.iter().find(|r| r.settings_id == id).unwrap_or_else(|| panic!("no settings row {id}"));
    assert_eq!(settings.len(), 3);
    let (a, b, c) = (row(&id_a), row(&id_b), row(&id_c));
    assert!(a.stage == Stage::Eigen && a.methods == "lanczos" && a.params == "all" && a.seed == 1);
    assert!(a.hessian_batch_size == 40 && a.examples == 40 && !a.full_dataset && a.bn_mode == "eval");
    assert!(b.params == "layers.1" && b.seed == 7 && b.settings.contains("top_k = 2"), "{}", b.settings);
    assert!(c.methods == "power" && c.settings.contains("top_k = 3"));
    assert!(run.settings_config("eigen", &id_b).exists());

    // Identical settings compute nothing.
    let again = s.ok("hx-eigen", &[&hess[..], &["--top-k", "2", "--seed", "7", "--params", "layers.1"]].concat());
    assert!(stderr(&again).contains("already") && stderr(&again).contains(&id_b), "{}", stderr(&again));
    assert_eq!(read_rows::<EigenvalueRow>(&run.eigenvalues()).unwrap(), third);

    // hx-analyze shows one settings, with its own vectors, and says which.
    s.ok("hx-analyze", &["runs/a"]);
    let report = std::fs::read_to_string(run.report()).unwrap();
    assert!(report.contains(&format!("{id_a}: lanczos")), "Lanczos over all parameters is shown by default");
    assert!(report.contains(&id_b) && report.contains(&id_c) && report.contains("--settings"));
    s.ok("hx-analyze", &["runs/a", "--settings", &id_b]);
    let report = std::fs::read_to_string(run.report()).unwrap();
    assert!(report.contains(&format!("{id_b}: lanczos")), "{id_b} is shown when asked for");

    // hx-query joins eigenvalues to their settings.
    let out = s.ok("hx-query", &["runs/a", &format!(
        "SELECT DISTINCT s.params, s.hessian_batch_size FROM eigenvalues e JOIN settings s ON e.settings_id = s.settings_id \
         WHERE e.settings_id = '{id_b}'"
    )]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("layers.1") && text.contains("40"), "{text}");

    // --replace recomputes and drops the other Lanczos settings at those steps; power rows stay.
    s.ok("hx-eigen", &[&hess[..], &["--top-k", "3", "--replace"]].concat());
    let replaced: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    assert_eq!(ids(&replaced), [id_a.clone(), id_c.clone()].into_iter().collect());
    assert!(!run.eigenvectors(&id_b, 0).exists() && run.eigenvectors(&id_c, 0).exists());

    // hx-spectrum: other settings are another fingerprint beside the first;
    // one-pass eigenpairs get their own vectors; identical settings compute nothing.
    let spec = ["--run", "runs/a", "--hessian-batch-size", "40", "--steps", "0,3", "--num-bins", "200"];
    let first_spec = [&spec[..], &["--iter", "10", "--trace", "slq", "--trace", "hutchinson", "--trace-hvps", "6"]].concat();
    s.ok("hx-spectrum", &first_spec);
    s.ok("hx-spectrum", &[&spec[..], &["--iter", "12", "--one-pass", "--top-k", "2"]].concat());
    let density: Vec<DensityRow> = read_rows(&run.density()).unwrap();
    let density_ids: BTreeSet<String> = density.iter().map(|d| d.settings_id.clone()).collect();
    assert_eq!(density_ids.len(), 2, "two spectrum settings side by side");
    let traces: Vec<TraceRow> = read_rows(&run.trace()).unwrap();
    assert_eq!(traces.len(), 2 * 2 + 2 * 2, "slq and hutchinson, then slq and the one-pass trace, at two checkpoints");
    assert!(traces.iter().all(|t| density_ids.contains(&t.settings_id)));
    assert!(traces.iter().filter(|t| t.method == TraceMethod::Hutchinson).all(|t| t.probes <= 6 && t.hvps <= 6));
    let values: Vec<EigenvalueRow> = read_rows(&run.eigenvalues()).unwrap();
    let one_pass: Vec<&EigenvalueRow> = values.iter().filter(|r| r.method == EigenMethod::OnePass).collect();
    assert_eq!(one_pass.len(), 2 * 2);
    let spec_id = &one_pass[0].settings_id;
    assert!(density_ids.contains(spec_id) && run.eigenvectors(spec_id, 3).exists());
    let settings: Vec<SettingsRow> = read_rows(&run.settings()).unwrap();
    let spec_row = settings.iter().find(|r| r.settings_id == *spec_id).unwrap();
    assert!(spec_row.stage == Stage::Spectrum && spec_row.methods == "slq+one-pass", "{}", spec_row.methods);
    // The one-pass trace is a row of its own, under the one-pass settings, with an error bar.
    let one_pass_traces: Vec<&TraceRow> = traces.iter().filter(|t| t.method == TraceMethod::OnePass).collect();
    assert_eq!(one_pass_traces.len(), 2, "one one-pass trace per checkpoint");
    for t in &one_pass_traces {
        assert_eq!(t.settings_id, *spec_id, "the one-pass trace carries its settings' fingerprint");
        assert_eq!(t.probes, 10, "the default --trace-probes");
        assert!(t.converged && t.std_error.is_finite() && t.std_error > 0.0, "{t:?}");
        assert!(t.estimate.is_finite() && t.hvps >= 12 + 10, "the whole pass's products: {t:?}");
        // Its 95 % interval: Student's t with 9 degrees of freedom (2.2622) times the standard error.
        assert!((t.half_width_95 - 2.2622 * t.std_error).abs() <= 1e-9 * t.half_width_95, "{t:?}");
    }
    assert!(spec_row.settings.contains("trace_probes = 10"), "{}", spec_row.settings);
    let err = s.fails("hx-spectrum", &[&spec[..], &["--iter", "12", "--one-pass", "--trace-probes", "1"]].concat());
    assert!(err.contains("--trace-probes"), "{err}");
    let again = s.ok("hx-spectrum", &first_spec);
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
    // Compared as text: a one-probe SLQ trace has a NaN standard error, and NaN != NaN.
    let after: Vec<TraceRow> = read_rows(&run.trace()).unwrap();
    assert_eq!(format!("{after:?}"), format!("{traces:?}"), "an identical re-run rewrote trace rows");
}
