//! `hx-landscape`: loss surfaces around a checkpoint of a training run.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use hessx_pipeline::backend::BackendKind;
use hessx_pipeline::with_backend;
use hx_landscape::curvature::CurvatureConfig;
use hx_landscape::directions::{DirType, Norm};
use hx_landscape::eval::{LossKind, Split};
use hx_landscape::grid::{Axis, Grid, Shard};
use hx_landscape::plots::PlotOptions;
use hx_landscape::run::{Axes, Request};

/// Loss and accuracy on a 1D or 2D grid around a checkpoint (Li et al. 2018).
///
/// The model at `w + x dx + y dy` is evaluated (batch norm in eval mode) at
/// every grid point, along seeded random directions (filter-normalised by
/// default), the top-2 Hessian eigenvectors hx-eigen saved (--axes eigen),
/// the first two principal directions of the run's checkpoints with the
/// trajectory drawn over the contours (--axes pca), or the line from
/// --model-file (x = 0) to --model-file2 (x = 1). Tables, directions,
/// settings and figures go to RUN/landscape/<name>/; a killed run resumes,
/// and --shard i/n splits the grid across processes (then --merge).
#[derive(Parser, Debug)]
#[command(
    version,
    args_override_self = true,
    after_help = "Examples:\n  hx-landscape --run runs/r --x=-1:1:51 --y=-1:1:51 --xignore biasbn --yignore biasbn\n  \
                  hx-landscape --run runs/r --axes eigen --x=-0.5:0.5:21 --y=-0.5:0.5:21\n  \
                  hx-landscape --run runs/r --model-file a.mpk --model-file2 b.mpk --x=-0.5:1.5:401 --dir-type states\n  \
                  hx-landscape --run runs/r --x=-1:1:51 --y=-1:1:51 --shard 0/4   (... 3/4, then the same with --merge)\n\
                  Flags can also come from a profile: --profile pipelines/offline.toml (section [landscape])."
)]
struct Cli {
    /// Training run (hx-train's output): data settings, checkpoints, eigenvectors; outputs go to RUN/landscape/.
    #[arg(long)]
    run: PathBuf,
    /// Directory holding the datasets written by hx-fetch.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Name of the surface (its folder); default: its kind, step and settings fingerprint.
    #[arg(long)]
    name: Option<String>,
    /// The model at the origin (a hessx checkpoint); default: the run's checkpoint at --step.
    #[arg(long)]
    model_file: Option<PathBuf>,
    /// A second model: interpolate from --model-file (x = 0) to it (x = 1).
    #[arg(long)]
    model_file2: Option<PathBuf>,
    /// Step of the origin checkpoint in the run (default: the last).
    #[arg(long)]
    step: Option<i64>,
    /// Directions: random, the top Hessian eigenvectors (eigen), or the PCA of the run's checkpoints (pca).
    #[arg(long, value_enum, default_value_t = AxesKind::Random)]
    axes: AxesKind,
    /// weights: parameters only; states: batch-norm running statistics too (as the seed's --dir_type).
    #[arg(long, value_enum, default_value_t = DirType::Weights)]
    dir_type: DirType,
    /// x axis as min:max:num, e.g. --x=-1:1:51 (required unless --merge).
    #[arg(long, allow_hyphen_values = true)]
    x: Option<String>,
    /// y axis as min:max:num for a 2D surface.
    #[arg(long, allow_hyphen_values = true)]
    y: Option<String>,
    /// Normalisation of x (default: filter for random directions, none for eigenvectors).
    #[arg(long, value_enum)]
    xnorm: Option<Norm>,
    /// Normalisation of y (default as --xnorm).
    #[arg(long, value_enum)]
    ynorm: Option<Norm>,
    /// `biasbn`: zero the x direction on biases and batch-norm parameters.
    #[arg(long, value_enum)]
    xignore: Option<Ignore>,
    /// `biasbn`: zero the y direction on biases and batch-norm parameters.
    #[arg(long, value_enum)]
    yignore: Option<Ignore>,
    /// --axes eigen: the settings fingerprint of the eigenvectors to use (the `settings_id` hx-eigen
    /// printed; needed only when the step has eigenvectors of several settings).
    #[arg(long)]
    eigen_settings: Option<String>,
    /// Use the x direction as y too.
    #[arg(long)]
    same_dir: bool,
    /// Seed of the random directions (x; y uses seed + 1).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Splits evaluated at every point (comma separated): train (the run's training split) and/or test
    /// (its held-out split, as hx-train evaluates it).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Split::Train])]
    split: Vec<Split>,
    /// Examples per split: a seeded subset of this size; 0 for the whole split.
    #[arg(long, default_value_t = 0)]
    examples: usize,
    /// Seed of the example subset.
    #[arg(long, default_value_t = 1)]
    data_seed: u64,
    /// Examples per forward pass.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Loss: crossentropy or mse (softmax against one-hot labels).
    #[arg(long, value_enum, default_value_t = LossKind::Crossentropy)]
    loss_name: LossKind,
    /// Compute only the points i mod n of the grid (0 <= i < n), into a shard table.
    #[arg(long)]
    shard: Option<String>,
    /// Merge the shard tables of surface --name (computed with --shard) and draw it.
    #[arg(long)]
    merge: bool,
    /// Save the rows computed so far at least this often (seconds).
    #[arg(long, default_value_t = 10.0)]
    save_every: f64,
    /// Stop after this many new points (resume later with the same command).
    #[arg(long)]
    max_points: Option<usize>,
    /// Don't draw figures or write the VTK file.
    #[arg(long)]
    no_plot: bool,
    /// Lowest contour level (default: the surface's minimum).
    #[arg(long, allow_hyphen_values = true)]
    vmin: Option<f64>,
    /// Highest contour level (default: the surface's maximum).
    #[arg(long, allow_hyphen_values = true)]
    vmax: Option<f64>,
    /// Spacing of contour levels (default: 15 levels between vmin and vmax).
    #[arg(long)]
    vlevel: Option<f64>,
    /// VTK export: clip the loss at this value.
    #[arg(long)]
    zmax: Option<f64>,
    /// VTK export: log of the loss as height.
    #[arg(long)]
    log: bool,
    /// Also map the largest and smallest Hessian eigenvalue at every point (Lanczos; costly: about
    /// 2 x --curvature-iter Hessian-vector products per point).
    #[arg(long)]
    curvature: bool,
    /// Training examples the curvature's Hessian is taken over (seeded subset).
    #[arg(long, default_value_t = 200)]
    curvature_examples: usize,
    /// Lanczos steps per eigenvalue at most.
    #[arg(long, default_value_t = 20)]
    curvature_iter: usize,
    /// Lanczos tolerance: residual <= tol * |lambda|.
    #[arg(long, default_value_t = 1e-3)]
    curvature_tol: f64,
    /// Compute backend.
    #[arg(long, alias = "device", default_value = "flex", value_parser = hessx_flags::backend())]
    backend: BackendKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AxesKind {
    Random,
    Eigen,
    Pca,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Ignore {
    Biasbn,
}

fn main() -> std::process::ExitCode {
    hessx_pipeline::distributed::stage_main("hx-landscape", run)
}

fn run() -> Result<()> {
    let cli = Cli::parse_from(hessx_profile::args_with_profile("landscape")?);
    let plots = PlotOptions { vmin: cli.vmin, vmax: cli.vmax, vlevel: cli.vlevel, zmax: cli.zmax, log: cli.log };
    if cli.merge && !hessx_pipeline::distributed::is_writer() {
        return Ok(());
    }
    if cli.merge {
        let name = cli.name.as_deref().context("--merge: name the surface whose shards to merge with --name")?;
        let report = hx_landscape::run::merge(&cli.run, name, (!cli.no_plot).then_some(&plots))?;
        println!("{report}");
        return Ok(());
    }
    let request = resolve(&cli)?;
    let report = with_backend!(cli.backend, B, device => {
        hx_landscape::run::surface_stage::<B>(&request, (!cli.no_plot).then_some(&plots), &device).map_err(anyhow::Error::from)
    })?;
    println!("{report}");
    Ok(())
}

/// Flags into a plain request.
fn resolve(cli: &Cli) -> Result<Request> {
    let x = Axis::parse("--x", cli.x.as_deref().context("--x is required: the x axis as min:max:num, e.g. --x=-1:1:51")?)?;
    let y = cli.y.as_deref().map(|y| Axis::parse("--y", y)).transpose()?;
    let shard = match &cli.shard {
        Some(s) => s.parse::<Shard>()?,
        None => Shard::WHOLE,
    };
    let ignore = |i: Option<Ignore>| i == Some(Ignore::Biasbn);
    let axes = match (&cli.model_file2, cli.axes) {
        (Some(target), AxesKind::Random) => Axes::Interpolate { target: target.clone() },
        (Some(_), other) => anyhow::bail!("--model-file2 interpolates between two models; it cannot be combined with --axes {other:?}"),
        (None, AxesKind::Random) => {
            let xnorm = cli.xnorm.unwrap_or(Norm::Filter);
            Axes::Random {
                seed: cli.seed,
                xnorm,
                ynorm: cli.ynorm.unwrap_or(xnorm),
                xignore_biasbn: ignore(cli.xignore),
                yignore_biasbn: ignore(cli.yignore),
                same_dir: cli.same_dir,
            }
        }
        (None, AxesKind::Eigen) => {
            let xnorm = cli.xnorm.unwrap_or(Norm::None);
            Axes::Eigen {
                xnorm,
                ynorm: cli.ynorm.unwrap_or(xnorm),
                xignore_biasbn: ignore(cli.xignore),
                yignore_biasbn: ignore(cli.yignore),
                eigen_settings: cli.eigen_settings.clone(),
            }
        }
        (None, AxesKind::Pca) => Axes::Pca { ignore_biasbn: ignore(cli.xignore) },
    };
    anyhow::ensure!(cli.batch_size > 0, "--batch-size must be at least 1");
    anyhow::ensure!(!cli.curvature || (cli.curvature_examples > 0 && cli.curvature_iter > 0), "--curvature-examples and --curvature-iter must be at least 1");
    anyhow::ensure!(cli.save_every >= 0.0 && cli.save_every.is_finite(), "--save-every must be a number of seconds >= 0");
    let mut splits = cli.split.clone();
    splits.sort();
    splits.dedup();
    Ok(Request {
        run: cli.run.clone(),
        data_dir: cli.data_dir.clone(),
        name: cli.name.clone(),
        model_file: cli.model_file.clone(),
        step: cli.step,
        axes,
        dir_type: cli.dir_type,
        grid: Grid { x, y },
        splits,
        examples: cli.examples,
        data_seed: cli.data_seed,
        batch_size: cli.batch_size,
        loss: cli.loss_name,
        shard,
        save_every: Duration::from_secs_f64(cli.save_every),
        max_points: cli.max_points,
        backend: cli.backend.name().into(),
        curvature: cli.curvature.then_some(CurvatureConfig {
            examples: cli.curvature_examples,
            max_iter: cli.curvature_iter,
            tol: cli.curvature_tol,
            seed: cli.seed,
        }),
    })
}
