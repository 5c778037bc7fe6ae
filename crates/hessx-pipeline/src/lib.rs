//! The glue between hessx's stages: the choice of backend, turning datasets
//! into model inputs, the training loop with resumable checkpoints, and the
//! curvature stages as library calls over resolved settings
//! ([`eigen::run_eigen`], [`spectrum::run_spectrum`]). Stage binaries parse
//! their flags, resolve them into the plain settings values of [`settings`]
//! and call one function here; nothing in this crate knows about clap.
#![deny(missing_docs)]

pub mod backend;
pub mod batches;
pub mod checksum;
pub mod config;
pub mod curvature;
pub mod data_setup;
pub mod distributed;
pub mod eigen;
mod error;
pub mod hessian_op;
pub mod metrics;
pub mod models;
pub mod provenance;
pub mod settings;
pub mod shard;
pub mod sharpness;
pub mod spectrum;
pub mod train;
pub mod train_config;

pub use error::{Error, Result};
pub use hessx_profile as profile;
