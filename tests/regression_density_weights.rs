//! Issue 20: `hx-spectrum --density-weights`. Deflated (the default) and
//! plain weights draw two densities from the same Lanczos runs: the nodes, the
//! probes' weights and the Ritz residuals stored are the same, the densities
//! are not, and each is its own fingerprint beside the other.

use hessx_store::RunDir;
use hessx_store::tables::{DensityRow, QuadratureRow, SettingsRow, read_rows};

use crate::util::{Scratch, tiny_mlp_run};

#[test]
fn regression_issue_20_deflated_and_plain_densities_from_the_same_runs() {
    let s = Scratch::new();
    tiny_mlp_run(&s, "runs/d");
    let run = RunDir::new(s.join("runs/d"));
    let spec = ["--run", "runs/d", "--hessian-batch-size", "40", "--steps", "3", "--iter", "30", "--trace", "none"];
    s.ok("hx-spectrum", &spec);
    s.ok("hx-spectrum", &[&spec[..], &["--density-weights", "plain"]].concat());

    let settings: Vec<SettingsRow> = read_rows(&run.settings()).unwrap();
    assert_eq!(settings.len(), 2, "two fingerprints: {settings:?}");
    let deflated = settings.iter().find(|r| r.settings.contains("density_weights = \"deflated\"")).expect("the default is recorded");
    let plain = settings.iter().find(|r| r.settings_id != deflated.settings_id).unwrap();
    assert!(!plain.settings.contains("density_weights"), "plain keeps the fingerprint of settings from before the flag");

    let nodes: Vec<QuadratureRow> = read_rows(&run.quadrature()).unwrap();
    let of = |id: &str| -> Vec<(u32, f64, f64, f64)> {
        nodes.iter().filter(|r| r.settings_id == id).map(|r| (r.probe, r.node, r.weight, r.residual)).collect()
    };
    let (d, p) = (of(&deflated.settings_id), of(&plain.settings_id));
    assert_eq!(d.len(), 30);
    assert_eq!(d, p, "same seed, same runs: the same nodes, probe weights and residuals");
    assert!(d.iter().all(|&(_, _, _, r)| r.is_finite() && r >= 0.0), "residuals are stored: {d:?}");
    // A trained MLP's top eigenvalue is resolved within 30 steps of a ~800-dimensional Hessian.
    assert!(d[0].3 <= 1e-6 * d[0].1.abs(), "top Ritz pair residual {} at {}", d[0].3, d[0].1);

    let densities: Vec<DensityRow> = read_rows(&run.density()).unwrap();
    let curve = |id: &str| -> Vec<f64> { densities.iter().filter(|r| r.settings_id == id).map(|r| r.density).collect() };
    let (dc, pc) = (curve(&deflated.settings_id), curve(&plain.settings_id));
    assert_eq!(dc.len(), pc.len());
    assert!(dc.iter().zip(&pc).any(|(a, b)| (a - b).abs() > 1e-9 * b.abs().max(1.0)), "the weights change the density");

    let err = s.fails("hx-spectrum", &[&spec[..], &["--density-weights", "exact"]].concat());
    assert!(err.contains("--density-weights") && err.contains("deflated") && err.contains("plain"), "{err}");
}
