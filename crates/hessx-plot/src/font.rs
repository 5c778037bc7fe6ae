//! The one font every figure uses. plotters is built without system fonts
//! (no fontconfig, so figures render the same on every machine), which means
//! a TTF must be registered before the first text is drawn.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::{Error, Result};

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The family name charts ask for.
pub const FAMILY: &str = "sans-serif";

/// Register the embedded font under [`FAMILY`] (idempotent, thread-safe).
pub fn ensure_registered() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok { Ok(()) } else { Err(Error::Font) }
}
