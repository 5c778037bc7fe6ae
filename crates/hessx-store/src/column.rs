//! Typed columns and Parquet I/O: the one place that turns rows of plain Rust
//! values into Arrow arrays and back, and reads or writes a Parquet file with
//! errors that name it.
//!
//! Each [`Column`] writes one canonical Arrow type; reading goes through
//! [`crate::conform`] first, so a column in a logically equal type (as
//! polars, pandas or pyarrow write it) reads back too.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, FixedSizeListArray, Float32Array, Float64Array,
    Int64Array, StringArray, UInt8Array, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::{Error, Result, write_atomic};

/// A Rust type stored as one Arrow column.
pub trait Column: Sized + Clone {
    /// Build the Arrow array holding `values`.
    fn to_array(values: Vec<&Self>) -> ArrayRef;
    /// Read an Arrow array back; `None` when its type is not this one.
    fn from_array(array: &dyn Array) -> Option<Vec<Self>>;
    /// The Arrow type's name, for error messages.
    const TYPE_NAME: &'static str;
    /// The Arrow type [`Column::to_array`] writes, which [`read_column`]
    /// casts a logically equal column to before [`Column::from_array`]
    /// (vectors and blobs: the length is taken from the data).
    fn canonical_type() -> DataType {
        Self::to_array(Vec::new()).data_type().clone()
    }
}

macro_rules! primitive_column {
    ($t:ty, $arr:ty, $name:literal) => {
        impl Column for $t {
            const TYPE_NAME: &'static str = $name;
            fn to_array(values: Vec<&Self>) -> ArrayRef {
                Arc::new(<$arr>::from_iter_values(values.into_iter().cloned()))
            }
            fn from_array(array: &dyn Array) -> Option<Vec<Self>> {
                let a = array.as_any().downcast_ref::<$arr>()?;
                Some(a.values().iter().copied().collect())
            }
        }
    };
}
primitive_column!(i64, Int64Array, "Int64");
primitive_column!(u32, UInt32Array, "UInt32");
primitive_column!(u8, UInt8Array, "UInt8");
primitive_column!(f64, Float64Array, "Float64");
primitive_column!(f32, Float32Array, "Float32");

impl Column for bool {
    const TYPE_NAME: &'static str = "Boolean";
    fn to_array(values: Vec<&Self>) -> ArrayRef {
        Arc::new(BooleanArray::from(values.into_iter().copied().collect::<Vec<_>>()))
    }
    fn from_array(array: &dyn Array) -> Option<Vec<Self>> {
        let a = array.as_any().downcast_ref::<BooleanArray>()?;
        Some((0..a.len()).map(|i| a.value(i)).collect())
    }
}

impl Column for String {
    const TYPE_NAME: &'static str = "Utf8";
    fn to_array(values: Vec<&Self>) -> ArrayRef {
        Arc::new(StringArray::from_iter_values(values))
    }
    fn from_array(array: &dyn Array) -> Option<Vec<Self>> {
        let a = array.as_any().downcast_ref::<StringArray>()?;
        Some((0..a.len()).map(|i| a.value(i).to_owned()).collect())
    }
}

/// A vector stored one per row as a fixed-size list of f32 (all rows of a
/// table have the same length).
impl Column for Vec<f32> {
    const TYPE_NAME: &'static str = "FixedSizeList<Float32>";
    fn to_array(values: Vec<&Self>) -> ArrayRef {
        let len = values.first().map_or(0, |v| v.len());
        assert!(values.iter().all(|v| v.len() == len), "vectors in one table must share a length");
        let flat: Vec<f32> = values.into_iter().flat_map(|v| v.iter().copied()).collect();
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        Arc::new(FixedSizeListArray::new(item, len as i32, Arc::new(Float32Array::from(flat)), None))
    }
    fn from_array(array: &dyn Array) -> Option<Vec<Self>> {
        let a = array.as_any().downcast_ref::<FixedSizeListArray>()?;
        let values = a.values().as_any().downcast_ref::<Float32Array>()?;
        let len = a.value_length() as usize;
        let flat = values.values();
        let offset = a.offset() * len;
        Some((0..a.len()).map(|i| flat[offset + i * len..offset + (i + 1) * len].to_vec()).collect())
    }
}

/// Fixed-size binary blobs (for example one image's pixels per row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl Column for Blob {
    const TYPE_NAME: &'static str = "FixedSizeBinary";
    fn to_array(values: Vec<&Self>) -> ArrayRef {
        let len = values.first().map_or(0, |v| v.0.len());
        if values.is_empty() {
            return Arc::new(FixedSizeBinaryArray::new_null(0, 0));
        }
        Arc::new(
            FixedSizeBinaryArray::try_from_iter(values.into_iter().map(|b| b.0.as_slice()))
                .unwrap_or_else(|e| panic!("blobs in one table must share a length ({len}): {e}")),
        )
    }
    fn from_array(array: &dyn Array) -> Option<Vec<Self>> {
        let a = array.as_any().downcast_ref::<FixedSizeBinaryArray>()?;
        Some((0..a.len()).map(|i| Blob(a.value(i).to_vec())).collect())
    }
}

/// Read column `name` of `batch` as `T`, casting a logically equal type to
/// the canonical one first, with an error naming the file, the column, the
/// type found and the type expected.
pub fn read_column<T: Column>(batch: &RecordBatch, name: &str, path: &Path) -> Result<Vec<T>> {
    let array = conformed(batch, name, &T::canonical_type(), T::TYPE_NAME, path)?;
    T::from_array(array.as_ref()).ok_or_else(|| {
        Error::schema(path, format!("column `{name}` is {}, expected {}", array.data_type(), T::TYPE_NAME))
    })
}

/// The schema metadata of the Parquet file at `path` (its footer only; no row is read).
pub fn read_schema_metadata(path: &Path) -> Result<std::collections::HashMap<String, String>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| Error::Parquet { path: path.to_owned(), source })?;
    Ok(builder.schema().metadata().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Column `name` of `batch` as an array of type `expected` (for readers that
/// use the Arrow array itself), cast on read as [`read_column`] does.
pub fn read_array(batch: &RecordBatch, name: &str, expected: &DataType, path: &Path) -> Result<ArrayRef> {
    conformed(batch, name, expected, &expected.to_string(), path)
}

fn conformed(batch: &RecordBatch, name: &str, expected: &DataType, expected_name: &str, path: &Path) -> Result<ArrayRef> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| Error::schema(path, format!("has no column `{name}` (expected a {expected_name} column)")))?;
    if array.null_count() > 0 {
        return Err(Error::schema(path, format!("column `{name}` has {} missing values", array.null_count())));
    }
    crate::conform::conform(array, expected).map_err(|why| {
        Error::schema(path, format!("column `{name}` is {}, expected {expected_name}: {why}", array.data_type()))
    })
}

/// Build a record batch from named arrays (all non-nullable).
pub fn batch_from_columns(columns: Vec<(&str, ArrayRef)>) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), false)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect())
}

/// Write `batches` (which share a schema) to `path` atomically, zstd-compressed.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let Some(first) = batches.first() else {
        return Err(Error::schema(path, "nothing to write: no record batches"));
    };
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    write_atomic(path, |out| {
        let parquet_err = |source| Error::Parquet { path: path.to_owned(), source };
        let mut writer = ArrowWriter::try_new(out, first.schema(), Some(props)).map_err(parquet_err)?;
        for b in batches {
            writer.write(b).map_err(parquet_err)?;
        }
        writer.close().map_err(parquet_err)?;
        Ok(())
    })
}

/// Read the whole Parquet file at `path` as one record batch.
pub fn read_parquet(path: &Path) -> Result<RecordBatch> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let parquet_err = |source| Error::Parquet { path: path.to_owned(), source };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(65_536).build().map_err(parquet_err)?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| Error::Arrow { path: path.to_owned(), source })?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|source| Error::Arrow { path: path.to_owned(), source })
}

/// Column `name` of `batch` as [`read_column`] reads it, or `default` in
/// every row when the table has no such column and `default` is given: a
/// column added to a table later (issue 18's `spectrum_end`) still reads
/// from tables written before it, as the value those tables meant.
pub fn read_column_or<T: Column>(batch: &RecordBatch, name: &str, path: &Path, default: Option<T>) -> Result<Vec<T>> {
    match default {
        Some(d) if batch.column_by_name(name).is_none() => Ok(vec![d; batch.num_rows()]),
        _ => read_column(batch, name, path),
    }
}

/// Define a row type whose fields are [`Column`]s, with conversions to and
/// from a record batch. Field names are the column names. A field may give
/// a default, `pub f: T = expr`, read in every row of a table that lacks
/// the column (a column added after tables were written; see
/// [`read_column_or`]).
#[macro_export]
macro_rules! row_type {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty $(= $default:expr)?),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl $crate::tables::Row for $name {
            fn columns(rows: &[Self]) -> Vec<(&'static str, $crate::arrow::array::ArrayRef)> {
                vec![$((stringify!($field), <$ty as $crate::column::Column>::to_array(rows.iter().map(|r| &r.$field).collect()))),*]
            }
            fn from_batch(batch: &$crate::arrow::record_batch::RecordBatch, path: &std::path::Path) -> $crate::Result<Vec<Self>> {
                $(
                    let default: Option<$ty> = None $(.or(Some($default)))?;
                    let mut $field = $crate::column::read_column_or::<$ty>(batch, stringify!($field), path, default)?.into_iter();
                )*
                Ok((0..batch.num_rows()).map(|_| Self { $($field: $field.next().expect("column length equals row count")),* }).collect())
            }
        }
    };
}
