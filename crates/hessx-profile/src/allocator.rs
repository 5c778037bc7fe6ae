//! Keep large freed buffers in the process instead of handing them back to the OS at every free.
//!
//! A Hessian-vector product allocates and frees the same buffers at every call: the activations of a
//! batch, their gradients, convolution workspaces (tens of MiB each for a ResNet20 on 200 images). glibc
//! serves blocks above its mmap threshold (adaptive, from 128 KiB up to 32 MiB) with a fresh `mmap` and
//! unmaps them at `free`, and trims the heap's top beyond its trim threshold (twice the mmap threshold),
//! so the next product faults every page back in, zeroed by the kernel. Measured on the trained ResNet20
//! with LibTorch (`hessx-bench --one-pass-once 10`, 20 products, in turn): 2.5 to 2.8 million page faults
//! and 5.5 to 6.2 s of system time per run by default, 0.45 million and about 1.1 s with the thresholds
//! fixed below, and 10 to 14 % less wall time; on Flex, 9 % less per product. The threshold glibc adapts
//! to also depends on the order of earlier frees, which made the same binary's product speed differ from
//! process to process. Peak memory grows by about 5 %, since freed blocks stay in the heap for reuse.
//!
//! A user who set glibc's own malloc tunables (`GLIBC_TUNABLES=glibc.malloc.…`, or the older
//! `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`) keeps them: this then changes nothing.

/// Blocks up to this size come from the heap and are reused (glibc's own upper bound for its adaptive
/// threshold; larger blocks are still mapped and unmapped each time).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the heap's top kept for reuse before any is returned to the OS.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// What [`keep_large_buffers`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorSetting {
    /// The thresholds above are set.
    Fixed,
    /// The user's malloc tunables are in the environment and were left alone.
    UserTunables,
    /// Not glibc (or glibc refused a value): the allocator's defaults.
    Unsupported,
}

/// Fix glibc's mmap and trim thresholds (module docs), once, at the start of a binary.
pub fn keep_large_buffers() -> AllocatorSetting {
    if user_set_tunables(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())) {
        return AllocatorSetting::UserTunables;
    }
    set_thresholds()
}

/// Whether the environment (read through `var`) holds malloc settings of the user's.
fn user_set_tunables(var: impl Fn(&str) -> Option<String>) -> bool {
    var("GLIBC_TUNABLES").is_some_and(|t| t.contains("glibc.malloc."))
        || var("MALLOC_MMAP_THRESHOLD_").is_some()
        || var("MALLOC_TRIM_THRESHOLD_").is_some()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() -> AllocatorSetting {
    let as_int = |v: usize| libc::c_int::try_from(v).expect("threshold fits a C int");
    // SAFETY: mallopt only changes allocator parameters under the allocator's own lock.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, as_int(MMAP_THRESHOLD)) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, as_int(TRIM_THRESHOLD)) == 1
    };
    if ok { AllocatorSetting::Fixed } else { AllocatorSetting::Unsupported }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> AllocatorSetting {
    AllocatorSetting::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_own_malloc_tunables_win() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert!(!user_set_tunables(env(&[])));
        assert!(!user_set_tunables(env(&[("GLIBC_TUNABLES", "glibc.pthread.rseq=0")])));
        assert!(user_set_tunables(env(&[("GLIBC_TUNABLES", "glibc.pthread.rseq=0:glibc.malloc.arena_max=2")])));
        assert!(user_set_tunables(env(&[("MALLOC_TRIM_THRESHOLD_", "0")])));
        assert!(user_set_tunables(env(&[("MALLOC_MMAP_THRESHOLD_", "131072")])));
    }
}
