//! Write a synthetic run directory for trying out or timing `hx-analyze`
//! without training anything:
//!
//! ```sh
//! cargo run -p hx-analyze --example synthetic_run -- runs/synthetic 20 15 272474
//! hx-analyze runs/synthetic
//! ```
//!
//! Arguments: output directory, checkpoints, eigenvectors per checkpoint,
//! parameters. Eigenvector `a` of checkpoint `k` is `cos(kθ_a) b_a +
//! sin(kθ_a) c_a` plus a little noise, normalised, with a random sign: a top
//! subspace that drifts slowly, each direction at its own speed, while
//! eigenvalues decay and two of them cross.

use hessx_store::tables::{
    CheckpointRow, DensityRow, EigenvalueRow, EigenvectorRow, TraceRow, TrainLogRow, write_rows,
};
use hessx_store::{RunDir, RunIdentity};

/// Made-up settings fingerprints of the synthetic tables.
const SETTINGS_ID: &str = "5e77146a0000";
const SPECTRUM_ID: &str = "5e77146a0001";

/// xorshift64* with Box–Muller: deterministic normals without a dependency.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    fn unit(&mut self, d: usize) -> Vec<f64> {
        let v: Vec<f64> = (0..d).map(|_| self.normal()).collect();
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: synthetic_run OUT_DIR [CHECKPOINTS=8] [RANK=5] [PARAMS=5000]";
    let out = args.first().expect(usage);
    let arg = |i: usize, default: usize| args.get(i).map_or(default, |s| s.parse().expect(usage));
    let (checkpoints, rank, dim) = (arg(1, 8), arg(2, 5), arg(3, 5000));
    let run = RunDir::new(out);
    let id = RunIdentity::new(&run.name(), "resnet20", "cifar10", "gaussian_noise", 5);
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let b: Vec<Vec<f64>> = (0..rank).map(|_| rng.unit(dim)).collect();
    let c: Vec<Vec<f64>> = (0..rank).map(|_| rng.unit(dim)).collect();
    let speed: Vec<f64> = (0..rank).map(|a| 0.02 + 0.03 * a as f64).collect();
    let steps: Vec<i64> = (0..checkpoints as i64).map(|k| k * 50).collect();
    let mut values = Vec::new();
    for (k, &step) in steps.iter().enumerate() {
        let lambda = |a: usize| {
            200.0 / (1.0 + a as f64) * (1.0 - 0.02 * k as f64)
                + if a == 2 { 8.0 * k as f64 } else { 0.0 }
        };
        let mut order: Vec<usize> = (0..rank).collect();
        order.sort_by(|&x, &y| lambda(y).total_cmp(&lambda(x)));
        let rows: Vec<EigenvectorRow> = order
            .iter()
            .enumerate()
            .map(|(r, &a)| {
                let t = speed[a] * k as f64;
                let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                let mut v: Vec<f64> = (0..dim)
                    .map(|i| {
                        t.cos() * b[a][i]
                            + t.sin() * c[a][i]
                            + 0.02 * rng.normal() / (dim as f64).sqrt()
                    })
                    .collect();
                let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.iter_mut().for_each(|x| *x *= sign / n);
                EigenvectorRow {
                    settings_id: SETTINGS_ID.into(),
                    step,
                    rank: r as u32,
                    eigenvalue: lambda(a),
                    vector: v.into_iter().map(|x| x as f32).collect(),
                }
            })
            .collect();
        for r in &rows {
            values.push(EigenvalueRow {
                settings_id: SETTINGS_ID.into(),
                step,
                rank: r.rank,
                eigenvalue: r.eigenvalue,
                residual: 1e-3 * r.eigenvalue,
                residual_kind: hessx_store::ResidualKind::Explicit,
                converged: true,
                iterations: 30 * rank as i64,
                hvps: 30 * rank as i64,
                method: hessx_store::EigenMethod::Lanczos,
                seconds: 10.0,
                num_params: dim as i64,
                spectrum_end: hessx_store::SpectrumEnd::Top,
            });
        }
        write_rows(&run.eigenvectors(SETTINGS_ID, step), &id, &rows).expect("eigenvectors should be written");
    }
    write_rows(&run.eigenvalues(), &id, &values).expect("eigenvalues should be written");
    let mut trace = Vec::new();
    let mut density = Vec::new();
    for (k, &step) in steps.iter().enumerate() {
        for (method, bias, se) in [
            (hessx_store::TraceMethod::Hutchinson, 0.0, 40.0),
            (hessx_store::TraceMethod::Hutchpp, 10.0, 15.0),
        ] {
            let est = 2000.0 * (1.0 - 0.03 * k as f64) + bias + se * rng.normal();
            trace.push(TraceRow {
                settings_id: SPECTRUM_ID.into(),
                step,
                method,
                estimate: est,
                std_error: se,
                probes: 100,
                converged: true,
                hvps: 100,
                seconds: 60.0,
                // Student's t for 99 degrees of freedom.
                half_width_95: 1.9842 * se,
            });
        }
        for i in 0..400 {
            let l = -20.0 + 240.0 * i as f64 / 399.0;
            let g = |m: f64, s: f64, w: f64| {
                w * (-(l - m).powi(2) / (2.0 * s * s)).exp() / (s * (std::f64::consts::TAU).sqrt())
            };
            let top = 200.0 * (1.0 - 0.02 * k as f64);
            density.push(DensityRow {
                settings_id: SPECTRUM_ID.into(),
                step,
                lambda: l,
                density: g(0.0, 1.5, 0.995) + g(top, 1.5, 0.002) + g(top / 2.0, 1.5, 0.003),
                sigma: 1.5,
            });
        }
    }
    write_rows(&run.trace(), &id, &trace).expect("trace should be written");
    write_rows(&run.density(), &id, &density).expect("density should be written");
    let last = *steps.last().unwrap_or(&0);
    let log: Vec<TrainLogRow> = (1..=last)
        .map(|s| TrainLogRow {
            step: s,
            epoch: s / 200,
            batch: s % 200,
            lr: 1e-3,
            loss: 1.6 * (-(s as f64) / 300.0).exp() + 0.5 + 0.15 * rng.normal(),
            accuracy: (0.9 - 0.4 * (-(s as f64) / 300.0).exp() + 0.05 * rng.normal())
                .clamp(0.0, 1.0),
            seconds: 0.2,
            sharpness: f64::NAN,
            sharpness_residual: f64::NAN,
            sharpness_hvps: 0,
            sharpness_seconds: 0.0,
        })
        .collect();
    write_rows(&run.train_log(), &id, &log).expect("train log should be written");
    let cps: Vec<CheckpointRow> = steps
        .iter()
        .map(|&s| CheckpointRow {
            step: s,
            epoch: s / 200,
            batch: s % 200,
            lr: 1e-3,
            train_loss: if s == 0 {
                f64::NAN
            } else {
                1.6 * (-(s as f64) / 300.0).exp() + 0.5
            },
            train_accuracy: if s == 0 {
                f64::NAN
            } else {
                0.9 - 0.4 * (-(s as f64) / 300.0).exp()
            },
            heldout_loss: 1.7 * (-(s as f64) / 350.0).exp() + 0.6,
            heldout_accuracy: 0.85 - 0.4 * (-(s as f64) / 350.0).exp(),
            file: format!("checkpoints/step-{s:08}.mpk"),
            sha256: String::new(),
            heldout_auc: f64::NAN,
        })
        .collect();
    write_rows(&run.checkpoints(), &id, &cps).expect("checkpoints should be written");
    hessx_store::write_bytes_atomic(
        &run.stage_config("synthetic"),
        format!("# written by the synthetic_run example\ncheckpoints = {checkpoints}\nrank = {rank}\nparams = {dim}\n").as_bytes(),
    )
    .expect("config should be written");
    println!(
        "wrote {} ({checkpoints} checkpoints x {rank} eigenvectors x {dim} parameters)",
        run.root().display()
    );
}
