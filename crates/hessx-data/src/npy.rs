//! The NumPy `.npy` format (versions 1 to 3), as much as CIFAR-10-C and the
//! PyTorch reference benchmark need: the header, and C-ordered arrays of `|u1`
//! pixels, `|u1`, `<i4` or `<i8` labels and `<f4` values, read from a stream.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Element types hessx reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `|u1` (also `<u1`, `u1`): unsigned bytes.
    U8,
    /// `<i4`: little-endian 32-bit integers.
    I32,
    /// `<i8`: little-endian 64-bit integers.
    I64,
    /// `<f4`: little-endian 32-bit floats.
    F32,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::I32 => 4,
            Dtype::I64 => 8,
            Dtype::F32 => 4,
        }
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: Dtype,
    /// Array shape (C order).
    pub shape: Vec<usize>,
}

impl NpyHeader {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value text of `'key':` in the header dictionary.
fn field<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let start = dict.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = dict[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}']).unwrap_or(rest.len()) };
    Some(rest[..end].trim())
}

/// Read and parse the header at the start of `reader`; `name` labels errors.
pub fn read_header(reader: &mut (impl Read + ?Sized), name: &Path) -> Result<NpyHeader> {
    let bad = |m: String| Error::format(name, format!("not a NumPy .npy file: {m}"));
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic).map_err(|e| bad(format!("cannot read the magic bytes ({e})")))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad(format!("starts with {:?}, expected \\x93NUMPY", String::from_utf8_lossy(&magic[..6]))));
    }
    let header_len = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b).map_err(|e| bad(format!("truncated header ({e})")))?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            reader.read_exact(&mut b).map_err(|e| bad(format!("truncated header ({e})")))?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(bad(format!("format version {v}.{} is not 1, 2 or 3", magic[7]))),
    };
    if header_len > 1 << 20 {
        return Err(bad(format!("header length {header_len} is implausible")));
    }
    let mut text = vec![0u8; header_len];
    reader.read_exact(&mut text).map_err(|e| bad(format!("truncated header ({e})")))?;
    let dict = String::from_utf8_lossy(&text);
    let descr = field(&dict, "descr").ok_or_else(|| bad(format!("header {dict:?} has no 'descr'")))?.trim_matches(['\'', '"']);
    let dtype = match descr {
        "|u1" | "<u1" | "u1" => Dtype::U8,
        "<i4" => Dtype::I32,
        "<i8" => Dtype::I64,
        "<f4" => Dtype::F32,
        other => return Err(bad(format!("dtype '{other}' is not one of '|u1', '<i4', '<i8', '<f4'"))),
    };
    match field(&dict, "fortran_order") {
        Some("False") => {}
        Some(other) => return Err(bad(format!("fortran_order {other}: only C-ordered arrays are read"))),
        None => return Err(bad(format!("header {dict:?} has no 'fortran_order'"))),
    }
    let shape_text = field(&dict, "shape").ok_or_else(|| bad(format!("header {dict:?} has no 'shape'")))?;
    let shape = shape_text
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| bad(format!("shape {shape_text} is not a tuple of integers"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(NpyHeader { dtype, shape })
}

/// Read a 1-D label array that follows `header` in `reader`, as class indices.
pub fn read_labels(reader: &mut (impl Read + ?Sized), header: &NpyHeader, name: &Path) -> Result<Vec<u16>> {
    if header.shape.len() != 1 {
        return Err(Error::format(name, format!("labels have shape {:?}, expected one dimension", header.shape)));
    }
    let mut bytes = vec![0u8; header.len() * header.dtype.size()];
    reader.read_exact(&mut bytes).map_err(|e| Error::format(name, format!("truncated: {} labels announced ({e})", header.len())))?;
    let values: Vec<i64> = match header.dtype {
        Dtype::U8 => bytes.iter().map(|&b| b as i64).collect(),
        Dtype::I32 => bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64).collect(),
        Dtype::I64 => bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
        Dtype::F32 => return Err(Error::format(name, "labels are '<f4' floats, expected integers ('|u1', '<i4' or '<i8')")),
    };
    values
        .into_iter()
        .map(|v| u16::try_from(v).map_err(|_| Error::format(name, format!("label {v} is not a class index"))))
        .collect()
}

/// Read the `<f4` array that follows `header` in `reader`.
pub fn read_f32(reader: &mut (impl Read + ?Sized), header: &NpyHeader, name: &Path) -> Result<Vec<f32>> {
    if header.dtype != Dtype::F32 {
        return Err(Error::format(name, format!("dtype {:?}, expected '<f4' (float32)", header.dtype)));
    }
    let mut bytes = vec![0u8; header.len() * 4];
    reader.read_exact(&mut bytes).map_err(|e| Error::format(name, format!("truncated: {} values announced ({e})", header.len())))?;
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
}

/// Build a version 1.0 `.npy` header for `descr` and `shape` (padded to 64 bytes, as NumPy does).
pub fn write_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_label_dtypes_round_trip() {
        let name = Path::new("x.npy");
        let header = write_header("|u1", &[50, 32, 32, 3]);
        assert_eq!(header.len() % 64, 0);
        assert_eq!(read_header(&mut header.as_slice(), name).unwrap(), NpyHeader { dtype: Dtype::U8, shape: vec![50, 32, 32, 3] });
        for (descr, bytes) in [
            ("|u1", vec![3u8, 9]),
            ("<i4", [3i32, 9].iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("<i8", [3i64, 9].iter().flat_map(|v| v.to_le_bytes()).collect()),
        ] {
            let mut file = write_header(descr, &[2]);
            file.extend(bytes);
            let mut r = file.as_slice();
            let h = read_header(&mut r, name).unwrap();
            assert_eq!(read_labels(&mut r, &h, name).unwrap(), vec![3, 9], "{descr}");
        }
        // A NumPy-written header (no trailing comma in the dict, old-style spacing).
        let dict = b"{'descr': '<i8', 'fortran_order': False, 'shape': (7,)}      \n";
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        file.extend_from_slice(dict);
        assert_eq!(read_header(&mut file.as_slice(), name).unwrap().shape, vec![7]);
    }

    #[test]
    fn float32_arrays_read_and_mismatches_are_named() {
        let name = Path::new("x.npy");
        let values = [1.5f32, -2.25, 3.0e-7, f32::MAX, 0.0, 7.0];
        let mut file = write_header("<f4", &[2, 3]);
        file.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        let mut r = file.as_slice();
        let h = read_header(&mut r, name).unwrap();
        assert_eq!(h, NpyHeader { dtype: Dtype::F32, shape: vec![2, 3] });
        assert_eq!(read_f32(&mut r, &h, name).unwrap(), values);
        // Truncated data, floats read as labels, and integers read as floats all fail naming the file.
        let short = &file[..file.len() - 2];
        let mut r = short;
        let h = read_header(&mut r, name).unwrap();
        assert!(read_f32(&mut r, &h, name).unwrap_err().to_string().contains("x.npy"));
        let mut floats = write_header("<f4", &[2]);
        floats.extend([1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()));
        let mut r = floats.as_slice();
        let h = read_header(&mut r, name).unwrap();
        let err = read_labels(&mut r, &h, name).unwrap_err().to_string();
        assert!(err.contains("expected integers"), "{err}");
        let mut ints = write_header("<i8", &[1]);
        ints.extend(5i64.to_le_bytes());
        let mut r = ints.as_slice();
        let h = read_header(&mut r, name).unwrap();
        assert!(read_f32(&mut r, &h, name).unwrap_err().to_string().contains("'<f4'"));
    }

    #[test]
    fn bad_headers_are_named() {
        let name = Path::new("bad.npy");
        let err = read_header(&mut &b"PK\x03\x04 not numpy"[..], name).unwrap_err().to_string();
        assert!(err.contains("bad.npy") && err.contains("NUMPY"), "{err}");
        let err = read_header(&mut write_header("<f8", &[2]).as_slice(), name).unwrap_err().to_string();
        assert!(err.contains("'<f8'"), "{err}");
        let mut fortran = write_header("|u1", &[2, 2]);
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran.splice(at..at + 5, b"True ".iter().copied());
        let err = read_header(&mut fortran.as_slice(), name).unwrap_err().to_string();
        assert!(err.contains("fortran_order True"), "{err}");
        let header = write_header("|u1", &[10]);
        let err = read_header(&mut &header[..20], name).unwrap_err().to_string();
        assert!(err.contains("truncated header"), "{err}");
        let mut file = write_header("<i8", &[3]);
        file.extend(7i64.to_le_bytes());
        let mut r = file.as_slice();
        let h = read_header(&mut r, name).unwrap();
        assert!(read_labels(&mut r, &h, name).unwrap_err().to_string().contains("truncated"));
    }
}
