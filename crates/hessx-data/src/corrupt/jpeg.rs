//! JPEG round trip at a given quality (encode, decode back), the
//! `jpeg_compression` corruption.

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageFormat};

/// Encode `pixels` (interleaved, `channels` 1 = grey or 3 = RGB) at `quality`
/// and decode the result.
pub(crate) fn round_trip(pixels: &[u8], width: usize, height: usize, channels: usize, quality: u8) -> Result<Vec<u8>, String> {
    let color = match channels {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        c => return Err(format!("JPEG holds 1 or 3 channels, not {c}")),
    };
    let mut encoded = Vec::new();
    JpegEncoder::new_with_quality(&mut encoded, quality)
        .encode(pixels, width as u32, height as u32, color)
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    let decoded = image::load_from_memory_with_format(&encoded, ImageFormat::Jpeg).map_err(|e| format!("JPEG decoding failed: {e}"))?;
    Ok(if channels == 1 { decoded.to_luma8().into_raw() } else { decoded.to_rgb8().into_raw() })
}
