//! The one `main` of every stage binary: keep large freed buffers for reuse
//! ([`crate::allocator`]), set up logging (one variable,
//! `HESSX_LOG`, for all of them; colour only on a terminal), run the stage,
//! print its error chain with each cause once and map the outcome to an exit code. A closed stdout pipe
//! (`hx-query RUN "..." | head -1`) ends the program quietly and successfully,
//! as in ripgrep: the reader has what it wanted.

use std::ffi::OsStr;
use std::io::IsTerminal;
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
    let allocator = crate::allocator::keep_large_buffers();
    init_logging(default_level);
    tracing::debug!("allocator thresholds: {allocator:?}");
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
    let colour = colour_wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    );
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if tracing_subscriber::registry().with(filter).with(fmt).try_init().is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Colour in logs only when stderr is a terminal, `NO_COLOR` is unset or
/// empty (<https://no-color.org>) and the terminal is not `TERM=dumb`: a log
/// redirected to a file must not fill up with escape codes.
fn colour_wanted(stderr_is_terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty) && term.is_none_or(|t| t != "dumb")
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", render_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error chain joined by `: `, leaving out a cause whose text the message
/// before it already contains (errors that print their source inline, as
/// thiserror's `"{path}: {source}"` does, would otherwise say it twice).
pub fn render_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !previous.is_empty() && previous.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        previous = text;
    }
    out
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

    /// An error that prints its source inline, as `#[error("{path}: {source}")]` does.
    #[derive(Debug)]
    struct Inline(std::io::Error);
    impl std::fmt::Display for Inline {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "runs/x/trace.parquet: {}", self.0)
        }
    }
    impl std::error::Error for Inline {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let e = anyhow::Error::new(Inline(std::io::Error::other("disk on fire"))).context("reading the trace");
        assert_eq!(render_chain(&e), "reading the trace: runs/x/trace.parquet: disk on fire");
        // `{:#}` would have said it twice.
        assert_eq!(format!("{e:#}").matches("disk on fire").count(), 2);
        let plain: anyhow::Result<()> = Err(std::io::Error::other("no such step")).context("opening checkpoint 7");
        assert_eq!(render_chain(&plain.unwrap_err()), "opening checkpoint 7: no such step");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color_or_dumb_term() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(colour_wanted(true, None, os("xterm-256color")));
        assert!(colour_wanted(true, os(""), None), "an empty NO_COLOR does not count");
        assert!(!colour_wanted(false, None, os("xterm-256color")), "redirected to a file or pipe");
        assert!(!colour_wanted(true, os("1"), os("xterm")));
        assert!(!colour_wanted(true, None, os("dumb")));
    }
}
