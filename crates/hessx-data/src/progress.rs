//! Progress bars for downloads and long conversions, switched off in tests
//! and when the caller asks for quiet output.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` items (or bytes when `bytes`), hidden unless `show`.
pub(crate) fn bar(show: bool, len: u64, message: &str, bytes: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let template = if bytes {
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} [{bar:40}] {pos}/{len} eta {eta}"
    };
    let style = ProgressStyle::with_template(template).expect("progress templates are valid").progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_message(message.to_owned())
}
