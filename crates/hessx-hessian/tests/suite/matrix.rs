//! Every algorithm on plain matrices with known spectra (no model), in f64.

use hessx_hessian::*;
use nalgebra::DMatrix;

use crate::common::{abs_cos, known_spectrum};

/// 50 eigenvalues: five well separated outliers (ratio 0.9, so power iteration converges at 0.81 per
/// step), then a bulk in [-10, 50].
fn outlier_spectrum() -> Vec<f64> {
    let mut e = vec![100.0, 90.0, 81.0, 72.9, 65.61];
    e.extend((0..45).map(|i| -10.0 + 60.0 * i as f64 / 44.0));
    e
}

fn column(q: &DMatrix<f64>, j: usize) -> Vec<f64> {
    q.column(j).iter().cloned().collect()
}

#[test]
fn lanczos_top5_matches_a_known_spectrum() {
    let eigs = outlier_spectrum();
    let (a, q) = known_spectrum(&eigs, 1);
    let mut op = DenseOp::new(a).unwrap();
    let cfg = LanczosConfig {
        k: 5,
        max_iter: 50,
        tol: 1e-12,
        seed: 3,
        verify: true,
    };
    let top = lanczos_top_k(&mut op, &cfg).unwrap();
    assert!(top.all_converged(), "residuals {:?}", top.residuals);
    assert_eq!(top.residual_kind, ResidualKind::Explicit);
    assert_eq!(
        top.hvps,
        top.iterations as u64 + 5,
        "k verification products on top of the steps"
    );
    for i in 0..5 {
        // f64 with full reorthogonalisation: converged Ritz values are accurate to ~||A|| eps; 1e-8
        // relative is the brief's bar and leaves a wide margin.
        assert!(
            (top.values[i] - eigs[i]).abs() <= 1e-8 * eigs[i].abs(),
            "{i}: {} vs {}",
            top.values[i],
            eigs[i]
        );
        // Gaps of >= 7 against ||A|| = 100 and residuals <= 1e-10: the angle is <= residual / gap ~ 1e-11.
        assert!(abs_cos(&top.vectors[i], &column(&q, i)) > 0.999999);
        assert!(top.residuals[i] <= 1e-12 * eigs[i].abs());
    }
}

#[test]
fn lanczos_residual_estimate_tracks_the_explicit_residual() {
    let (a, _) = known_spectrum(&outlier_spectrum(), 2);
    // Stop early on purpose, so the residuals are large enough to compare.
    let cfg = LanczosConfig {
        k: 3,
        max_iter: 12,
        tol: 1e-14,
        seed: 5,
        verify: false,
    };
    let est = lanczos_top_k(&mut DenseOp::new(a.clone()).unwrap(), &cfg).unwrap();
    let exp = lanczos_top_k(
        &mut DenseOp::new(a).unwrap(),
        &LanczosConfig {
            verify: true,
            ..cfg
        },
    )
    .unwrap();
    assert_eq!(est.residual_kind, ResidualKind::LanczosEstimate);
    assert_eq!(est.iterations, 12);
    for i in 0..3 {
        // In exact arithmetic they are equal; with full reorthogonalisation in f64 they agree to rounding.
        assert!((est.residuals[i] - exp.residuals[i]).abs() <= 1e-6 * exp.residuals[i] + 1e-10);
    }
}

#[test]
fn lanczos_handles_an_invariant_start_and_a_low_rank_operator() {
    // Rank 3 with a repeated eigenvalue: Krylov spaces break down after <= 3 steps; the restart must
    // still deliver the top 4 (the 4th is 0).
    let mut eigs = vec![5.0, 5.0, 2.0];
    eigs.extend(std::iter::repeat_n(0.0, 17));
    let (a, _) = known_spectrum(&eigs, 4);
    let top = lanczos_top_k(
        &mut DenseOp::new(a).unwrap(),
        &LanczosConfig {
            k: 4,
            max_iter: 20,
            tol: 1e-10,
            seed: 1,
            verify: true,
        },
    )
    .unwrap();
    for (got, want) in top.values.iter().zip([5.0, 5.0, 2.0, 0.0]) {
        assert!((got - want).abs() < 1e-9, "{:?}", top.values);
    }
}

#[test]
fn power_iteration_agrees_to_its_tolerance() {
    let eigs = outlier_spectrum();
    let (a, q) = known_spectrum(&eigs, 1);
    let tol = 1e-7;
    let cfg = PowerConfig {
        top_n: 3,
        max_iter: 500,
        tol,
        seed: 9,
        verify: true,
    };
    let res = power_iteration(&mut DenseOp::new(a).unwrap(), &cfg).unwrap();
    assert!(res.all_converged());
    for i in 0..3 {
        // Rayleigh quotients converge geometrically with ratio r = (0.9)^2 = 0.81, so once a step changes
        // the value by < tol relative, the remaining error is < tol * r / (1 - r) ~ 4.3 tol. Allow 10 tol.
        assert!(
            (res.values[i] - eigs[i]).abs() <= 10.0 * tol * eigs[i],
            "{i}: {}",
            res.values[i]
        );
        // The vector error is ~ sqrt(value error / gap): sqrt(1e-6 * 100 / 9) ~ 3e-3, so cos > 0.9999.
        assert!(abs_cos(&res.vectors[i], &column(&q, i)) > 0.9999);
    }
}

#[test]
fn power_iteration_defaults_are_pyhessians() {
    assert_eq!(
        PowerConfig::default(),
        PowerConfig {
            top_n: 1,
            max_iter: 100,
            tol: 1e-3,
            seed: 0,
            verify: false
        }
    );
    let (a, _) = known_spectrum(&outlier_spectrum(), 6);
    let res = power_iteration(&mut DenseOp::new(a).unwrap(), &PowerConfig::default()).unwrap();
    assert_eq!(res.residual_kind, ResidualKind::NotComputed);
    assert!(res.residuals[0].is_nan());
    // Stopping at a 1e-3 relative change leaves an error of up to ~4.3e-3 (see above): allow 1e-2.
    assert!((res.values[0] - 100.0).abs() < 1.0);
    assert_eq!(res.hvps, res.iterations as u64);
}

#[test]
fn hutchinson_error_bars_are_honest() {
    let eigs = outlier_spectrum();
    let (a, _) = known_spectrum(&eigs, 7);
    let truth: f64 = eigs.iter().sum();
    let (mut within1, mut within3) = (0usize, 0usize);
    let seeds = 100u64;
    for seed in 0..seeds {
        let cfg = HutchinsonConfig {
            max_probes: 20,
            tol: 0.0,
            seed,
            step: 0,
        };
        let t = hutchinson(&mut DenseOp::new(a.clone()).unwrap(), &cfg).unwrap();
        assert_eq!((t.probes, t.hvps), (20, 20));
        let z = (t.estimate - truth).abs() / t.std_error;
        within1 += (z <= 1.0) as usize;
        within3 += (z <= 3.0) as usize;
    }
    // The studentised error with 20 probes is ~t(19): P(|t| <= 1) = 0.67, P(|t| > 3) = 0.7%.
    let f1 = within1 as f64 / seeds as f64;
    assert!(f1 > 0.5 && f1 < 0.9, "fraction within one std error: {f1}");
    // Binomial(100, 0.007): more than 4 misses has probability < 0.1%.
    let misses = seeds as usize - within3;
    assert!(
        misses <= 4,
        "{misses} of {seeds} estimates off by more than 3 std errors"
    );
}

#[test]
fn hutchinson_stops_on_its_standard_error() {
    let (a, _) = known_spectrum(&outlier_spectrum(), 8);
    let t = hutchinson(
        &mut DenseOp::new(a).unwrap(),
        &HutchinsonConfig {
            max_probes: 10_000,
            tol: 0.02,
            seed: 1,
            step: 0,
        },
    )
    .unwrap();
    assert!(t.converged && t.probes >= MIN_TRACE_PROBES && t.probes < 10_000);
    assert!(t.std_error <= 0.02 * t.estimate.abs());
    assert!(
        hutchinson(
            &mut DenseOp::new(DMatrix::identity(3, 3)).unwrap(),
            &HutchinsonConfig {
                max_probes: 1,
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn hutchpp_beats_hutchinson_on_a_decaying_spectrum() {
    // Eigenvalues 100 * 0.7^i: a few directions carry most of the trace, which the sketch removes.
    let eigs: Vec<f64> = (0..50).map(|i| 100.0 * 0.7f64.powi(i)).collect();
    let truth: f64 = eigs.iter().sum();
    let (a, _) = known_spectrum(&eigs, 10);
    let budget = 30;
    let (mut mse_h, mut mse_pp) = (0.0, 0.0);
    let seeds = 50;
    for seed in 0..seeds {
        let h = hutchinson(
            &mut DenseOp::new(a.clone()).unwrap(),
            &HutchinsonConfig {
                max_probes: budget,
                tol: 0.0,
                seed,
                step: 0,
            },
        )
        .unwrap();
        let pp = hutchpp(
            &mut DenseOp::new(a.clone()).unwrap(),
            &HutchppConfig {
                num_hvps: budget,
                seed,
                step: 0,
            },
        )
        .unwrap();
        assert_eq!((h.hvps, pp.hvps), (budget as u64, budget as u64));
        mse_h += (h.estimate - truth).powi(2) / seeds as f64;
        mse_pp += (pp.estimate - truth).powi(2) / seeds as f64;
    }
    // 10 sketch vectors capture eigenvalues down to 100 * 0.7^10 ~ 2.8; the rest has a squared Frobenius
    // norm ~1e3 times smaller than the whole, so Hutch++'s MSE is orders of magnitude below; 0.1 is slack.
    assert!(
        mse_pp < 0.1 * mse_h,
        "Hutch++ MSE {mse_pp:.3e} vs Hutchinson {mse_h:.3e}"
    );
}

#[test]
fn hutchpp_is_exact_when_the_sketch_spans_the_space() {
    // 40 dimensions: a 40x40 Rademacher sketch is singular with negligible probability (a 12x12 one is
    // not: ~1e-2), so Q spans the space.
    let eigs: Vec<f64> = (1..=40).map(|i| i as f64).collect();
    let (a, _) = known_spectrum(&eigs, 11);
    let t = hutchpp(
        &mut DenseOp::new(a).unwrap(),
        &HutchppConfig {
            num_hvps: 126,
            seed: 2,
            step: 0,
        },
    )
    .unwrap();
    // tr(Q^T A Q) with Q spanning R^40 is the trace up to rounding; the residual part is ~1e-14.
    assert!((t.estimate - 820.0).abs() < 1e-9, "{}", t.estimate);
    assert_eq!(t.hvps, 126);
}

/// Exact eigenvalues smoothed with a Gaussian kernel of variance `var`, written out here (not with
/// `density`, so a kernel or normalisation bug there cannot cancel) and normalised to unit Riemann sum.
fn smoothed_truth(eigs: &[f64], grid: &[f64], var: f64) -> Vec<f64> {
    let gauss = |t: f64, mu: f64| {
        (-(t - mu) * (t - mu) / (2.0 * var)).exp() / (2.0 * std::f64::consts::PI * var).sqrt()
    };
    let raw: Vec<f64> = grid
        .iter()
        .map(|&t| eigs.iter().map(|&l| gauss(t, l)).sum::<f64>() / eigs.len() as f64)
        .collect();
    let mass: f64 = raw.iter().sum::<f64>() * (grid[1] - grid[0]);
    raw.iter().map(|d| d / mass).collect()
}

#[test]
fn slq_density_matches_the_smoothed_spectrum() {
    let eigs = outlier_spectrum();
    let (a, _) = known_spectrum(&eigs, 12);
    let cfg = SlqConfig {
        iter: 50,
        n_v: 200,
        probe: ProbeKind::Rademacher,
        seed: 4,
        step: 0,
    };
    let runs = slq(&mut DenseOp::new(a).unwrap(), &cfg).unwrap();
    assert_eq!(runs.hvps, 50 * 200);
    for r in &runs.runs {
        assert!(
            (r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12,
            "weights are a probability vector"
        );
    }
    let grid: Vec<f64> = (0..2000)
        .map(|i| -20.0 + 140.0 * i as f64 / 1999.0)
        .collect();
    let dx = grid[1] - grid[0];
    let var = 4.0;
    let est = density(&runs.runs, &grid, var).unwrap();
    let truth = smoothed_truth(&eigs, &grid, var);
    let l1: f64 = est
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        * dx;
    // With iter = dim the quadrature is exact for each probe, so the error is only in the weights:
    // L1 <= sum_i |mean_r w_ri - 1/n|. For unit Rademacher probes w_ri has mean 1/n and std ~ sqrt(2)/n, so
    // with 200 runs E sum_i |.| ~ sqrt(2/pi) * sqrt(2) / sqrt(200) = 0.08. Bound: 0.15.
    assert!(l1 < 0.15, "L1 distance {l1}");
    assert!((est.iter().sum::<f64>() * dx - 1.0).abs() < 1e-12);
}

#[test]
fn slq_with_few_steps_resolves_a_smooth_density() {
    let eigs = outlier_spectrum();
    let (a, _) = known_spectrum(&eigs, 13);
    let runs = slq(
        &mut DenseOp::new(a).unwrap(),
        &SlqConfig {
            iter: 20,
            n_v: 200,
            probe: ProbeKind::Gaussian,
            seed: 5,
            step: 0,
        },
    )
    .unwrap();
    let grid: Vec<f64> = (0..2000)
        .map(|i| -40.0 + 180.0 * i as f64 / 1999.0)
        .collect();
    let dx = grid[1] - grid[0];
    // A kernel much wider than the node spacing (sigma = 10 against a spectrum of width 110): the
    // 20-node Gauss rule integrates the smooth kernel almost exactly; the error is dominated by the
    // weights, as above (Gaussian probes: same order). Bound 0.15.
    let var = 100.0;
    let est = density(&runs.runs, &grid, var).unwrap();
    let truth = smoothed_truth(&eigs, &grid, var);
    let l1: f64 = est
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        * dx;
    assert!(l1 < 0.15, "L1 distance {l1}");
}

#[test]
fn slq_trace_is_unbiased() {
    let eigs = outlier_spectrum();
    let truth: f64 = eigs.iter().sum();
    let (a, _) = known_spectrum(&eigs, 14);
    let runs = slq(
        &mut DenseOp::new(a).unwrap(),
        &SlqConfig {
            iter: 10,
            n_v: 400,
            probe: ProbeKind::Rademacher,
            seed: 6,
            step: 0,
        },
    )
    .unwrap();
    let t = slq_trace(&runs);
    assert_eq!(t.probes, 400);
    // Unbiased with a reported std error: 4 std errors fails with probability 6e-5.
    assert!(
        (t.estimate - truth).abs() < 4.0 * t.std_error,
        "{} vs {truth} +- {}",
        t.estimate,
        t.std_error
    );
    // ... and the std error is a real one: 400 samples of v^T A v have a relative spread of a few %.
    assert!(t.std_error > 0.0 && t.std_error < 0.05 * truth);
}

#[test]
fn pyhessian_grid_mirrors_density_generate() {
    let runs = vec![
        SlqRun {
            nodes: vec![3.0, 1.0, -1.0],
            weights: vec![0.5, 0.25, 0.25],
            residuals: vec![f64::NAN; 3],
        },
        SlqRun {
            nodes: vec![5.0, 0.0, -3.0],
            weights: vec![0.2, 0.3, 0.5],
            residuals: vec![f64::NAN; 3],
        },
    ];
    let (grid, var) = pyhessian_grid(&runs, 10_000, 1e-5, 0.01);
    // lambda_max = mean(3, 5) + 0.01, lambda_min = mean(-1, -3) - 0.01, sigma^2 = 1e-5 * max(1, range).
    assert_eq!(grid.len(), 10_000);
    assert!((grid[0] + 2.01).abs() < 1e-12 && (grid[9_999] - 4.01).abs() < 1e-12);
    assert!((var - 1e-5 * 6.02).abs() < 1e-15);
    let d = pyhessian_density(&runs).unwrap();
    assert!((d.density.iter().sum::<f64>() * (d.grid[1] - d.grid[0]) - 1.0).abs() < 1e-12);
}

#[test]
fn all_code_paths_agree_on_one_answer() {
    let eigs = outlier_spectrum();
    let (a, _) = known_spectrum(&eigs, 15);
    let k = 3;
    let mut op = DenseOp::new(a.clone()).unwrap();
    let dense = dense_hessian(&mut op).unwrap();
    assert_eq!(dense.hvps, 50);
    assert!(dense.asymmetry < 1e-14 && (&dense.matrix - &a).amax() < 1e-12);
    let eig = dense_eigen(&dense.matrix);
    let lz = lanczos_top_k(
        &mut op,
        &LanczosConfig {
            k,
            tol: 1e-12,
            ..Default::default()
        },
    )
    .unwrap();
    let pw = power_iteration(
        &mut op,
        &PowerConfig {
            top_n: k,
            max_iter: 1000,
            tol: 1e-9,
            ..Default::default()
        },
    )
    .unwrap();
    let op1 = one_pass(
        &mut op,
        &OnePassConfig {
            slq: SlqConfig {
                iter: 50,
                n_v: 3,
                ..Default::default()
            },
            k,
            tol: 1e-10,
            verify: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(op1.eigen.all_converged());
    for i in 0..k {
        let truth = eigs[i];
        assert!((eig.values[i] - truth).abs() < 1e-10 * truth);
        assert!((lz.values[i] - truth).abs() < 1e-10 * truth);
        // tol 1e-9 on the relative change -> error <= ~4.3e-9 relative (see power test).
        assert!((pw.values[i] - truth).abs() < 1e-7 * truth);
        assert!((op1.eigen.values[i] - truth).abs() < 1e-10 * truth);
        let v = eig.vectors.column(i).iter().cloned().collect::<Vec<_>>();
        for other in [&lz.vectors[i], &op1.eigen.vectors[i]] {
            assert!(abs_cos(other, &v) > 0.999999);
        }
    }
    // One-pass trace: 50 steps span the whole 50-dimensional space, so tr(T) is the trace (f64 rounding).
    let truth: f64 = eigs.iter().sum();
    assert!((op1.trace.estimate - truth).abs() < 1e-9 * truth.abs());
    assert_eq!(op1.trace.hvps, 3 * 50 + 3);
}

/// Outliers at both ends (issue 18): the top five of [`outlier_spectrum`], three negative ones of which the
/// most negative is larger in magnitude than every top eigenvalue but the first, and a bulk in [-10, 50].
fn two_sided_spectrum() -> Vec<f64> {
    let mut e = vec![100.0, 90.0, 81.0, 72.9, 65.61];
    e.extend((0..42).map(|i| -10.0 + 60.0 * i as f64 / 41.0));
    e.extend([-50.0, -60.0, -95.0]);
    e
}

#[test]
fn lanczos_both_ends_come_from_one_krylov_space() {
    let eigs = two_sided_spectrum();
    let mut sorted = eigs.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (a, q) = known_spectrum(&eigs, 4);
    let k = 3;
    let cfg = LanczosConfig { k, max_iter: 50, tol: 1e-10, seed: 3, verify: true };
    let run = |which| lanczos_extremes(&mut DenseOp::new(a.clone()).unwrap(), &cfg, which).unwrap();
    let largest = run(Which::Largest);
    let smallest = run(Which::Smallest);
    let both = run(Which::Both);
    let magnitude = run(Which::Magnitude);
    let ends = |r: &[(End, EigenResult<Vec<f64>>)]| r.iter().map(|(e, _)| *e).collect::<Vec<_>>();
    assert_eq!(ends(&largest), [End::Top]);
    assert_eq!(ends(&smallest), [End::Bottom]);
    assert_eq!(ends(&both), [End::Top, End::Bottom]);
    assert_eq!(ends(&magnitude), [End::Magnitude]);

    // `Largest` is today's `lanczos_top_k`, bit for bit and product for product.
    let top_k = lanczos_top_k(&mut DenseOp::new(a.clone()).unwrap(), &cfg).unwrap();
    assert_eq!(largest[0].1.values, top_k.values);
    assert_eq!((largest[0].1.hvps, largest[0].1.iterations), (top_k.hvps, top_k.iterations));

    let close = |got: &[f64], want: &[f64]| {
        got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-8 * w.abs())
    };
    let (top, bottom) = (&both[0].1, &both[1].1);
    assert!(close(&top.values, &sorted[..k]), "top {:?}", top.values);
    assert!(close(&bottom.values, &[-95.0, -60.0, -50.0]), "bottom {:?} (rank 0 = most negative)", bottom.values);
    assert!(close(&smallest[0].1.values, &[-95.0, -60.0, -50.0]), "{:?}", smallest[0].1.values);
    assert!(close(&magnitude[0].1.values, &[100.0, -95.0, 90.0]), "largest |lambda|: {:?}", magnitude[0].1.values);
    for (_, r) in both.iter().chain(&smallest).chain(&magnitude) {
        assert!(r.all_converged(), "{:?}", r.residuals);
        assert_eq!(r.residual_kind, ResidualKind::Explicit);
    }
    // The bottom vectors are the eigenvectors of -95, -60, -50 (the last three columns of Q).
    for (i, col) in [49, 48, 47].into_iter().enumerate() {
        assert!(abs_cos(&bottom.vectors[i], &column(&q, col)) > 0.999999, "bottom vector {i}");
    }

    // Products: one run of as many steps as the slower end needs alone, plus k verification products per end.
    let (l, s) = (&largest[0].1, &smallest[0].1);
    assert_eq!(top.iterations, l.iterations.max(s.iterations));
    assert_eq!((top.hvps, bottom.hvps), (top.iterations as u64 + 2 * k as u64, top.hvps));
    assert_eq!(l.hvps, l.iterations as u64 + k as u64);
    assert!(top.hvps < l.hvps + s.hvps, "both {} vs largest {} + smallest {}", top.hvps, l.hvps, s.hvps);
    eprintln!(
        "known spectrum, k = {k}: products largest {}, smallest {}, both {}, magnitude {}",
        l.hvps, s.hvps, top.hvps, magnitude[0].1.hvps
    );
}

/// The one-pass's first run goes on past `iter` until its top-k converge (`max_iter`): on a flat spectrum
/// (300 evenly spaced eigenvalues in (0, 1], top gaps 1/300 of the scale) 20 steps leave the top 5
/// unconverged, which is the premise checked first; with `max_iter` the run stops as soon as the Lanczos
/// estimates meet the test, the explicit residuals agree, and the eigenvalues are within the tolerance of
/// the truth. The other runs keep `iter` steps.
#[test]
fn one_pass_first_run_goes_on_until_its_eigenpairs_converge() {
    let eigs: Vec<f64> = (0..300).map(|i| 1.0 - i as f64 / 300.0).collect();
    let (a, _) = known_spectrum(&eigs, 17);
    let cfg = |max_iter| OnePassConfig {
        slq: SlqConfig { iter: 20, n_v: 2, seed: 4, ..Default::default() },
        k: 5,
        tol: 1e-3,
        verify: true,
        trace_probes: 3,
        max_iter,
        ..Default::default()
    };
    let mut op = DenseOp::new(a.clone()).unwrap();
    let fixed = one_pass(&mut op, &cfg(0)).unwrap();
    assert_eq!(fixed.runs.iterations, 20);
    assert!(!fixed.eigen.all_converged(), "premise: 20 steps do not converge here ({:?})", fixed.eigen.residuals);

    let mut op = DenseOp::new(a).unwrap();
    let longer = one_pass(&mut op, &cfg(200)).unwrap();
    let steps = longer.runs.iterations;
    eprintln!("first run: {steps} steps; residuals {:?}", longer.eigen.residuals);
    assert!(steps > 20 && steps < 200, "{steps} steps");
    assert!(longer.eigen.all_converged(), "explicit residuals {:?}", longer.eigen.residuals);
    for (i, v) in longer.eigen.values.iter().enumerate() {
        assert!((v - eigs[i]).abs() <= 1e-3 * eigs[i], "eigenvalue {i}: {v} against {}", eigs[i]);
    }
    assert_eq!(longer.runs.runs[0].nodes.len(), steps);
    assert_eq!(longer.runs.runs[1].nodes.len(), 20, "only the first run goes on");
    assert!((longer.runs.runs[0].weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Products: the first run's steps, the second run's 20, 3 trace probes, 5 explicit residuals.
    assert_eq!(op.hvps(), (steps + 20 + 3 + 5) as u64);
}
