//! Issue 19: every table hessx writes reads back after another writer
//! rewrote it. Each table is written by hessx, rewritten with arrow-rs the
//! way polars, pandas (through pyarrow) and hand-written pyarrow code store
//! the same values, and read back through `read_rows`: the rows and the run
//! identity must be exactly the originals. Incompatible columns must be
//! refused with the file, column, type found and type expected.

use std::fmt::Debug;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Int64Array, LargeListArray, ListArray, StringArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use hessx_store::{EigenMethod, ResidualKind, RunIdentity, TraceMethod};
use hessx_store::column::read_parquet;
use hessx_store::tables::{
    CheckpointRow, DensityRow, EigenvalueRow, EigenvectorRow, QuadratureRow, Row, TraceRow, TrainLogRow, read_rows,
    read_rows_with_identity, write_rows,
};
use parquet::arrow::ArrowWriter;

/// How a foreign writer stores hessx's canonical types.
#[derive(Debug, Clone, Copy)]
enum Style {
    /// Python polars: LargeUtf8 strings, `List` vectors as LargeList, nullable fields.
    Polars,
    /// Newer polars and `pl.Array`: Utf8View strings, FixedSizeList vectors whose item is named `element`.
    PolarsView,
    /// pandas through pyarrow: dictionary strings (categoricals), every integer Int64, float64 vectors
    /// as List<element>, an extra `__index_level_0__` column.
    Pandas,
    /// Hand-written pyarrow: the narrowest integer types that hold the values, f64 fixed-size vectors,
    /// columns in reverse order, an extra note column.
    Narrow,
}

const STYLES: [Style; 4] = [Style::Polars, Style::PolarsView, Style::Pandas, Style::Narrow];

/// Column `a` as `style` would store it.
fn restyle(a: &ArrayRef, style: Style) -> ArrayRef {
    let to = |t: DataType| cast(a, &t).unwrap();
    match (a.data_type(), style) {
        (DataType::Utf8, Style::Polars) => to(DataType::LargeUtf8),
        (DataType::Utf8, Style::PolarsView) => to(DataType::Utf8View),
        (DataType::Utf8, Style::Pandas) => {
            to(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)))
        }
        (DataType::Utf8, Style::Narrow) => {
            to(DataType::Dictionary(Box::new(DataType::UInt8), Box::new(DataType::LargeUtf8)))
        }
        (DataType::Int64 | DataType::UInt32 | DataType::UInt8, Style::Pandas) => to(DataType::Int64),
        (DataType::Int64, Style::Narrow) => to(DataType::Int32),
        (DataType::UInt32, Style::Narrow) => to(DataType::UInt8),
        (DataType::UInt8, Style::Narrow) => to(DataType::Int16),
        (DataType::UInt32, Style::Polars) => to(DataType::Int64),
        (DataType::FixedSizeList(..), _) => restyle_vectors(a.as_fixed_size_list(), style),
        _ => Arc::clone(a),
    }
}

fn restyle_vectors(a: &FixedSizeListArray, style: Style) -> ArrayRef {
    let n = a.value_length();
    let lengths = std::iter::repeat_n(n as usize, a.len());
    let item = |name: &str, t: DataType| Arc::new(Field::new(name, t, true));
    let f64s = cast(a.values(), &DataType::Float64).unwrap();
    match style {
        Style::Polars => Arc::new(LargeListArray::new(
            item("item", DataType::Float32),
            OffsetBuffer::from_lengths(lengths),
            Arc::clone(a.values()),
            None,
        )),
        Style::PolarsView => {
            Arc::new(FixedSizeListArray::new(item("element", DataType::Float32), n, Arc::clone(a.values()), None))
        }
        Style::Pandas => Arc::new(ListArray::new(
            item("element", DataType::Float64),
            OffsetBuffer::from_lengths(lengths),
            f64s,
            None,
        )),
        Style::Narrow => Arc::new(FixedSizeListArray::new(item("v", DataType::Float64), n, f64s, None)),
    }
}

/// `batch` rewritten in `style`, with nullable fields as Python writers declare them.
fn rewrite(batch: &RecordBatch, style: Style) -> RecordBatch {
    let schema = batch.schema();
    let mut columns: Vec<(String, ArrayRef)> =
        schema.fields().iter().zip(batch.columns()).map(|(f, a)| (f.name().clone(), restyle(a, style))).collect();
    match style {
        Style::Pandas => {
            let index: ArrayRef = Arc::new(Int64Array::from_iter_values(0..batch.num_rows() as i64));
            columns.push(("__index_level_0__".into(), index));
        }
        Style::Narrow => {
            columns.reverse();
            let note: ArrayRef =
                Arc::new(StringArray::from_iter_values((0..batch.num_rows()).map(|i| format!("n{i}"))));
            columns.insert(1, ("note".into(), note));
        }
        Style::Polars | Style::PolarsView => {}
    }
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(n, a.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect()).unwrap()
}

/// Write `batch` with a plain arrow-rs writer (default properties, not hessx's).
fn write_foreign(path: &Path, batch: &RecordBatch) {
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn identity() -> RunIdentity {
    RunIdentity::new("edited", "resnet20", "cifar10", "gaussian_noise", 5)
}

/// Write `rows` as hessx does, rewrite the file in every style, and read each back.
fn reads_back_in_every_style<R: Row + PartialEq + Debug>(rows: Vec<R>) {
    let dir = tempfile::tempdir().unwrap();
    let canonical = dir.path().join("canonical.parquet");
    write_rows(&canonical, &identity(), &rows).unwrap();
    let batch = read_parquet(&canonical).unwrap();
    for style in STYLES {
        let path = dir.path().join(format!("{style:?}.parquet"));
        let foreign = rewrite(&batch, style);
        write_foreign(&path, &foreign);
        // The file really holds the foreign types (the test would be vacuous otherwise).
        let stored = read_parquet(&path).unwrap();
        assert_ne!(stored.schema(), batch.schema(), "{style:?} changed no type");
        let (id, back) = read_rows_with_identity::<R>(&path).unwrap_or_else(|e| panic!("{style:?}: {e}"));
        assert_eq!(back, rows, "{style:?}");
        assert_eq!(id, Some(identity()), "{style:?}");
        // Writing the rows again gives the canonical schema back.
        let again = dir.path().join("again.parquet");
        write_rows(&again, &identity(), &back).unwrap();
        assert_eq!(read_parquet(&again).unwrap().schema(), batch.schema(), "{style:?}");
    }
}

#[test]
fn eigenvectors_read_back() {
    reads_back_in_every_style(
        (0..3)
            .map(|r| EigenvectorRow {
                settings_id: "3f2a9c41d0b7".into(),
                step: 40,
                rank: r,
                eigenvalue: 12.5 / (1.0 + r as f64),
                vector: (0..7).map(|i| ((i * 3 + r as usize) as f32 * 0.37).sin()).collect(),
            })
            .collect(),
    );
}

#[test]
fn eigenvalues_read_back() {
    reads_back_in_every_style(
        (0..4)
            .map(|r| EigenvalueRow {
                settings_id: format!("{r:012x}"),
                step: 10 * r as i64,
                rank: r % 2,
                eigenvalue: 3.25 - r as f64,
                residual: 1e-5 * r as f64,
                residual_kind: if r < 2 { ResidualKind::LanczosEstimate } else { ResidualKind::Explicit },
                converged: r != 2,
                iterations: 40 + r as i64,
                hvps: 60,
                method: if r < 2 { EigenMethod::Lanczos } else { EigenMethod::Power },
                seconds: 0.75,
                num_params: 272_474,
                spectrum_end: if r == 3 { hessx_store::SpectrumEnd::Bottom } else { hessx_store::SpectrumEnd::Top },
            })
            .collect(),
    );
}

#[test]
fn trace_density_and_quadrature_read_back() {
    reads_back_in_every_style(
        [TraceMethod::Hutchinson, TraceMethod::Hutchpp, TraceMethod::Slq]
            .iter()
            .enumerate()
            .map(|(i, m)| TraceRow {
                settings_id: "0123456789ab".into(),
                step: i as i64,
                method: *m,
                estimate: 100.0 + i as f64,
                std_error: 0.5,
                probes: 20,
                converged: i != 1,
                hvps: 40,
                seconds: 2.0,
                half_width_95: 1.05,
            })
            .collect(),
    );
    reads_back_in_every_style(
        (0..5)
            .map(|i| DensityRow { settings_id: "0123456789ab".into(), step: 0, lambda: -1.0 + 0.5 * i as f64, density: 0.1 * i as f64, sigma: 0.01 })
            .collect(),
    );
    reads_back_in_every_style(
        (0..5).map(|i| QuadratureRow { settings_id: "0123456789ab".into(), step: 20, probe: i / 2, node: i as f64 * 1.5, weight: 0.2, residual: 1e-9 }).collect(),
    );
}

#[test]
fn training_tables_read_back() {
    reads_back_in_every_style(
        (0..3)
            .map(|i| CheckpointRow {
                step: 10 * i,
                epoch: 0,
                batch: 10 * i,
                lr: 0.01,
                train_loss: 2.0 - 0.1 * i as f64,
                train_accuracy: 0.3 + 0.1 * i as f64,
                heldout_loss: 2.1,
                heldout_accuracy: 0.25,
                file: format!("checkpoints/step-{:08}.mpk", 10 * i),
                sha256: format!("{i:064x}"),
                heldout_auc: 0.5 + 0.1 * i as f64,
            })
            .collect(),
    );
    reads_back_in_every_style(
        (1..6)
            .map(|i| TrainLogRow {
                step: i,
                epoch: 0,
                batch: i,
                lr: 0.01,
                loss: 1.0 / i as f64,
                accuracy: 0.5,
                seconds: 0.1,
                sharpness: 2.0 + i as f64,
                sharpness_residual: 0.01,
                sharpness_hvps: 11,
                sharpness_seconds: 0.05,
            })
            .collect(),
    );
}

/// `rows` written by hessx, with column `name` replaced by `replacement`.
fn with_column<R: Row>(path: &Path, rows: &[R], name: &str, replacement: ArrayRef) {
    write_rows(path, &identity(), rows).unwrap();
    let batch = read_parquet(path).unwrap();
    let (fields, mut columns): (Vec<Field>, Vec<ArrayRef>) =
        batch.schema().fields().iter().zip(batch.columns()).map(|(f, a)| (f.as_ref().clone(), Arc::clone(a))).unzip();
    let i = fields.iter().position(|f| f.name() == name).unwrap();
    let mut fields = fields;
    fields[i] = Field::new(name, replacement.data_type().clone(), true);
    columns[i] = replacement;
    write_foreign(path, &RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap());
}

fn vector_rows(n: usize) -> Vec<EigenvectorRow> {
    (0..n as u32).map(|r| EigenvectorRow { settings_id: "0123456789ab".into(), step: 0, rank: r, eigenvalue: 1.0, vector: vec![0.5; 3] }).collect()
}

fn error_of(path: &Path) -> String {
    read_rows::<EigenvectorRow>(path).unwrap_err().to_string()
}

#[test]
fn incompatible_columns_are_refused_naming_file_column_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("step-00000000.parquet");
    let rows = vector_rows(2);

    with_column(&path, &rows, "rank", Arc::new(StringArray::from(vec!["0", "1"])));
    let err = error_of(&path);
    for needle in ["step-00000000.parquet", "`rank`", "is Utf8", "expected UInt32", "integer"] {
        assert!(err.contains(needle), "lacks {needle}: {err}");
    }

    with_column(&path, &rows, "rank", Arc::new(Int64Array::from(vec![0, -1])));
    let err = error_of(&path);
    assert!(err.contains("`rank`") && err.contains("Int64") && err.contains("does not fit"), "{err}");

    with_column(&path, &rows, "step", Arc::new(arrow::array::Float64Array::from(vec![0.0, 0.0])));
    let err = error_of(&path);
    assert!(err.contains("`step`") && err.contains("is Float64") && err.contains("expected Int64"), "{err}");

    let ragged = ListArray::from_iter_primitive::<arrow::datatypes::Float64Type, _, _>(vec![
        Some(vec![Some(1.0), Some(0.0), Some(0.0)]),
        Some(vec![Some(1.0), Some(0.0)]),
    ]);
    with_column(&path, &rows, "vector", Arc::new(ragged));
    let err = error_of(&path);
    assert!(err.contains("`vector`") && err.contains("row 1 has 2"), "{err}");

    with_column(&path, &rows, "run", Arc::new(Int64Array::from(vec![1, 1])));
    let err = read_rows_with_identity::<EigenvectorRow>(&path).unwrap_err().to_string();
    assert!(err.contains("`run`") && err.contains("is Int64") && err.contains("expected Utf8"), "{err}");

    let holes = ListArray::from_iter_primitive::<arrow::datatypes::Float64Type, _, _>(vec![
        Some(vec![Some(1.0), None, Some(0.0)]),
        Some(vec![Some(1.0), Some(0.0), Some(0.0)]),
    ]);
    with_column(&path, &rows, "vector", Arc::new(holes));
    assert!(error_of(&path).contains("1 vector items are missing"), "{}", error_of(&path));
}

#[test]
fn a_missing_column_is_named_with_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let batch = RecordBatch::try_from_iter([
        ("settings_id", Arc::new(StringArray::from(vec!["0123456789ab"])) as ArrayRef),
        ("step", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
    ])
    .unwrap();
    write_foreign(&path, &batch);
    let err = read_rows::<EigenvectorRow>(&path).unwrap_err().to_string();
    assert!(err.contains("t.parquet") && err.contains("no column `rank`") && err.contains("UInt32"), "{err}");
}
