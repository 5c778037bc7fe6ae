//! Cast on read: a table that a person loaded in polars, pandas or pyarrow,
//! edited and wrote back holds the same values in other Arrow types (issue
//! 19). Every reader goes through [`conform`], which turns a column into the
//! exact type hessx writes, so the decoders in [`crate::column`] only ever
//! see the canonical types. Writers are not affected: hessx writes one
//! canonical schema (see [`crate::tables`]).
//!
//! What reads back as each canonical type:
//!
//! | hessx writes | also accepted |
//! |---|---|
//! | `Utf8` | `LargeUtf8` (polars, pandas), `Utf8View` (polars), dictionary-encoded strings (pandas categoricals) |
//! | an integer (`Int64`, `UInt32`, `UInt8`) | any integer type, as long as every value fits (pandas' `Int64` for a `UInt32` rank, `Int32`, ...) |
//! | a float (`Float64`, `Float32`) | any floating-point or integer type |
//! | `Boolean` | nothing else |
//! | `FixedSizeList<Float32>` (a vector) | `FixedSizeList`, `List` or `LargeList` of `Float16`/`Float32`/`Float64`, any item name, nullable or not, as long as every row has the same length and no item is missing |
//! | `FixedSizeBinary` (a blob) | `Binary`, `LargeBinary` or `BinaryView` whose values all have the same length |
//!
//! Any of these may also come dictionary-encoded. Extra columns and column
//! order never matter: readers look columns up by name. Everything else is
//! refused, and the caller's error names the column, the type found and the
//! type expected.
//!
//! A missing column is an error, except for a column added to a table after
//! tables were written with it absent: its row type declares the value old
//! tables meant (`pub spectrum_end: SpectrumEnd = SpectrumEnd::Top` in
//! `eigenvalues.parquet`, issue 18), read in every row
//! ([`read_column_or`](crate::column::read_column_or)).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryArray, FixedSizeListArray};
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, FieldRef};

/// Turn `array` into an array of type `expected` (the type hessx writes for
/// this column) when its type is a logically equal one.
///
/// For a fixed-size list or binary `expected`, only the item type matters:
/// the length comes from the data. Returns why not otherwise, as a clause to
/// follow "column `x` is T, expected U".
pub fn conform(array: &ArrayRef, expected: &DataType) -> Result<ArrayRef, String> {
    let found = array.data_type();
    if found == expected {
        return Ok(Arc::clone(array));
    }
    if let DataType::Dictionary(_, values) = found {
        let plain = cast(array, values).map_err(|e| format!("its dictionary cannot be unpacked ({e})"))?;
        return conform(&plain, expected);
    }
    match expected {
        DataType::Utf8 if matches!(found, DataType::LargeUtf8 | DataType::Utf8View) => {
            cast(array, expected).map_err(|e| e.to_string())
        }
        t if t.is_integer() && found.is_integer() => {
            // Checked: a value that does not fit is an error, not a null or a wrap.
            let checked = CastOptions { safe: false, ..Default::default() };
            cast_with_options(array, expected, &checked).map_err(|e| format!("a value does not fit ({e})"))
        }
        t if t.is_floating() && (found.is_floating() || found.is_integer()) => {
            cast(array, expected).map_err(|e| e.to_string())
        }
        DataType::FixedSizeList(item, _) if item.data_type().is_floating() => vectors(array, item),
        DataType::FixedSizeBinary(_) => blobs(array),
        _ => Err(accepted(expected)),
    }
}

/// What `conform` accepts for `expected`, as a sentence for errors.
fn accepted(expected: &DataType) -> String {
    match expected {
        DataType::Utf8 => "strings are read from Utf8, LargeUtf8, Utf8View or dictionary-encoded strings".into(),
        t if t.is_integer() => "any integer type is read when its values fit".into(),
        t if t.is_floating() => "any floating-point or integer type is read".into(),
        DataType::FixedSizeList(..) => {
            "vectors are read from a List, LargeList or FixedSizeList of Float32 or Float64".into()
        }
        DataType::FixedSizeBinary(_) => "blobs are read from FixedSizeBinary, Binary, LargeBinary or BinaryView".into(),
        other => format!("only {other} is read"),
    }
}

/// One vector per row, as a fixed-size list with the canonical item field.
fn vectors(array: &ArrayRef, item: &FieldRef) -> Result<ArrayRef, String> {
    // Row boundaries in the child array, and the child array itself.
    let (bounds, values): (Vec<usize>, &ArrayRef) = match array.data_type() {
        DataType::FixedSizeList(_, n) => {
            let a = array.as_fixed_size_list();
            ((0..=a.len()).map(|i| i * *n as usize).collect(), a.values())
        }
        DataType::List(_) => {
            let a = array.as_list::<i32>();
            (a.value_offsets().iter().map(|&o| o as usize).collect(), a.values())
        }
        DataType::LargeList(_) => {
            let a = array.as_list::<i64>();
            (a.value_offsets().iter().map(|&o| o as usize).collect(), a.values())
        }
        _ => return Err(accepted(&DataType::FixedSizeList(Arc::clone(item), 0))),
    };
    if !values.data_type().is_floating() {
        return Err(format!(
            "its items are {}, {}",
            values.data_type(),
            accepted(&DataType::FixedSizeList(Arc::clone(item), 0))
        ));
    }
    let (first, last) = (bounds[0], bounds[bounds.len() - 1]);
    let used = values.slice(first, last - first);
    if used.null_count() > 0 {
        return Err(format!("{} vector items are missing", used.null_count()));
    }
    let len = bounds.get(1).map_or(0, |b| b - first);
    if let Some(row) = bounds.windows(2).position(|w| w[1] - w[0] != len) {
        let other = bounds[row + 1] - bounds[row];
        return Err(format!("vectors must all have one length, but row 0 has {len} items and row {row} has {other}"));
    }
    // Rows are contiguous in the child array, so the used slice is the flat data.
    let flat = cast(&used, item.data_type()).map_err(|e| e.to_string())?;
    let n = i32::try_from(len).map_err(|_| format!("vectors of {len} items are too long"))?;
    FixedSizeListArray::try_new_with_length(Arc::clone(item), n, flat, None, bounds.len() - 1)
        .map(|a| Arc::new(a) as ArrayRef)
        .map_err(|e| e.to_string())
}

/// Variable-length binary whose values all have one length, as fixed-size binary.
fn blobs(array: &ArrayRef) -> Result<ArrayRef, String> {
    let values: Vec<&[u8]> = match array.data_type() {
        DataType::FixedSizeBinary(_) => return Ok(Arc::clone(array)),
        DataType::Binary => array.as_binary::<i32>().iter().map(Option::unwrap_or_default).collect(),
        DataType::LargeBinary => array.as_binary::<i64>().iter().map(Option::unwrap_or_default).collect(),
        DataType::BinaryView => array.as_binary_view().iter().map(Option::unwrap_or_default).collect(),
        _ => return Err(accepted(&DataType::FixedSizeBinary(0))),
    };
    let Some(len) = values.first().map(|v| v.len()) else {
        return Ok(Arc::new(FixedSizeBinaryArray::new_null(0, 0)));
    };
    if let Some(row) = values.iter().position(|v| v.len() != len) {
        return Err(format!(
            "blobs must all have one length, but row 0 has {len} bytes and row {row} has {} bytes",
            values[row].len()
        ));
    }
    FixedSizeBinaryArray::try_from_iter(values.into_iter()).map(|a| Arc::new(a) as ArrayRef).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        DictionaryArray, Float64Array, Int8Array, Int32Array, Int64Array, LargeBinaryArray, LargeListArray,
        LargeStringArray, ListArray, StringArray, StringViewArray, UInt8Array, UInt32Array,
    };
    use arrow::datatypes::{Field, Float64Type, Int8Type, Int32Type};

    fn canonical_vector() -> DataType {
        DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 0)
    }

    #[test]
    fn strings_in_every_layout_read_as_utf8() {
        let want: ArrayRef = Arc::new(StringArray::from(vec!["a", "bb", "a"]));
        let large: ArrayRef = Arc::new(LargeStringArray::from(vec!["a", "bb", "a"]));
        let view: ArrayRef = Arc::new(StringViewArray::from(vec!["a", "bb", "a"]));
        let dict: ArrayRef = Arc::new(vec!["a", "bb", "a"].into_iter().collect::<DictionaryArray<Int8Type>>());
        let large_dict: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::new(
            Int32Array::from(vec![1, 0, 1]),
            Arc::new(LargeStringArray::from(vec!["bb", "a"])),
        ));
        for a in [large, view, dict, large_dict] {
            assert_eq!(&conform(&a, &DataType::Utf8).unwrap(), &want, "{}", a.data_type());
        }
    }

    #[test]
    fn integers_of_any_width_read_when_they_fit() {
        let wide: ArrayRef = Arc::new(Int64Array::from(vec![0, 3, 255]));
        let got = conform(&wide, &DataType::UInt8).unwrap();
        assert_eq!(got.as_primitive::<arrow::datatypes::UInt8Type>(), &UInt8Array::from(vec![0, 3, 255]));
        let narrow: ArrayRef = Arc::new(Int8Array::from(vec![-2, 7]));
        let got = conform(&narrow, &DataType::Int64).unwrap();
        assert_eq!(got.as_primitive::<arrow::datatypes::Int64Type>(), &Int64Array::from(vec![-2, 7]));

        let too_big: ArrayRef = Arc::new(Int64Array::from(vec![0, 256]));
        assert!(conform(&too_big, &DataType::UInt8).unwrap_err().contains("does not fit"));
        let negative: ArrayRef = Arc::new(Int32Array::from(vec![-1]));
        assert!(conform(&negative, &DataType::UInt32).unwrap_err().contains("does not fit"));
        let float: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        assert!(conform(&float, &DataType::UInt32).unwrap_err().contains("integer"));
    }

    #[test]
    fn integers_and_floats_read_as_floats_but_strings_do_not() {
        let ints: ArrayRef = Arc::new(UInt32Array::from(vec![1, 2]));
        let got = conform(&ints, &DataType::Float64).unwrap();
        assert_eq!(got.as_primitive::<Float64Type>(), &Float64Array::from(vec![1.0, 2.0]));
        let text: ArrayRef = Arc::new(StringArray::from(vec!["1.0"]));
        assert!(conform(&text, &DataType::Float64).is_err());
        let flags: ArrayRef = Arc::new(arrow::array::BooleanArray::from(vec![true]));
        assert!(conform(&ints, &DataType::Boolean).unwrap_err().contains("only Boolean"));
        assert!(conform(&flags, &DataType::Boolean).is_ok());
    }

    #[test]
    fn lists_of_f64_read_as_fixed_size_f32_vectors() {
        let rows = vec![Some(vec![Some(1.0), Some(2.0)]), Some(vec![Some(3.0), Some(-4.5)])];
        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(rows.clone()));
        let large: ArrayRef = Arc::new(LargeListArray::from_iter_primitive::<Float64Type, _, _>(rows));
        for a in [list, large] {
            let got = conform(&a, &canonical_vector()).unwrap();
            let got = got.as_fixed_size_list();
            assert_eq!(got.value_length(), 2);
            assert_eq!(got.value_field().name(), "item");
            let flat = got.values().as_primitive::<arrow::datatypes::Float32Type>();
            assert_eq!(flat.values().to_vec(), vec![1.0, 2.0, 3.0, -4.5]);
        }
    }

    #[test]
    fn a_sliced_list_reads_only_its_own_rows() {
        let rows = (0..4).map(|r| Some(vec![Some(r as f64), Some(10.0 + r as f64)]));
        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(rows).slice(1, 2));
        let got = conform(&list, &canonical_vector()).unwrap();
        let flat = got.as_fixed_size_list().values().as_primitive::<arrow::datatypes::Float32Type>().values().to_vec();
        assert_eq!(flat, vec![1.0, 11.0, 2.0, 12.0]);
    }

    #[test]
    fn ragged_vectors_missing_items_and_non_float_items_are_refused() {
        let ragged: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(3.0)]),
        ]));
        let err = conform(&ragged, &canonical_vector()).unwrap_err();
        assert!(err.contains("row 1 has 1"), "{err}");
        let holes: ArrayRef =
            Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(vec![Some(1.0), None])]));
        assert!(conform(&holes, &canonical_vector()).unwrap_err().contains("missing"));
        let ints: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]));
        assert!(conform(&ints, &canonical_vector()).unwrap_err().contains("items are Int32"));
    }

    #[test]
    fn binary_of_one_length_reads_as_fixed_size_binary() {
        let blobs: ArrayRef = Arc::new(LargeBinaryArray::from_vec(vec![&b"abc"[..], &b"def"[..]]));
        let got = conform(&blobs, &DataType::FixedSizeBinary(0)).unwrap();
        assert_eq!(got.as_fixed_size_binary().value(1), b"def");
        let ragged: ArrayRef = Arc::new(LargeBinaryArray::from_vec(vec![&b"abc"[..], &b"de"[..]]));
        assert!(conform(&ragged, &DataType::FixedSizeBinary(0)).unwrap_err().contains("row 1 has 2 bytes"));
    }
}
