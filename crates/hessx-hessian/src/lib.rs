//! hessx-hessian: the curvature engine.
//!
//! One operator abstraction, [`SymOp`] (`H v` on flat vectors, counted), and the algorithms on top:
//! top-k eigenpairs by Lanczos ([`lanczos_top_k`]; the bottom or both ends from one run: [`lanczos_extremes`]) or PyHessian's power iteration ([`power_iteration`]),
//! the trace by Hutchinson ([`hutchinson`]) or Hutch++ ([`hutchpp`]), the spectral density by stochastic
//! Lanczos quadrature ([`slq`] + [`density`]), all three from the same runs ([`one_pass`]), and the dense
//! Hessian of small models ([`dense_hessian`]), the ground truth for the rest. Operators: [`DenseOp`] (a
//! matrix, for tests) and [`HessianOp`] (exact products of a burn model's loss by nested autodiff).
//!
//! ```
//! use hessx_hessian::{DenseOp, LanczosConfig, HutchppConfig, lanczos_top_k, hutchpp};
//! use nalgebra::{DMatrix, DVector};
//!
//! // A "Hessian" with eigenvalues 1..=30.
//! let mut op = DenseOp::new(DMatrix::from_diagonal(&DVector::from_fn(30, |i, _| (i + 1) as f64))).unwrap();
//! let top = lanczos_top_k(&mut op, &LanczosConfig { k: 3, tol: 1e-10, ..Default::default() }).unwrap();
//! assert!((top.values[0] - 30.0).abs() < 1e-8);
//! assert!(top.residuals[0] <= 1e-10 * 30.0 && top.all_converged());
//! // 30 products for a 30-dimensional operator: the sketch captures everything, the estimate is exact.
//! let tr = hutchpp(&mut op, &HutchppConfig { num_hvps: 96, seed: 1, ..Default::default() }).unwrap();
//! assert!((tr.estimate - 465.0).abs() < 1e-8);
//! ```
//!
//! With a burn model (`B1 = Autodiff<B>`, `B2 = Autodiff<B1>`; see [`nested`] for the rules models follow):
//!
//! ```ignore
//! let m1: Net<B1<Flex>> = Net::new(&device);             // parameters require gradients
//! let batches = vec![Batch::new((x, y), 200)];             // or the whole split, unequal sizes allowed
//! let mut h = HessianOp::new(m1, batches, |m: &Net<B2<Flex>>, (x, y): &(_, _)| m.loss_eval(x, y))?;
//! h.check_deterministic(DEFAULT_DETERMINISM_TOL)?;         // catches train-mode batch norm / dropout
//! let top = lanczos_top_k(&mut h, &LanczosConfig::default())?;
//! ```

#![deny(missing_docs)]

mod deflated;
mod dense;
mod determinism;
mod error;
mod krylov;
mod lanczos;
mod layout;
mod meyer2021hutchpp;
pub mod nested;
mod onepass;
mod op;
mod power;
mod probes;
mod radau;
mod results;
#[cfg(feature = "tch")]
pub mod retained;
mod slq;
mod trace;
mod vector;
mod wasserstein;

pub use deflated::{DensityWeights, MAX_SIMPLE_WEIGHT, RESOLVED_TOL, deflate, density_runs, resolved};
pub use dense::{DenseEigen, DenseHessian, dense_eigen, dense_hessian};
pub use error::{Error, Result};
pub use lanczos::{End, LanczosConfig, Which, lanczos_extremes, lanczos_top_k, lanczos_top_k_from};
pub use layout::{ParamEntry, ParamLayout};
pub use meyer2021hutchpp::{HutchppConfig, hutchpp};
pub use determinism::{DEFAULT_DETERMINISM_TOL, FirstProductChecked, check_deterministic, products_agree};
pub use nested::{B1, B2, Batch, Gradient, HessianOp, flat_gradient};
#[cfg(feature = "tch")]
pub use retained::RetainedHessianOp;
pub use onepass::{OnePassConfig, OnePassResult, one_pass};
pub use radau::{DensityRule, gauss_radau};
pub use op::{DenseOp, SymOp};
pub use power::{PowerConfig, power_iteration};
pub use probes::{Estimator, MAX_DERIVED_STEP, ProbeKind, ProbeStream};
pub use results::{EigenResult, MIN_TRACE_PROBES, ResidualKind, TraceResult, half_width_95, mean_and_std_error, student_t_975};
pub use slq::{
    Density, SlqConfig, SlqRun, SlqRuns, density, pyhessian_density, pyhessian_grid, slq, slq_trace,
};
pub use trace::{HutchinsonConfig, hutchinson};
pub use vector::Vector;
pub use wasserstein::{mixture, wasserstein1};
