//! `hx-spectrum`: Hessian trace and eigenvalue spectral density at every
//! checkpoint of a training run.

use anyhow::Result;
use clap::Parser;
use hessx_flags::{HessianFlags, at_least, count, non_negative, positive};
use hessx_pipeline::settings::{OnePassSettings, SpectrumSettings};
use hessx_pipeline::spectrum::run_spectrum;
use hessx_pipeline::with_backend;
use hessx_store::{DensityRule, DensityWeights, TraceMethod};

/// Estimate the Hessian trace and eigenvalue spectral density (ESD) at each checkpoint.
///
/// The density comes from stochastic Lanczos quadrature (Ghorbani et al.
/// 2019, PyHessian's density()): --n-v runs of --iter Lanczos steps, each
/// giving Gauss quadrature nodes and weights (saved in lanczos_nodes.parquet,
/// so densities can be redrawn without new products), smoothed with a
/// Gaussian kernel on PyHessian's grid. By default the density is drawn from
/// each run's Gauss-Radau rule with a node fixed at 0 (--density-rule
/// radau-zero): it uses the run's last coefficient, which the Gauss rule
/// ignores, to put the near-zero mass of a network's Hessian at 0 (on the
/// trained ResNet20 of bench/ it is as close to the spectrum as a Gauss rule
/// of 1.5x the steps); gauss is PyHessian's rule. (The Radau rule follows from the saved Gauss rule: its
/// nodes and weights determine T, and beta^2 is the sum of the squared
/// residuals.) By default every eigenvalue a run has
/// resolved (the outliers, found to a residual of 1e-6 of the spectrum's
/// scale within a few dozen steps) gets its exact mass 1/n instead of the
/// probe's random weight (--density-weights deflated); plain keeps the probe's
/// weights, as PyHessian. The trace comes for free from the same
/// runs (slq), or from Hutchinson's or Hutch++'s estimator with their own
/// products. --one-pass also reports the top eigenpairs from the same runs and
/// a trace with an error bar (the Krylov space's trace plus --trace-probes
/// Hutchinson probes on its complement).
/// Rows carry the fingerprint of their settings (settings_id); new settings
/// add rows beside the old ones.
#[derive(Parser, Debug)]
#[command(version, args_override_self = true, after_help = "Flags can also come from a profile: --profile pipelines/offline.toml (section [spectrum]).")]
struct Cli {
    #[command(flatten)]
    hessian: HessianFlags,
    /// Lanczos steps per quadrature run (PyHessian's iter, whose default is 100). 20 by measurement:
    /// with the default rule and weights, 20 steps draw the density at least as close to the spectrum
    /// as PyHessian's density() at 100 (1-Wasserstein distance, one probe each, mean over seeds) on a
    /// trained ResNet20 (bench/versus/results.md: 2.5e-3 against 2.2e-3, not detectably worse), vision
    /// and sequence Transformers and Wide&Deep (exact spectra, tests/density_families.rs: 2-3x
    /// closer), in a fifth of the products. More steps resolve more of the spectrum (100: 1.4e-3 on
    /// the ResNet20); the trace of --trace slq does not depend on them.
    #[arg(long, default_value_t = 20, value_parser = count)]
    iter: usize,
    /// Number of random probes / quadrature runs (PyHessian's n_v).
    #[arg(long = "n-v", default_value_t = 1, value_parser = count)]
    n_v: usize,
    /// Grid points of the density (PyHessian: 10000).
    #[arg(long, default_value_t = 10_000, value_parser = at_least(2))]
    num_bins: usize,
    /// Kernel variance per unit of spectrum width (PyHessian's sigma_squared).
    #[arg(long, default_value_t = 1e-5, value_parser = positive)]
    sigma_squared: f64,
    /// Density weights: deflated (resolved eigenvalues get their exact mass 1/n; a closer density from
    /// the same products, unless the outlying eigenvalues are repeated) or plain (the probes' Gauss
    /// weights, PyHessian's density()).
    #[arg(long, default_value = "deflated", value_parser = hessx_flags::names::<DensityWeights>(DensityWeights::NAMES))]
    density_weights: DensityWeights,
    /// Quadrature rule of the density: radau-zero (the Gauss-Radau rule with a node fixed at 0, from the
    /// same products; closer where most eigenvalues sit near 0, as in a network's Hessian) or gauss (the
    /// Lanczos run's Gauss rule, PyHessian's density()). A loss whose eigenvalues pile up away from 0
    /// (an L2 term shifts them all) should use gauss.
    #[arg(long, default_value = "radau-zero", value_parser = hessx_flags::names::<DensityRule>(DensityRule::NAMES))]
    density_rule: DensityRule,
    /// Trace estimators to run (repeatable): slq (free), hutchinson, hutchpp, or none.
    #[arg(long, default_values_t = ["slq".to_string()], value_parser = ["slq", "hutchinson", "hutchpp", "none"])]
    trace: Vec<String>,
    /// Product budget of hutchinson (maximum probes) and of hutchpp.
    #[arg(long, default_value_t = 100, value_parser = count)]
    trace_hvps: usize,
    /// Hutchinson stops when its standard error <= tol * |estimate|.
    #[arg(long, default_value_t = 1e-3, value_parser = non_negative)]
    trace_tol: f64,
    /// Also write the top eigenpairs of the first quadrature run (method "one-pass") and its
    /// Krylov-deflated trace with a standard error (trace method "one-pass").
    #[arg(long)]
    one_pass: bool,
    /// Eigenpairs reported by --one-pass.
    #[arg(long = "top-k", alias = "r", default_value_t = 5, value_parser = count)]
    top_k: usize,
    /// Probes (one product each) of --one-pass's trace on the complement of the Krylov space; at least
    /// 2. Its 95 % interval (trace.parquet's half_width_95) takes Student's t, so fewer probes give a
    /// wider interval, not a falsely narrow one.
    #[arg(long, default_value_t = hessx_pipeline::settings::ONE_PASS_TRACE_PROBES, value_parser = count)]
    trace_probes: usize,
    /// With --one-pass, the first run goes on past --iter until its --top-k eigenpairs reach residual
    /// <= 1e-3 x |eigenvalue| (by the Lanczos estimate), up to this many steps in all; its density and
    /// trace then come from the longer run. 20 steps resolve a trained network's top eigenpairs (the
    /// ResNet20 of bench/: relative error 4e-6) but not those of a flat spectrum, such as a model's at
    /// initialisation. Set it to --iter to stop there.
    #[arg(long, default_value_t = 100, value_parser = count)]
    one_pass_max_iter: usize,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::distributed::stage_main("hx-spectrum", run)
}

fn run() -> Result<()> {
    let cli = Cli::parse_from(hessx_profile::args_with_profile("spectrum")?);
    let mut trace: Vec<TraceMethod> = Vec::new();
    for name in cli.trace.iter().filter(|t| *t != "none") {
        let method: TraceMethod = name.parse().map_err(anyhow::Error::msg)?;
        if !trace.contains(&method) {
            trace.push(method);
        }
    }
    let ctx = cli.hessian.open()?;
    let settings = SpectrumSettings {
        hessian: cli.hessian.resolve(&ctx),
        iter: cli.iter,
        n_v: cli.n_v,
        num_bins: cli.num_bins,
        sigma_squared: cli.sigma_squared,
        density_weights: cli.density_weights,
        density_rule: cli.density_rule,
        trace,
        trace_hvps: cli.trace_hvps,
        trace_tol: cli.trace_tol,
        one_pass: cli.one_pass.then_some(OnePassSettings {
            top_k: cli.top_k,
            tol: 1e-3,
            trace_probes: cli.trace_probes,
            max_iter: Some(cli.one_pass_max_iter.max(cli.iter)),
        }),
    };
    let blocks = cli.hessian.resolve_blocks(&ctx)?;
    let all = std::iter::once(settings.clone()).chain(blocks.into_iter().map(|hessian| SpectrumSettings { hessian, ..settings.clone() }));
    for settings in all {
        with_backend!(settings.hessian.backend, B, device => run_spectrum::<B>(&ctx, &settings, cli.hessian.redo(), &device))?;
    }
    Ok(())
}
