//! The canonical schema of every run table is documented where people look
//! (the README's Outputs section and the `tables` module docs), and these
//! tests keep the documents equal to what the writers write.

use arrow::datatypes::DataType;
use hessx_store::RunIdentity;
use hessx_store::tables::{
    CheckpointRow, DensityRow, EigenvalueRow, EigenvectorRow, QuadratureRow, Row, TraceRow, TrainLogRow, write_rows,
};

/// A column type as the documents spell it.
fn type_name(t: &DataType) -> String {
    match t {
        DataType::FixedSizeList(item, _) => format!("FixedSizeList of {}", item.data_type()),
        other => other.to_string(),
    }
}

/// The columns `R` writes after the identity columns, as documented: "`name` Type, ...".
fn columns_line<R: Row>() -> String {
    R::columns(&[])
        .iter()
        .map(|(name, a)| format!("`{name}` {}", type_name(a.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each table's documented file name and its columns line.
fn tables() -> Vec<(&'static str, String)> {
    vec![
        ("checkpoints.parquet", columns_line::<CheckpointRow>()),
        ("train_log.parquet", columns_line::<TrainLogRow>()),
        ("eigenvalues.parquet", columns_line::<EigenvalueRow>()),
        ("eigenvectors/<settings_id>/step-NNNNNNNN.parquet", columns_line::<EigenvectorRow>()),
        ("eigenvectors/<settings_id>/bottom/step-NNNNNNNN.parquet", columns_line::<EigenvectorRow>()),
        ("trace.parquet", columns_line::<TraceRow>()),
        ("density.parquet", columns_line::<DensityRow>()),
        ("lanczos_nodes.parquet", columns_line::<QuadratureRow>()),
    ]
}

/// Check that `doc` (the text of `what`) has a row `| \`file\` | columns |` for every table.
fn documents_every_table(doc: &str, what: &str, prefix: &str) {
    let mut wrong = Vec::new();
    for (file, line) in tables() {
        let row = format!("{prefix}| `{file}` | {line} |");
        if !doc.lines().any(|l| l.trim_end() == row) {
            wrong.push(row);
        }
    }
    assert!(
        wrong.is_empty(),
        "{what} does not document the canonical schema; these rows are expected:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn readme_documents_the_canonical_schema() {
    let readme = include_str!("../../../../README.md");
    documents_every_table(readme, "README.md (Outputs)", "");
    let identity = "`run` Utf8, `model` Utf8, `dataset` Utf8, `corruption` Utf8, `severity` UInt8";
    assert!(readme.contains(identity), "README.md lacks the identity columns `{identity}`");
}

#[test]
fn tables_module_documents_the_canonical_schema() {
    documents_every_table(include_str!("../../src/tables.rs"), "src/tables.rs (module docs)", "//! ");
}

#[test]
fn identity_columns_are_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    hessx_store::row_type! {
        /// Any row: only the identity columns ahead of it matter here.
        pub struct Step { pub step: i64 }
    }
    write_rows(&path, &RunIdentity::new("r", "m", "d", "none", 0), &[Step { step: 3 }]).unwrap();
    let batch = hessx_store::column::read_parquet(&path).unwrap();
    let schema = batch.schema();
    let identity: Vec<String> =
        schema.fields().iter().take(5).map(|f| format!("`{}` {}", f.name(), f.data_type())).collect();
    assert_eq!(identity.join(", "), "`run` Utf8, `model` Utf8, `dataset` Utf8, `corruption` Utf8, `severity` UInt8");
    assert!(schema.fields().iter().all(|f| !f.is_nullable()), "hessx writes every column non-nullable");
}
