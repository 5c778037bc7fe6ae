//! hx-landscape: loss surfaces around a checkpoint, after Li et al. 2018,
//! "Visualizing the Loss Landscape of Neural Nets" (the seed's
//! `plot_surface.py`, `plot_trajectory.py`, `h52vtp.py`), on hessx runs.
//!
//! A surface is the loss and accuracy at `w + x dx + y dy` over a grid of
//! `(x, y)`: along seeded random directions (filter-normalised by default),
//! the top Hessian eigenvectors hx-eigen saved, the principal directions of
//! the training trajectory, or the line to a second model (1D
//! interpolation). Points are independent forward passes with batch norm in
//! eval mode; they are saved as they come, so a killed run resumes, and
//! `--shard i/n` splits a grid across processes (merged with checks).
//!
//! ```
//! use hx_landscape::grid::{Axis, Grid};
//! let grid = Grid { x: Axis::parse("--x", "-1:1:51").unwrap(), y: Some(Axis::parse("--y", "-1:1:51").unwrap()) };
//! assert_eq!(grid.len(), 2601);
//! assert!(Axis::parse("--x", "1:0:5").is_err());
//! ```
#![deny(missing_docs)]

pub mod curvature;
pub mod directions;
mod error;
pub mod eval;
pub mod grid;
pub mod plots;
pub mod run;
pub mod settings;
pub mod state;
pub mod surface;
pub mod trajectory;
pub mod vtk;

pub use error::{Error, Result};
