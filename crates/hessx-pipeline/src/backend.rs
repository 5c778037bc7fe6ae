//! Choosing the compute backend at run time (`--device`). Everything in hessx
//! is generic over `B: Backend`; the stage binaries name the concrete backend
//! once, through [`with_backend!`](crate::with_backend).

use serde::{Deserialize, Serialize};

/// Where the tensors live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// burn's pure-Rust Flex backend on the CPU (builds everywhere).
    #[default]
    Cpu,
    /// burn's CUDA backend (cargo feature `cuda`; needs an NVIDIA GPU and driver).
    Cuda,
}

/// Message for a binary built without the `cuda` feature.
pub const NO_CUDA: &str = "this binary was built without CUDA support: rebuild with \
    `cargo build --release --features cuda` (or `just build-cuda`) on a machine with an NVIDIA driver, \
    or use --device cpu";

/// Evaluate `$body` with `$B` bound to the backend type of `$kind` and `$dev`
/// to its default device. The `cuda` arm exists only in binaries built with
/// their `cuda` feature; otherwise it returns an error saying how to get it.
#[macro_export]
macro_rules! with_backend {
    ($kind:expr, $B:ident, $dev:ident => $body:expr) => {
        match $kind {
            $crate::backend::DeviceKind::Cpu => {
                type $B = burn::backend::Flex;
                let $dev = Default::default();
                $body
            }
            $crate::backend::DeviceKind::Cuda => {
                #[cfg(feature = "cuda")]
                {
                    type $B = burn::backend::Cuda;
                    let $dev = Default::default();
                    $body
                }
                #[cfg(not(feature = "cuda"))]
                {
                    Err(anyhow::anyhow!($crate::backend::NO_CUDA))
                }
            }
        }
    };
}
