//! Deflated density weights against known spectra: the found outliers get their exact mass, the moments
//! stay unbiased over seeds (Gauss rules integrate low powers exactly, so the spectral moments are the
//! quantity both weightings must get right on average), the spread over seeds shrinks, and a many-fold
//! eigenvalue keeps its probe weight.

use hessx_hessian::*;

use crate::common::known_spectrum;

/// n = 300: five outliers far from a bulk spread evenly over [-1, 1].
fn outliers_and_bulk() -> Vec<f64> {
    let mut e = vec![100.0, 80.0, 60.0, 45.0, 30.0];
    e.extend((0..295).map(|i| -1.0 + 2.0 * i as f64 / 294.0));
    e
}

/// `k`-th moment of a run's weights.
fn moment(r: &SlqRun, k: i32) -> f64 {
    r.nodes.iter().zip(&r.weights).map(|(t, w)| w * t.powi(k)).sum()
}

fn gaussian_runs(eigs: &[f64], iter: usize, n_v: usize, seed: u64) -> SlqRuns {
    let (a, _) = known_spectrum(eigs, seed);
    slq(&mut DenseOp::new(a).unwrap(), &SlqConfig { iter, n_v, probe: ProbeKind::Gaussian, seed, step: 0 }).unwrap()
}

#[test]
fn found_outliers_get_exactly_their_mass() {
    let eigs = outliers_and_bulk();
    let n = eigs.len() as f64;
    let runs = gaussian_runs(&eigs, 30, 40, 1);
    let deflated = DensityWeights::Deflated.apply(&runs);
    let mut plain_mass = Vec::new();
    for (p, d) in runs.runs.iter().zip(&deflated) {
        // 30 steps resolve the five outliers (gaps >= 15 against a bulk of width 2) in every run.
        for (i, &l) in eigs[..5].iter().enumerate() {
            assert!((p.nodes[i] - l).abs() < 1e-8 * l, "node {i}: {} vs {l}", p.nodes[i]);
            assert!((d.weights[i] - 1.0 / n).abs() < 1e-15, "deflated weight {i}: {}", d.weights[i]);
        }
        assert!(resolved(p, runs.dim)[5..].iter().all(|r| !r), "a bulk node of a 300-dimensional bulk counted as found");
        assert!((d.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        plain_mass.push(p.weights[..5].iter().sum::<f64>());
    }
    // The probe's own weights on the outliers are a chi^2_5 / n draw: right on average (within 3 standard
    // errors of 5/n over 40 probes), but each one off.
    let (mean, se) = mean_and_std_error(&plain_mass);
    assert!((mean - 5.0 / n).abs() < 3.0 * se, "plain outlier mass {mean} +- {se}, want {}", 5.0 / n);
    assert!(se * (plain_mass.len() as f64).sqrt() > 0.2 * 5.0 / n, "the plain weights should vary");
}

#[test]
fn deflated_moments_are_unbiased_with_a_far_smaller_spread() {
    // Gauss rules of 30 nodes integrate t^1 and t^2 exactly, so each run's moment is v^T H^k v for its
    // probe (plain) or the deflated version of it; both have mean tr(H^k) / n for Gaussian probes. The
    // check is that the mean over 60 probes lies within 3 standard errors of the exact value (a 0.3% chance
    // of a false alarm each), and that the deflated spread is far smaller: the plain one is dominated by
    // the outliers' random weights (sd ~ sqrt(2 sum lambda^4) / n over the outliers), the deflated one only
    // by the bulk's.
    let eigs = outliers_and_bulk();
    let n = eigs.len() as f64;
    let runs = gaussian_runs(&eigs, 30, 60, 2);
    let deflated = DensityWeights::Deflated.apply(&runs);
    for k in [1, 2] {
        let exact = eigs.iter().map(|l| l.powi(k)).sum::<f64>() / n;
        let plain: Vec<f64> = runs.runs.iter().map(|r| moment(r, k)).collect();
        let defl: Vec<f64> = deflated.iter().map(|r| moment(r, k)).collect();
        let (pm, pse) = mean_and_std_error(&plain);
        let (dm, dse) = mean_and_std_error(&defl);
        assert!((pm - exact).abs() < 3.0 * pse, "plain moment {k}: {pm} +- {pse}, exact {exact}");
        assert!((dm - exact).abs() < 3.0 * dse.max(1e-12 * exact.abs()), "deflated moment {k}: {dm} +- {dse}, exact {exact}");
        assert!(dse < pse / 10.0, "moment {k}: deflated spread {dse} vs plain {pse}");
    }
}

#[test]
fn deflated_density_is_closer_to_the_spectrum_in_w1() {
    // One probe of 30 steps per seed, 20 seeds, W1 to the exact eigenvalues (equal weights): the deflated
    // distribution is closer on every seed where the plain outlier weights are off, and on average by more
    // than 2 standard errors of the paired difference.
    let eigs = outliers_and_bulk();
    let truth: Vec<(f64, f64)> = eigs.iter().map(|&l| (l, 1.0)).collect();
    let runs = gaussian_runs(&eigs, 30, 20, 3);
    let atoms = |r: &SlqRun| -> Vec<(f64, f64)> { r.nodes.iter().copied().zip(r.weights.iter().copied()).collect() };
    let diffs: Vec<f64> = runs
        .runs
        .iter()
        .zip(DensityWeights::Deflated.apply(&runs))
        .map(|(p, d)| wasserstein1(&atoms(&d), &truth).unwrap() - wasserstein1(&atoms(p), &truth).unwrap())
        .collect();
    let (d, se) = mean_and_std_error(&diffs);
    assert!(d < -2.0 * se, "deflated minus plain W1: {d} +- {se}");
}

#[test]
fn a_many_fold_eigenvalue_keeps_its_probe_weight() {
    // 60 exact zeros (dead units, unused embedding rows): Lanczos shows them as one node at 0 whose weight is
    // a chi^2_60 / n draw, about 60/n; it must not be cut to 1/n. Its mass stays right on average.
    let mut eigs = vec![50.0, 40.0, 30.0];
    eigs.extend(std::iter::repeat_n(0.0, 60));
    eigs.extend((0..237).map(|i| 0.5 + i as f64 / 236.0));
    let n = eigs.len() as f64;
    let runs = gaussian_runs(&eigs, 40, 40, 4);
    let deflated = DensityWeights::Deflated.apply(&runs);
    let mut zero_mass = Vec::new();
    for (p, d) in runs.runs.iter().zip(&deflated) {
        // Rounding can let the run pick up a second direction of the zero eigenspace (a node at ~1e-12 with
        // a weight of ~1e-7, an eigenvector all the same); the probe's mass sits on the heaviest one.
        let at_zero: Vec<usize> = (0..p.nodes.len()).filter(|&i| p.nodes[i].abs() < 1e-8).collect();
        let z = *at_zero.iter().max_by(|&&i, &&j| p.weights[i].total_cmp(&p.weights[j])).expect("a node at the 60-fold zero");
        assert!(!resolved(p, runs.dim)[z], "the 60-fold zero (n w = {}) counted as one eigenvalue", p.weights[z] * n);
        assert!(resolved(p, runs.dim)[..3].iter().all(|&r| r), "the outliers are found");
        zero_mass.push(at_zero.iter().map(|&i| d.weights[i]).sum::<f64>());
    }
    let (mean, se) = mean_and_std_error(&zero_mass);
    assert!((mean - 60.0 / n).abs() < 3.0 * se, "mass at 0: {mean} +- {se}, want {}", 60.0 / n);
}

#[test]
fn one_pass_draws_its_density_with_the_chosen_weights() {
    let eigs = outliers_and_bulk();
    let (a, _) = known_spectrum(&eigs, 5);
    let cfg = OnePassConfig {
        slq: SlqConfig { iter: 30, seed: 5, ..Default::default() },
        density_weights: DensityWeights::Deflated,
        ..Default::default()
    };
    let one = one_pass(&mut DenseOp::new(a).unwrap(), &cfg).unwrap();
    assert_eq!(one.density, pyhessian_density(&DensityWeights::Deflated.apply(&one.runs)).unwrap());
    assert_ne!(one.density, pyhessian_density(&one.runs.runs).unwrap(), "the deflated density differs from the plain one");
}
