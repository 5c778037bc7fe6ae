//! Ground-truth tests of the curvature engine in f32 (the default dtype). The f64 tests live in `f64.rs`,
//! a separate process, because the default float dtype is set per process.

// The tests compare several index-aligned arrays (values, vectors, truths); indices read best there.
#![allow(clippy::needless_range_loop)]

mod common;

#[path = "suite/matrix.rs"]
mod matrix;
#[path = "suite/honesty.rs"]
mod honesty;
#[path = "suite/models.rs"]
mod models;
#[path = "suite/onepass_trace.rs"]
mod onepass_trace;
#[path = "suite/deflated.rs"]
mod deflated;
#[path = "suite/radau.rs"]
mod radau;
