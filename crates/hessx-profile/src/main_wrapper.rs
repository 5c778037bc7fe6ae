//! The one `main` of every stage binary: set up logging (one variable,
//! `HESSX_LOG`, for all of them), run the stage, print its error chain once
//! with `{:#}` and map the outcome to an exit code. A closed stdout pipe
//! (`hx-query RUN "..." | head -1`) ends the program quietly and successfully,
//! as in ripgrep: the reader has what it wanted.

use std::process::ExitCode;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::reload;

/// The environment variable that sets the log filter of every hessx binary
/// (`HESSX_LOG=debug`, `HESSX_LOG=warn`, or any `tracing` filter).
pub const LOG_VAR: &str = "HESSX_LOG";

static FILTER: OnceLock<reload::Handle<EnvFilter, tracing_subscriber::Registry>> = OnceLock::new();

/// Run a stage binary: log to stderr at `default_level` (unless `HESSX_LOG`
/// says otherwise), call `run`, print `error: ` and the error chain on
/// failure. Exit codes: 0 on success or a closed stdout pipe, 1 on error.
pub fn main_wrapper(default_level: &str, run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    init_logging(default_level);
    exit_code(run())
}

/// Lower the default log level to warnings (a binary's `--quiet`); an
/// explicit `HESSX_LOG` still wins.
pub fn quiet() {
    if std::env::var_os(LOG_VAR).is_none()
        && let Some(handle) = FILTER.get()
    {
        let _ = handle.modify(|f| *f = EnvFilter::new("warn"));
    }
}

fn init_logging(default_level: &str) {
    let filter = EnvFilter::try_from_env(LOG_VAR).unwrap_or_else(|_| EnvFilter::new(default_level));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_target(false).with_writer(std::io::stderr);
    if tracing_subscriber::registry().with(filter).with(fmt).try_init().is_ok() {
        let _ = FILTER.set(handle);
    }
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` (or anything in its chain) is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_broken_pipe_anywhere_in_the_chain_is_success_and_other_errors_fail() {
        let pipe: anyhow::Result<()> =
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("printing the result");
        assert!(is_broken_pipe(pipe.as_ref().unwrap_err()));
        assert_eq!(format!("{:?}", exit_code(pipe)), format!("{:?}", ExitCode::SUCCESS));
        let other: anyhow::Result<()> =
            Err(std::io::Error::from(std::io::ErrorKind::NotFound)).context("reading runs/x/eigenvalues.parquet");
        assert!(!is_broken_pipe(other.as_ref().unwrap_err()));
        assert_eq!(format!("{:?}", exit_code(other)), format!("{:?}", ExitCode::FAILURE));
    }
}
