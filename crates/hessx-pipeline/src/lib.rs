//! The glue between hessx's stages: experiment profiles, the choice of
//! backend, turning datasets into model inputs, the training loop with
//! resumable checkpoints, and the per-checkpoint curvature runs of
//! `hx-eigen` and `hx-spectrum`. Stage binaries are thin clap front ends over
//! this crate.
#![deny(missing_docs)]

pub mod backend;
pub mod batches;
pub mod checksum;
pub mod config;
pub mod curvature;
pub mod data_setup;
pub mod hessian_op;
pub mod models;
pub use hessx_profile as profile;
pub mod train;

/// Print a stage's error chain once and exit non-zero; set up logging first.
pub fn main_wrapper(run: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HESSX_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
