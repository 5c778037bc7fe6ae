//! End-to-end tests: write a synthetic run directory whose answers are known
//! in closed form, run the `hx-analyze` binary on it, check every output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Int64Array, LargeListArray, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use hessx_store::column::{read_parquet, write_parquet};

use hessx_store::tables::{
    CheckpointRow, DensityRow, EigenvalueRow, EigenvectorRow, TraceRow, TrainLogRow, read_rows,
    write_rows,
};
use hessx_store::{EigenMethod, ResidualKind, RunDir, RunIdentity, TraceMethod};
use hx_analyze::tables::{
    CosineRow, DensityGridRow, FigureSeriesRow, OverlapDistanceRow, OverlapRow, PcaProjectionRow, PcaVarianceRow,
    TrackedRow,
};

const DIM: usize = 500;
const STEPS: [i64; 4] = [0, 50, 100, 150];
/// Rotation angle per checkpoint: direction a of checkpoint k is
/// cos(kθ) e_a + sin(kθ) e_{3+a}, so the top-3 subspaces of checkpoints i
/// and j have all three principal angles equal to |i - j| θ.
const THETA: f64 = 0.1;
const FIGURES: [&str; 13] = [
    "pca_variance",
    "pca_cumulative_variance",
    "pca_projection",
    "cosine_similarity",
    "subspace_overlap",
    "overlap_vs_distance",
    "eigenvalues",
    "eigenvalues_tracked",
    "trace",
    "loss",
    "accuracy",
    "density",
    "density_heatmap",
];

/// Eigenvalue of direction `a` at checkpoint `k`: directions 0 and 1 cross
/// between checkpoints 1 and 2, so ranks 0 and 1 swap from checkpoint 2 on.
fn eigenvalue(a: usize, k: usize) -> f64 {
    match a {
        0 => 10.0 - 1.5 * k as f64,
        1 => 8.0 + 0.2 * k as f64,
        _ => 3.0,
    }
}

/// Direction 2 is stored with its sign flipped at checkpoint 2 only.
fn sign(a: usize, k: usize) -> f32 {
    if a == 2 && k == 2 { -1.0 } else { 1.0 }
}

fn identity() -> RunIdentity {
    RunIdentity::new("synthetic", "mlp", "digits", "gaussian_noise", 5)
}

/// Settings fingerprints of the synthetic tables.
const LANCZOS_ID: &str = "aaaaaaaaaaaa";
const POWER_ID: &str = "bbbbbbbbbbbb";
const SPECTRUM_ID: &str = "cccccccccccc";

fn write_eigen(run: &RunDir) {
    write_eigen_with(run, LANCZOS_ID, EigenMethod::Lanczos, DIM, THETA, &mut Vec::new());
}

/// Eigenpairs of one settings fingerprint over `dim` parameters, rotating by
/// `theta` per checkpoint; their values are appended to `values` and written.
fn write_eigen_with(run: &RunDir, sid: &str, method: EigenMethod, dim: usize, theta: f64, values: &mut Vec<EigenvalueRow>) {
    let id = identity();
    for (k, &step) in STEPS.iter().enumerate() {
        let t = k as f64 * theta;
        let mut dirs: Vec<usize> = (0..3).collect();
        dirs.sort_by(|&a, &b| eigenvalue(b, k).total_cmp(&eigenvalue(a, k)));
        let rows: Vec<EigenvectorRow> = dirs
            .iter()
            .enumerate()
            .map(|(rank, &a)| {
                let mut v = vec![0.0f32; dim];
                v[a] = sign(a, k) * t.cos() as f32;
                v[3 + a] = sign(a, k) * t.sin() as f32;
                EigenvectorRow {
                    settings_id: sid.into(),
                    step,
                    rank: rank as u32,
                    eigenvalue: eigenvalue(a, k),
                    vector: v,
                }
            })
            .collect();
        for r in &rows {
            values.push(EigenvalueRow {
                settings_id: sid.into(),
                step,
                rank: r.rank,
                eigenvalue: r.eigenvalue,
                residual: 1e-4,
                residual_kind: ResidualKind::Explicit,
                converged: true,
                iterations: 30,
                hvps: 60,
                method,
                seconds: 1.0,
                num_params: dim as i64,
                spectrum_end: hessx_store::SpectrumEnd::Top,
            });
        }
        write_rows(&run.eigenvectors(sid, step), &id, &rows).unwrap();
    }
    write_rows(&run.eigenvalues(), &id, values).unwrap();
}

fn write_spectrum(run: &RunDir) {
    let id = identity();
    let mut trace = Vec::new();
    for (k, &step) in STEPS.iter().enumerate() {
        for (method, est, se) in [
            (TraceMethod::Hutchinson, 40.0 - k as f64, 2.0),
            (TraceMethod::Slq, 39.0 - k as f64, 1.0),
        ] {
            trace.push(TraceRow {
                settings_id: SPECTRUM_ID.into(),
                step,
                method,
                estimate: est,
                std_error: se,
                probes: 20,
                converged: true,
                hvps: 20,
                seconds: 0.5,
                // Student's t for 19 degrees of freedom.
                half_width_95: 2.093 * se,
            });
        }
    }
    write_rows(&run.trace(), &id, &trace).unwrap();
    let mut density = Vec::new();
    for (k, &step) in STEPS.iter().enumerate() {
        for i in 0..200 {
            let l = -1.0 + 13.0 * i as f64 / 199.0;
            let g = |m: f64, w: f64| (-(l - m) * (l - m) / (2.0 * 0.1 * 0.1)).exp() * w;
            density.push(DensityRow {
                settings_id: SPECTRUM_ID.into(),
                step,
                lambda: l,
                density: g(0.0, 3.0) + g(10.0 - 1.5 * k as f64, 0.01),
                sigma: 0.1,
            });
        }
    }
    write_rows(&run.density(), &id, &density).unwrap();
}

fn write_training(run: &RunDir) {
    let id = identity();
    let cps: Vec<CheckpointRow> = STEPS
        .iter()
        .map(|&step| CheckpointRow {
            step,
            epoch: step / 100,
            batch: step % 100,
            lr: 0.01,
            train_loss: if step == 0 {
                f64::NAN
            } else {
                1.0 / (1.0 + step as f64 / 50.0)
            },
            train_accuracy: if step == 0 {
                f64::NAN
            } else {
                0.6 + step as f64 / 1000.0
            },
            heldout_loss: 1.2 / (1.0 + step as f64 / 60.0),
            heldout_accuracy: 0.55 + step as f64 / 1200.0,
            file: format!("checkpoints/step-{step:08}.mpk"),
            sha256: "0".repeat(64),
            heldout_auc: f64::NAN,
        })
        .collect();
    write_rows(&run.checkpoints(), &id, &cps).unwrap();
    let log: Vec<TrainLogRow> = (1..=150)
        .map(|s| TrainLogRow {
            step: s,
            epoch: s / 100,
            batch: s % 100,
            lr: 0.01,
            loss: 1.0 / (1.0 + s as f64 / 50.0) + 0.05 * ((s * 7 % 11) as f64 / 11.0 - 0.5),
            accuracy: 0.6 + s as f64 / 1000.0,
            seconds: 0.1,
            sharpness: f64::NAN,
            sharpness_residual: f64::NAN,
            sharpness_hvps: 0,
            sharpness_seconds: 0.0,
        })
        .collect();
    write_rows(&run.train_log(), &id, &log).unwrap();
    std::fs::create_dir_all(run.root().join("config")).unwrap();
    std::fs::write(run.stage_config("train"), "lr = 0.01\nbatch_size = 128\n").unwrap();
}

fn hx_analyze(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hx-analyze"))
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "hx-analyze failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn full_run_writes_every_figure_table_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("synthetic"));
    write_eigen(&run);
    write_spectrum(&run);
    write_training(&run);
    let out = hx_analyze(&[], run.root());
    assert_ok(&out);

    // Every figure as a real PNG and a complete SVG.
    let unique: std::collections::BTreeSet<&str> = FIGURES.iter().copied().collect();
    assert_eq!(unique.len(), 13);
    for stem in &unique {
        let png = std::fs::read(run.plots_dir().join(format!("{stem}.png")))
            .unwrap_or_else(|e| panic!("{stem}.png: {e}"));
        assert!(
            png.len() > 2000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{stem}.png is not a PNG"
        );
        let svg = std::fs::read_to_string(run.plots_dir().join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>") && svg.len() > 1000,
            "{stem}.svg"
        );
    }

    // The report inlines every figure and shows the saved config.
    let html = std::fs::read_to_string(run.report()).unwrap();
    for stem in &unique {
        assert!(
            html.contains(&format!("<figure id=\"{stem}\">")),
            "report lacks {stem}"
        );
    }
    assert_eq!(html.matches("data:image/png;base64,").count(), 13);
    assert!(html.contains("lr = 0.01") && html.contains("config/train.toml"));
    assert!(html.contains("PCA components for 90 %"));
    assert!(html.contains("sign-invariant"), "the report states the PCA choice");
    // Every trace with its error bar and probes, every eigenvalue with its residual.
    assert!(html.contains("<h2 id=\"trace-estimates\">") && html.contains("<h2 id=\"eigenpairs\">"));
    assert!(html.contains("<td>0</td><td>hutchinson</td><td>40</td><td>2</td><td>20</td><td>20</td>"));
    assert_eq!(html.matches("<td>hutchinson</td>").count() + html.matches("<td>slq</td>").count(), 8);
    assert!(html.contains("<td>150</td><td>lanczos</td><td>top</td><td>2</td><td>3</td><td>1e-4</td>"));
    assert_eq!(html.matches("<td>lanczos</td>").count(), 12);

    // PCA: 12 vectors of dimension 500 give 12 components whose ratios sum to 1.
    let pca: Vec<PcaVarianceRow> =
        read_rows(&run.analysis_dir().join("pca_variance.parquet")).unwrap();
    assert_eq!(pca.len(), 12);
    assert!(pca.iter().all(|r| !r.centered), "uncentred (sign-invariant) by default");
    let sum: f64 = pca.iter().map(|r| r.explained_variance_ratio).sum();
    assert!((sum - 1.0).abs() < 1e-9, "ratios sum to {sum}");
    // Uncentred: the second moment of 12 unit vectors has trace 1.
    assert!((pca.iter().map(|r| r.explained_variance).sum::<f64>() - 1.0).abs() < 1e-6);
    // All vectors lie in span(e0..e5), so at most 6 directions carry variance.
    assert!(pca[6..].iter().all(|r| r.explained_variance_ratio < 1e-9));
    let proj: Vec<PcaProjectionRow> =
        read_rows(&run.analysis_dir().join("pca_projection.parquet")).unwrap();
    assert_eq!(proj.len(), 12);

    // Subspace overlap is cos²(|i-j| θ) for every pair of checkpoints. The
    // vectors are stored as f32 (relative error ~6e-8), hence 1e-6.
    let overlap: Vec<OverlapRow> =
        read_rows(&run.analysis_dir().join("subspace_overlap.parquet")).unwrap();
    assert_eq!(overlap.len(), 16);
    for r in &overlap {
        let i = STEPS.iter().position(|&s| s == r.step_a).unwrap();
        let j = STEPS.iter().position(|&s| s == r.step_b).unwrap();
        let expected = ((i as f64 - j as f64) * THETA).cos().powi(2);
        assert!(
            (r.overlap - expected).abs() < 1e-6,
            "{} vs {}: {} expected {expected}",
            r.step_a,
            r.step_b,
            r.overlap
        );
        assert_eq!((r.r_a, r.r_b), (3, 3));
    }
    let curve: Vec<OverlapDistanceRow> =
        read_rows(&run.analysis_dir().join("overlap_vs_distance.parquet")).unwrap();
    assert_eq!(
        curve.iter().map(|r| r.step_distance).collect::<Vec<_>>(),
        vec![50, 100, 150]
    );
    for (k, r) in curve.iter().enumerate() {
        assert!((r.mean_overlap - ((k + 1) as f64 * THETA).cos().powi(2)).abs() < 1e-6);
        assert_eq!(r.pairs, 3 - k as i64);
    }

    // Cosines: 12 x 12, unit diagonal, symmetric.
    let cos: Vec<CosineRow> =
        read_rows(&run.analysis_dir().join("cosine_similarity.parquet")).unwrap();
    assert_eq!(cos.len(), 144);
    for r in &cos {
        if (r.step_a, r.rank_a) == (r.step_b, r.rank_b) {
            assert!((r.abs_cosine - 1.0).abs() < 1e-6);
        }
        let mirror = cos
            .iter()
            .find(|m| {
                (m.step_a, m.rank_a, m.step_b, m.rank_b) == (r.step_b, r.rank_b, r.step_a, r.rank_a)
            })
            .unwrap();
        assert_eq!(mirror.abs_cosine, r.abs_cosine);
    }

    // Tracking follows directions across the eigenvalue crossing: direction 0
    // (rank 0 at step 0) is rank 1 from step 100 on, and direction 2, stored
    // against its track's orientation at step 100 only, is flipped there only
    // (at 150 it points along the track again, though its stored sign changed).
    let tracked: Vec<TrackedRow> =
        read_rows(&run.analysis_dir().join("eigenvalues_tracked.parquet")).unwrap();
    assert_eq!(tracked.len(), 12);
    for r in &tracked {
        let k = STEPS.iter().position(|&s| s == r.step).unwrap();
        assert!(
            (r.eigenvalue - eigenvalue(r.track as usize, k)).abs() < 1e-12,
            "track {} at step {}",
            r.track,
            r.step
        );
        assert_eq!(
            r.flipped,
            r.track == 2 && k == 2,
            "flip of track {} at step {}",
            r.track,
            r.step
        );
        if k > 0 {
            assert!((r.abs_cosine_prev - THETA.cos()).abs() < 1e-6);
        }
    }
    let rank_of = |track: u32, step: i64| {
        tracked
            .iter()
            .find(|r| r.track == track && r.step == step)
            .unwrap()
            .rank
    };
    assert_eq!(
        (rank_of(0, 50), rank_of(0, 100), rank_of(0, 150)),
        (0, 1, 1)
    );
    assert_eq!((rank_of(1, 50), rank_of(1, 100)), (1, 0));

    // The figures drawn straight from run tables keep their points.
    let series: Vec<FigureSeriesRow> =
        read_rows(&run.analysis_dir().join("figure_series.parquet")).unwrap();
    for fig in ["eigenvalues", "trace", "density", "loss", "accuracy"] {
        assert!(
            series.iter().any(|r| r.figure == fig),
            "figure_series lacks {fig}"
        );
    }
    let hutch: Vec<_> = series
        .iter()
        .filter(|r| r.figure == "trace" && r.series.starts_with("hutchinson"))
        .collect();
    assert_eq!(hutch.len(), 4);
    assert!(hutch.iter().all(|r| r.y_err == 2.0));

    // Nothing temporary is left behind.
    for d in [run.plots_dir(), run.analysis_dir(), run.root().to_owned()] {
        for e in std::fs::read_dir(&d).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(
                !name.contains(".tmp"),
                "temporary file {name} left in {}",
                d.display()
            );
        }
    }
}

/// Issue 16: the heatmap resamples every checkpoint's density on one grid,
/// and the outlier at 10 - 1.5 k shows where it is at each checkpoint.
#[test]
fn density_heatmap_follows_the_moving_outlier() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("r"));
    write_spectrum(&run);
    assert_ok(&hx_analyze(&["--quiet"], run.root()));
    let grid: Vec<DensityGridRow> = read_rows(&run.analysis_dir().join("density_heatmap.parquet")).unwrap();
    assert_eq!(grid.len(), STEPS.len() * 160);
    // The grid spans [-1, 12] in 160 cells of width 13/160; linear
    // interpolation from the 200-point source grid puts the brightest cell
    // within one cell of the outlier.
    for (k, &step) in STEPS.iter().enumerate() {
        let peak = grid
            .iter()
            .filter(|g| g.step == step && g.lambda > 2.0)
            .max_by(|a, b| a.log10_density.total_cmp(&b.log10_density))
            .unwrap();
        let expected = 10.0 - 1.5 * k as f64;
        assert!((peak.lambda - expected).abs() <= 13.0 / 160.0, "step {step}: peak at {}", peak.lambda);
    }
    // The bulk's peak (3 at λ = 0) is drawn within 0.05 decades (the cells
    // miss λ = 0 by 0.016); far tails sit on the floor, ten decades below
    // the source's peak (which the cells slightly undershoot).
    let top = grid.iter().map(|g| g.log10_density).fold(f64::NEG_INFINITY, f64::max);
    let bottom = grid.iter().map(|g| g.log10_density).fold(f64::INFINITY, f64::min);
    assert!((top - 3f64.log10()).abs() < 0.05, "peak {top}");
    assert!(top - bottom <= 10.0 + 1e-9 && top - bottom > 9.9, "floor {bottom}, peak {top}");
}

/// Issue 16: outputs of a part that can no longer be made are removed, not
/// left to describe deleted inputs, and the report says what went.
#[test]
fn analysis_after_its_inputs_are_removed_leaves_nothing_stale() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("r"));
    write_eigen(&run);
    write_spectrum(&run);
    write_training(&run);
    assert_ok(&hx_analyze(&["--quiet"], run.root()));
    assert!(run.analysis_dir().join("pca_variance.parquet").exists());
    // A killed earlier run's temporary (pid above Linux's pid_max).
    let dead_temp = run.analysis_dir().join(".pca_variance.parquet.4999999.tmp");
    std::fs::write(&dead_temp, b"half").unwrap();

    std::fs::remove_dir_all(run.root().join("eigenvectors")).unwrap();
    std::fs::remove_file(run.eigenvalues()).unwrap();
    assert_ok(&hx_analyze(&["--quiet"], run.root()));
    for gone in ["pca_variance", "pca_projection", "cosine_similarity", "subspace_overlap", "overlap_vs_distance", "eigenvalues_tracked"] {
        assert!(!run.analysis_dir().join(format!("{gone}.parquet")).exists(), "analysis/{gone}.parquet is stale");
    }
    for gone in ["pca_variance", "cosine_similarity", "eigenvalues", "eigenvalues_tracked"] {
        assert!(!run.plots_dir().join(format!("{gone}.png")).exists(), "plots/{gone}.png is stale");
        assert!(!run.plots_dir().join(format!("{gone}.svg")).exists(), "plots/{gone}.svg is stale");
    }
    assert!(!dead_temp.exists(), "a dead process's temporary survived");
    for kept in ["trace", "density", "density_heatmap", "loss"] {
        assert!(run.plots_dir().join(format!("{kept}.png")).exists(), "{kept}.png was removed");
    }
    let html = std::fs::read_to_string(run.report()).unwrap();
    assert!(!html.contains("<figure id=\"pca_variance\">"));
    assert!(html.contains("removed what an earlier analysis wrote") && html.contains("analysis/pca_variance.parquet"));
}

/// Issue 16: `--rank` beyond the eigenvectors a checkpoint has is an error
/// naming the flag and the range, and leaves the earlier analysis alone.
#[test]
fn rank_beyond_the_eigenvectors_is_an_error_naming_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("r"));
    write_eigen(&run);
    assert_ok(&hx_analyze(&["--quiet"], run.root()));
    let before = std::fs::read(run.report()).unwrap();
    let out = hx_analyze(&["--rank", "99"], run.root());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--rank 99") && err.contains("between 1 and 3"), "{err}");
    assert_eq!(std::fs::read(run.report()).unwrap(), before);
    let zero = hx_analyze(&["--rank", "0"], run.root());
    assert!(!zero.status.success() && String::from_utf8_lossy(&zero.stderr).contains("--rank"));
}

#[test]
fn centered_pca_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("r"));
    write_eigen(&run);
    assert_ok(&hx_analyze(
        &["--centered", "--rank", "2", "--quiet"],
        run.root(),
    ));
    let pca: Vec<PcaVarianceRow> =
        read_rows(&run.analysis_dir().join("pca_variance.parquet")).unwrap();
    assert!(pca.iter().all(|r| r.centered));
    assert!((pca.iter().map(|r| r.explained_variance_ratio).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(std::fs::read_to_string(run.report()).unwrap().contains("depends on the arbitrary signs"));
    let overlap: Vec<OverlapRow> =
        read_rows(&run.analysis_dir().join("subspace_overlap.parquet")).unwrap();
    assert!(overlap.iter().all(|r| r.r_a == 2 && r.r_b == 2));
    // No trace, density or training tables: those figures are skipped and the report says so.
    assert!(!run.plots_dir().join("trace.png").exists());
    let html = std::fs::read_to_string(run.report()).unwrap();
    assert!(html.contains("trace.parquet is absent"));
    // The old flag still runs (uncentred is the default now).
    assert_ok(&hx_analyze(&["--uncentered", "--quiet"], run.root()));
    let pca: Vec<PcaVarianceRow> = read_rows(&run.analysis_dir().join("pca_variance.parquet")).unwrap();
    assert!(pca.iter().all(|r| !r.centered));
}

/// How Python writers store hessx's canonical column types (issue 19).
#[derive(Debug, Clone, Copy)]
enum Writer {
    /// polars: LargeUtf8, LargeList vectors, nullable fields.
    Polars,
    /// polars with `pl.Array` and string views: Utf8View, FixedSizeList with items named `element`.
    PolarsView,
    /// pandas via pyarrow: dictionary strings, Int64 integers, f64 List vectors, an index column.
    Pandas,
    /// hand-written pyarrow: narrow integers, f64 fixed-size vectors, columns reversed.
    Narrow,
}

fn restyle(a: &ArrayRef, w: Writer) -> ArrayRef {
    let to = |t: DataType| cast(a, &t).unwrap();
    let dict = |k: DataType, v: DataType| DataType::Dictionary(Box::new(k), Box::new(v));
    match (a.data_type(), w) {
        (DataType::Utf8, Writer::Polars) => to(DataType::LargeUtf8),
        (DataType::Utf8, Writer::PolarsView) => to(DataType::Utf8View),
        (DataType::Utf8, Writer::Pandas) => to(dict(DataType::Int32, DataType::Utf8)),
        (DataType::Utf8, Writer::Narrow) => to(dict(DataType::Int16, DataType::LargeUtf8)),
        (DataType::Int64 | DataType::UInt32 | DataType::UInt8, Writer::Pandas) => to(DataType::Int64),
        (DataType::Int64, Writer::Narrow) => to(DataType::Int32),
        (DataType::UInt32 | DataType::UInt8, Writer::Narrow) => to(DataType::UInt16),
        (DataType::FixedSizeList(_, n), _) => {
            let a = a.as_fixed_size_list();
            let lengths = std::iter::repeat_n(*n as usize, a.len());
            let item = |name: &str, t: &DataType| Arc::new(Field::new(name, t.clone(), true));
            let f64s = cast(a.values(), &DataType::Float64).unwrap();
            match w {
                Writer::Polars => Arc::new(LargeListArray::new(item("item", &DataType::Float32), OffsetBuffer::from_lengths(lengths), a.values().clone(), None)),
                Writer::PolarsView => Arc::new(FixedSizeListArray::new(item("element", &DataType::Float32), *n, a.values().clone(), None)),
                Writer::Pandas => Arc::new(ListArray::new(item("element", &DataType::Float64), OffsetBuffer::from_lengths(lengths), f64s, None)),
                Writer::Narrow => Arc::new(FixedSizeListArray::new(item("item", &DataType::Float64), *n, f64s, None)),
            }
        }
        _ => a.clone(),
    }
}

/// Rewrite the table at `path` as writer `w` would store the same values.
fn rewrite_as(path: &Path, w: Writer) {
    let batch = read_parquet(path).unwrap();
    let schema = batch.schema();
    let mut columns: Vec<(String, ArrayRef)> =
        schema.fields().iter().zip(batch.columns()).map(|(f, a)| (f.name().clone(), restyle(a, w))).collect();
    match w {
        Writer::Pandas => {
            columns.push(("__index_level_0__".into(), Arc::new(Int64Array::from_iter_values(0..batch.num_rows() as i64))))
        }
        Writer::Narrow => columns.reverse(),
        Writer::Polars | Writer::PolarsView => {}
    }
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(n, a.data_type().clone(), true)).collect();
    let foreign = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    assert_ne!(foreign.schema(), schema, "{w:?} changed no type of {}", path.display());
    write_parquet(path, &[foreign]).unwrap();
}

/// Every Parquet file under `dir`, in path order.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Issue 19: a run whose tables were rewritten by polars, pandas or pyarrow
/// (other string, integer and list types, extra and reordered columns)
/// gives exactly the analysis tables of the original.
#[test]
fn tables_rewritten_by_python_writers_give_the_same_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let original = RunDir::new(dir.path().join("a").join("synthetic"));
    let edited = RunDir::new(dir.path().join("b").join("synthetic"));
    for run in [&original, &edited] {
        write_eigen(run);
        write_spectrum(run);
        write_training(run);
    }
    let inputs = parquet_files(edited.root());
    let eigenvector_files = inputs.iter().filter(|p| p.to_string_lossy().contains("eigenvectors")).count();
    assert_eq!(eigenvector_files, STEPS.len());
    let writers = [Writer::Polars, Writer::PolarsView, Writer::Pandas, Writer::Narrow];
    for (i, path) in inputs.iter().enumerate() {
        rewrite_as(path, writers[i % writers.len()]);
    }
    assert_ok(&hx_analyze(&["--quiet"], original.root()));
    assert_ok(&hx_analyze(&["--quiet"], edited.root()));

    let names = |run: &RunDir| -> Vec<String> {
        parquet_files(&run.analysis_dir()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    };
    assert!(names(&original).len() >= 7, "{:?}", names(&original));
    assert_eq!(names(&edited), names(&original));
    for name in names(&original) {
        let want = read_parquet(&original.analysis_dir().join(&name)).unwrap();
        let got = read_parquet(&edited.analysis_dir().join(&name)).unwrap();
        assert_eq!(got, want, "analysis/{name} differs");
    }
}

#[test]
fn run_without_eigenvectors_still_reports_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("r"));
    write_spectrum(&run);
    assert_ok(&hx_analyze(&[], run.root()));
    assert!(
        run.plots_dir().join("trace.svg").exists() && run.plots_dir().join("density.png").exists()
    );
    assert!(!run.plots_dir().join("pca_variance.png").exists());
    let html = std::fs::read_to_string(run.report()).unwrap();
    assert!(html.contains("no eigenvectors"));
}

#[test]
fn empty_run_directory_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = hx_analyze(&[], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing to analyse") && err.contains("hx-eigen"),
        "{err}"
    );
    let missing = hx_analyze(&[], &dir.path().join("nope"));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such run directory"));
}

#[test]
fn help_explains_the_inputs_and_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_hx-analyze"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--centered",
        "--rank",
        "report.html",
        "eigenvectors/<settings>/step-*.parquet",
        "--settings",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

/// Issue 10: a run with Lanczos and power eigenpairs of different settings
/// (here over different parameter counts, as `--params` gives) shows one set,
/// draws the vectors of exactly the eigenvalues it shows, says which settings,
/// and takes `--settings` to show the other.
#[test]
fn several_settings_show_one_with_its_own_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("r"));
    let mut values = Vec::new();
    write_eigen_with(&run, LANCZOS_ID, EigenMethod::Lanczos, DIM, THETA, &mut values);
    // Power iteration over 300 parameters, with directions that do not rotate.
    write_eigen_with(&run, POWER_ID, EigenMethod::Power, 300, 0.0, &mut values);
    let rank0_cos = |run: &RunDir| -> f64 {
        let cos: Vec<CosineRow> = read_rows(&run.analysis_table("cosine_similarity")).unwrap();
        cos.iter().filter(|c| c.step_a == 0 && c.step_b == 50 && c.rank_a == 0 && c.rank_b == 0).map(|c| c.abs_cosine).sum()
    };

    let out = hx_analyze(&[], run.root());
    assert_ok(&out);
    let html = std::fs::read_to_string(run.report()).unwrap();
    assert!(html.contains(LANCZOS_ID) && html.contains(POWER_ID) && html.contains("--settings"), "the report names both");
    // Lanczos (preferred) vectors: rotated by THETA between steps 0 and 50.
    assert!((rank0_cos(&run) - THETA.cos()).abs() < 1e-6, "{}", rank0_cos(&run));
    let proj: Vec<PcaProjectionRow> = read_rows(&run.analysis_table("pca_projection")).unwrap();
    assert_eq!(proj.len(), 12, "only one settings' 12 vectors are analysed");

    assert_ok(&hx_analyze(&["--settings", POWER_ID], run.root()));
    assert!((rank0_cos(&run) - 1.0).abs() < 1e-6, "power vectors do not rotate: {}", rank0_cos(&run));
    let html = std::fs::read_to_string(run.report()).unwrap();
    assert!(html.contains(&format!("{POWER_ID}: power")), "the key numbers name the settings shown");

    let out = hx_analyze(&["--settings", "000000000000"], run.root());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--settings 000000000000") && err.contains(LANCZOS_ID) && err.contains(POWER_ID), "{err}");
}

/// Headless Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// The width in CSS pixels that `html` needs in a 1400 x 900 window, as
/// headless Chromium lays it out (offline: a file URL, no network flags).
fn scroll_width(browser: &Path, html: &str, scratch: &Path) -> u32 {
    let probe = scratch.join("probe.html");
    let script = "<script>document.title = 'scroll-width=' + document.documentElement.scrollWidth;</script>";
    std::fs::write(&probe, html.replace("</body>", &format!("{script}</body>"))).unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", scratch.join("chromium-profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let width = dom.split("scroll-width=").nth(1).and_then(|rest| rest.split('<').next()).and_then(|n| n.parse().ok());
    width.unwrap_or_else(|| panic!("Chromium gave no width ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)))
}

/// Issue 16: `report.html` fits a 1400-pixel window (no horizontal scroll
/// bar), with many figures and long surface names in the figure links.
/// Skipped where Chromium is not installed, unless HESSX_REQUIRE_BROWSER is
/// set (`.ci/run` installs Chromium and sets it).
#[test]
fn report_fits_a_1400_pixel_window() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("HESSX_REQUIRE_BROWSER").is_none(),
            "HESSX_REQUIRE_BROWSER is set but no Chromium is installed (apt-get install chromium)"
        );
        eprintln!("report_fits_a_1400_pixel_window: skipped, no Chromium at /usr/bin/chromium");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The measurement itself can fail: a page 2000 pixels wide measures wider than the window.
    let wide = "<!DOCTYPE html><html><body><div style=\"width:2000px\">x</div></body></html>";
    assert!(scroll_width(&browser, wide, dir.path()) >= 2000);

    let run = RunDir::new(dir.path().join("finetune-resnet20-cifar10c-gaussian-noise-severity-5-seed-1"));
    write_eigen(&run);
    write_spectrum(&run);
    write_training(&run);
    assert_ok(&hx_analyze(&["--quiet"], run.root()));
    // Loss surfaces with long names add figures (and links) to the report.
    let png = std::fs::read(run.plots_dir().join("trace.png")).unwrap();
    for name in ["eigen-axes-around-the-final-checkpoint-filter-normalised", "trajectory-pca-of-every-checkpoint-biasbn-ignored"] {
        let surface = run.landscape(name);
        hessx_store::write_bytes_atomic(&surface.settings(), b"fingerprint = \"x\"\n").unwrap();
        for stem in ["2d_contour_train_loss", "2d_heatmap_train_loss", "curvature_abs_ratio_min_max"] {
            hessx_store::write_bytes_atomic(&surface.figure_png(stem), &png).unwrap();
        }
    }
    assert_ok(&hx_analyze(&["--quiet"], run.root()));
    let html = std::fs::read_to_string(run.report()).unwrap();
    assert!(html.matches("<figure id=").count() >= 19, "the report should hold the surfaces' figures too");
    let width = scroll_width(&browser, &html, dir.path());
    assert!(width <= 1400, "report.html needs {width} pixels in a 1400-pixel window: a horizontal scroll bar");
}

/// Issue 11: an eigenvector's sign is arbitrary, so storing any of them as -v
/// must change no table, figure or report number (except `flipped`, which
/// records the stored sign by design).
#[test]
fn flipping_eigenvector_signs_changes_no_table_or_figure() {
    // Generic vectors (a shared drift plus pseudo-random parts) so the Gram
    // matrix has a simple spectrum and the principal axes are unique.
    let (dim, per) = (40usize, 3usize);
    let mut seed = 7u64;
    let mut rand = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let base: Vec<Vec<f64>> = (0..per).map(|_| (0..dim).map(|_| rand()).collect()).collect();
    let noise: Vec<Vec<Vec<f64>>> = (0..STEPS.len())
        .map(|_| (0..per).map(|_| (0..dim).map(|_| rand()).collect()).collect())
        .collect();
    let write = |run: &RunDir, flip: &dyn Fn(usize, usize) -> bool| {
        let id = identity();
        for (k, &step) in STEPS.iter().enumerate() {
            let rows: Vec<EigenvectorRow> = (0..per)
                .map(|a| {
                    let v: Vec<f64> = (0..dim).map(|i| base[a][i] + 0.4 * noise[k][a][i]).collect();
                    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                    let s = if flip(k, a) { -1.0 } else { 1.0 };
                    EigenvectorRow {
                        settings_id: LANCZOS_ID.into(),
                        step,
                        rank: a as u32,
                        eigenvalue: 10.0 - a as f64 - 0.1 * k as f64,
                        vector: v.iter().map(|x| (s * x / n) as f32).collect(),
                    }
                })
                .collect();
            write_rows(&run.eigenvectors(LANCZOS_ID, step), &id, &rows).unwrap();
        }
        write_spectrum(run);
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (RunDir::new(d1.path().join("run")), RunDir::new(d2.path().join("run")));
    write(&a, &|_, _| false);
    write(&b, &|k, r| (k + r) % 2 == 1 || (k, r) == (0, 0));
    assert_ok(&hx_analyze(&["--quiet"], a.root()));
    assert_ok(&hx_analyze(&["--quiet"], b.root()));

    // f32 vectors negated exactly give a Gram matrix negated exactly in the
    // flipped rows and columns; the eigensolver then agrees to round-off of
    // O(1) numbers, so 1e-9 is slack.
    same_table(&a, &b, "pca_variance", |r: &PcaVarianceRow| (r.centered, r.component), |r| {
        vec![r.explained_variance, r.explained_variance_ratio, r.cumulative_ratio]
    });
    same_table(&a, &b, "pca_projection", |r: &PcaProjectionRow| (r.step, r.rank), |r| vec![r.eigenvalue, r.pc1, r.pc2]);
    same_table(&a, &b, "cosine_similarity", |r: &CosineRow| (r.step_a, r.rank_a, r.step_b, r.rank_b), |r| vec![r.abs_cosine]);
    same_table(&a, &b, "subspace_overlap", |r: &OverlapRow| (r.step_a, r.step_b, r.r_a, r.r_b), |r| vec![r.overlap]);
    same_table(&a, &b, "overlap_vs_distance", |r: &OverlapDistanceRow| (r.step_distance, r.pairs), |r| {
        vec![r.mean_overlap, r.min_overlap, r.max_overlap]
    });
    same_table(&a, &b, "eigenvalues_tracked", |r: &TrackedRow| (r.step, r.track, r.rank), |r| {
        vec![r.eigenvalue, r.abs_cosine_prev]
    });
    same_table(&a, &b, "figure_series", |r: &FigureSeriesRow| (r.figure.clone(), r.series.clone()), |r| vec![r.x, r.y, r.y_err]);
    // The flips are seen where they should be: `flipped` differs, nothing else.
    let tracked = |run: &RunDir| -> Vec<TrackedRow> { read_rows(&run.analysis_dir().join("eigenvalues_tracked.parquet")).unwrap() };
    let (ta, tb) = (tracked(&a), tracked(&b));
    assert!(ta.iter().zip(&tb).any(|(x, y)| x.flipped != y.flipped));

    // Figures and the report: identical bytes.
    for e in std::fs::read_dir(a.plots_dir()).unwrap() {
        let name = e.unwrap().file_name();
        let (x, y) = (std::fs::read(a.plots_dir().join(&name)).unwrap(), std::fs::read(b.plots_dir().join(&name)).unwrap());
        assert!(x == y, "plots/{} changed when eigenvector signs were flipped", name.to_string_lossy());
    }
    assert!(std::fs::read(a.report()).unwrap() == std::fs::read(b.report()).unwrap(), "report.html changed");
}

/// Table `name` of runs `a` and `b` has the same rows (by `key`, in order)
/// with the same numbers (`nums`) to 1e-9.
fn same_table<R: hessx_store::tables::Row + std::fmt::Debug, K: PartialEq + std::fmt::Debug>(
    a: &RunDir,
    b: &RunDir,
    name: &str,
    key: impl Fn(&R) -> K,
    nums: impl Fn(&R) -> Vec<f64>,
) {
    let read = |run: &RunDir| -> Vec<R> { read_rows(&run.analysis_dir().join(format!("{name}.parquet"))).unwrap() };
    let (x, y) = (read(a), read(b));
    assert_eq!(x.len(), y.len(), "{name}");
    for (p, q) in x.iter().zip(&y) {
        assert_eq!(key(p), key(q), "{name}");
        let close = nums(p).iter().zip(nums(q)).all(|(u, v)| (u - v).abs() <= 1e-9 || (u.is_nan() && v.is_nan()));
        assert!(close, "{name} changed when eigenvector signs were flipped:\n{p:?}\n{q:?}");
    }
}

/// Issue 18: with bottom eigenvalues (`hx-eigen --which both`), the analysis
/// writes `negative_curvature.parquet`, draws lambda_min and the ratio, puts
/// the key numbers in the report, and keeps the eigenvector analysis and the
/// eigenvalue curves on the top end only (bottom vectors live apart and are
/// never read).
#[test]
fn bottom_eigenvalues_give_the_negative_curvature() {
    use hx_analyze::tables::NegativeCurvatureRow;
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("r"));
    let mut values = Vec::new();
    write_eigen_with(&run, LANCZOS_ID, EigenMethod::Lanczos, DIM, THETA, &mut values);
    let mut bottom_values = Vec::new();
    for (k, &step) in STEPS.iter().enumerate() {
        for rank in 0..2u32 {
            let mut row = values[0].clone();
            row.step = step;
            row.rank = rank;
            row.eigenvalue = -2.0 / (1.0 + k as f64) + rank as f64;
            row.spectrum_end = hessx_store::SpectrumEnd::Bottom;
            bottom_values.push(row);
        }
        // A bottom vector that would change the PCA if it were read.
        let v = EigenvectorRow { settings_id: LANCZOS_ID.into(), step, rank: 0, eigenvalue: -1.0, vector: vec![1.0; DIM] };
        write_rows(&run.bottom_eigenvectors(LANCZOS_ID, step), &identity(), &[v]).unwrap();
    }
    values.extend(bottom_values);
    write_rows(&run.eigenvalues(), &identity(), &values).unwrap();
    assert_ok(&hx_analyze(&[], run.root()));

    let rows: Vec<NegativeCurvatureRow> = read_rows(&run.analysis_table("negative_curvature")).unwrap();
    assert_eq!(rows.len(), STEPS.len());
    for (k, r) in rows.iter().enumerate() {
        let top = (0..3).map(|a| eigenvalue(a, k)).fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((r.step, r.lambda_min, r.lambda_max), (STEPS[k], -2.0 / (1.0 + k as f64), top));
        assert!((r.ratio - r.lambda_min.abs() / top).abs() < 1e-12);
    }
    let html = std::fs::read_to_string(run.report()).unwrap();
    assert!(html.contains("most negative eigenvalue") && html.contains("first → last checkpoint"), "key numbers");
    assert!(run.plots_dir().join("lambda_min.png").exists() && run.plots_dir().join("negative_curvature_ratio.png").exists());
    let proj: Vec<PcaProjectionRow> = read_rows(&run.analysis_table("pca_projection")).unwrap();
    assert_eq!(proj.len(), 12, "only the top vectors are analysed");
    let series: Vec<hx_analyze::tables::FigureSeriesRow> = read_rows(&run.analysis_table("figure_series")).unwrap();
    assert!(series.iter().filter(|s| s.figure == "eigenvalues").all(|s| s.y > 0.0), "the eigenvalue curves are the top end");
}
