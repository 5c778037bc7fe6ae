//! Choosing the compute backend at run time (`--backend`). Everything in
//! hessx is generic over `B: Backend`; the stage binaries name the concrete
//! backend once, through [`with_backend!`](crate::with_backend).
//!
//! Flex is the default because it is pure Rust and builds everywhere. LibTorch
//! (cargo feature `tch`, `just build-libtorch`) is about 4-5x faster per
//! Hessian-vector product on a CPU (see `bench/results.md`) but links the
//! libtorch of a pinned PyTorch wheel.

use serde::{Deserialize, Serialize};

/// Which burn backend computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's pure-Rust Flex backend on the CPU (builds everywhere; the default).
    #[default]
    #[serde(alias = "cpu")]
    Flex,
    /// LibTorch on the CPU through burn-tch (cargo feature `tch`; needs the
    /// libtorch of torch==2.9.0, see `just setup-libtorch`).
    #[serde(alias = "tch")]
    Libtorch,
    /// burn's CUDA backend (cargo feature `cuda`; needs an NVIDIA GPU and driver).
    Cuda,
}

impl BackendKind {
    /// Every backend compiled into this binary.
    pub fn available() -> Vec<BackendKind> {
        let mut kinds = vec![BackendKind::Flex];
        if cfg!(feature = "tch") {
            kinds.push(BackendKind::Libtorch);
        }
        if cfg!(feature = "cuda") {
            kinds.push(BackendKind::Cuda);
        }
        kinds
    }

    /// Every backend, built in or not.
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::Libtorch, BackendKind::Cuda];

    /// The flag value, as a user types it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Libtorch => "libtorch",
            BackendKind::Cuda => "cuda",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    /// A flag value: `flex` (alias `cpu`), `libtorch` (alias `tch`) or `cuda`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "flex" | "cpu" => Ok(BackendKind::Flex),
            "libtorch" | "tch" => Ok(BackendKind::Libtorch),
            "cuda" => Ok(BackendKind::Cuda),
            other => Err(format!("`{other}` is not a backend; expected flex, libtorch or cuda")),
        }
    }
}

/// Message for a binary built without the `tch` feature.
pub const NO_LIBTORCH: &str = "--backend libtorch: this binary was built without LibTorch support: run \
    `just setup-libtorch` once, then `just build-libtorch` (cargo feature `tch`), or use --backend flex";

/// Message for a binary built without the `cuda` feature.
pub const NO_CUDA: &str = "--backend cuda: this binary was built without CUDA support: rebuild with \
    `cargo build --release --features cuda` (or `just build-cuda`) on a machine with an NVIDIA driver, \
    or use --backend flex";

/// Evaluate `$body` with `$B` bound to the backend type of `$kind` and `$dev`
/// to its default device. The `libtorch` and `cuda` arms exist only in
/// binaries built with the matching feature; otherwise they return
/// [`Error::BackendNotBuilt`](crate::Error::BackendNotBuilt) (converted with
/// `into()` to the body's error type) saying how to get them.
#[macro_export]
macro_rules! with_backend {
    ($kind:expr, $B:ident, $dev:ident => $body:expr) => {
        match $kind {
            $crate::backend::BackendKind::Flex => {
                type $B = burn::backend::Flex;
                let $dev = Default::default();
                $body
            }
            $crate::backend::BackendKind::Libtorch => {
                #[cfg(feature = "tch")]
                {
                    type $B = burn::backend::LibTorch<f32>;
                    let $dev = Default::default();
                    $body
                }
                #[cfg(not(feature = "tch"))]
                {
                    Err($crate::Error::BackendNotBuilt($crate::backend::NO_LIBTORCH).into())
                }
            }
            $crate::backend::BackendKind::Cuda => {
                #[cfg(feature = "cuda")]
                {
                    type $B = burn::backend::Cuda;
                    let $dev = Default::default();
                    $body
                }
                #[cfg(not(feature = "cuda"))]
                {
                    Err($crate::Error::BackendNotBuilt($crate::backend::NO_CUDA).into())
                }
            }
        }
    };
}
