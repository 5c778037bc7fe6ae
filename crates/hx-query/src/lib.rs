//! hx-query: SQL (and Polars) over every table of a run directory.
//!
//! Each Parquet file of a run becomes a table named after its file stem
//! (`eigenvalues`, `trace`, `checkpoints`, `settings`, ...); the eigenvector
//! tables of every settings and checkpoint form one table `eigenvectors` (the
//! bottom end's, `hx-eigen --which smallest|both`, form `bottom_eigenvectors`;
//! an `eigenvalues` table written before issue 18 gets its `spectrum_end`
//! column as `top`, so one query serves old and new runs); the
//! analysis tables `analysis/*.parquet` are named after their stems too
//! (prefixed with `analysis_` if a run table has the same stem); the tables
//! of every loss surface (`landscape/<name>/`) form `landscape_surface`,
//! `landscape_directions`, `landscape_trajectory` and `landscape_curvature`,
//! told apart by their `fingerprint` column; the per-cell tables of every
//! robustness sweep (`robustness/<name>/`) form `robustness_cells`,
//! `robustness_eigenvalues`, `robustness_density` and
//! `robustness_correlations`, told apart by `settings_id`, each cell's
//! corruption and severity in the identity columns. Tables are scanned lazily, so a query that does not
//! select `vector` never loads the eigenvectors.
//!
//! ```no_run
//! let mut catalog = hx_query::Catalog::open(std::path::Path::new("runs/digits")).unwrap();
//! let df = catalog.query("SELECT step, rank, eigenvalue FROM eigenvalues ORDER BY step, rank").unwrap();
//! println!("{df}");
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use hessx_store::RunDir;
use hessx_store::landscape::LandscapeDir;
use hessx_store::robustness::SweepDir;
use polars::prelude::*;
use polars::sql::SQLContext;

/// What can go wrong opening or querying a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory does not exist or holds no Parquet table.
    #[error(
        "{0}: no Parquet tables found; pass a run directory written by hx-train / hx-eigen / hx-analyze"
    )]
    NoTables(PathBuf),
    /// The run directory's layout could not be read.
    #[error(transparent)]
    Store(#[from] hessx_store::Error),
    /// A directory could not be listed.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Polars could not scan a table.
    #[error("{path}: cannot be scanned as Parquet: {source}")]
    Scan {
        /// The table file.
        path: PathBuf,
        /// Polars' message.
        source: PolarsError,
    },
    /// The query failed.
    #[error("query failed: {message}\n(list the tables and their columns with --tables)")]
    Query {
        /// Polars' message, without the query plan it appends (one scan per file: hundreds of
        /// lines over a sweep's or an eigenvector table's files).
        message: String,
    },
    /// The result could not be written.
    #[error("{path}: cannot write the result: {message}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One registered table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Name used in SQL.
    pub name: String,
    /// The Parquet files it is made of.
    pub files: Vec<PathBuf>,
    /// Column names and types.
    pub columns: Vec<(String, String)>,
}

/// A run directory's tables, registered in a SQL context.
pub struct Catalog {
    ctx: SQLContext,
    tables: Vec<TableInfo>,
}

fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| e == "parquet")
                // Skip the temporary files of an interrupted atomic write.
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn scan(files: &[PathBuf]) -> Result<LazyFrame> {
    let one = |path: &PathBuf| {
        let p = PlRefPath::try_from_path(path).map_err(|source| Error::Scan {
            path: path.clone(),
            source,
        })?;
        LazyFrame::scan_parquet(p, ScanArgsParquet::default()).map_err(|source| Error::Scan {
            path: path.clone(),
            source,
        })
    };
    let mut frames = files.iter().map(one).collect::<Result<Vec<_>>>()?;
    if frames.len() == 1 {
        return Ok(frames.into_iter().next().expect("one frame"));
    }
    // Eigenvectors of settings over different parameter groups have different
    // lengths, so their fixed-size lists cannot be stacked: make them plain lists.
    let mut vector_types = Vec::new();
    for (frame, path) in frames.iter_mut().zip(files) {
        let schema = frame.collect_schema().map_err(|source| Error::Scan { path: path.clone(), source })?;
        vector_types.push(schema.get("vector").cloned());
    }
    if vector_types.windows(2).any(|w| w[0] != w[1]) {
        let list = DataType::List(Box::new(DataType::Float32));
        frames = frames.into_iter().map(|f| f.with_column(col("vector").cast(list.clone()))).collect();
    }
    concat(frames, UnionArgs::default()).map_err(|source| Error::Scan {
        path: files[0].clone(),
        source,
    })
}

impl Catalog {
    /// Register every table of the run directory `run`.
    pub fn open(run: &Path) -> Result<Self> {
        let dir = RunDir::new(run);
        let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
        for f in parquet_files(run)? {
            groups.push((stem(&f), vec![f]));
        }
        let eig: Vec<PathBuf> = dir.eigenvector_tables()?.into_iter().map(|(_, _, path)| path).collect();
        if !eig.is_empty() {
            groups.push(("eigenvectors".into(), eig));
        }
        let bottom: Vec<PathBuf> = dir.bottom_eigenvector_tables()?.into_iter().map(|(_, _, path)| path).collect();
        if !bottom.is_empty() {
            groups.push(("bottom_eigenvectors".into(), bottom));
        }
        for f in parquet_files(&dir.analysis_dir())? {
            let s = stem(&f);
            let name = if groups.iter().any(|(n, _)| *n == s) {
                format!("analysis_{s}")
            } else {
                s
            };
            groups.push((name, vec![f]));
        }
        // hx-landscape's tables of every surface form one table per kind, told apart by `fingerprint`.
        let surfaces = dir.landscapes()?;
        for (name, table) in [
            ("landscape_surface", LandscapeDir::surface as fn(&LandscapeDir) -> PathBuf),
            ("landscape_directions", LandscapeDir::directions),
            ("landscape_trajectory", LandscapeDir::trajectory),
            ("landscape_curvature", LandscapeDir::curvature),
        ] {
            let files: Vec<PathBuf> = surfaces.iter().map(table).filter(|p| p.is_file()).collect();
            if !files.is_empty() {
                groups.push((name.into(), files));
            }
        }
        // hx-robustness's per-cell tables of every sweep form one table per kind, told apart by `settings_id`.
        let sweeps = dir.robustness_sweeps()?;
        for (name, folder) in [
            ("robustness_cells", SweepDir::cells_dir as fn(&SweepDir) -> PathBuf),
            ("robustness_eigenvalues", SweepDir::eigenvalues_dir),
            ("robustness_density", SweepDir::density_dir),
        ] {
            let mut files = Vec::new();
            for sweep in &sweeps {
                files.extend(SweepDir::tables_in(&folder(sweep))?);
            }
            if !files.is_empty() {
                groups.push((name.into(), files));
            }
        }
        let correlations: Vec<PathBuf> = sweeps.iter().map(SweepDir::correlations).filter(|p| p.is_file()).collect();
        if !correlations.is_empty() {
            groups.push(("robustness_correlations".into(), correlations));
        }
        if groups.is_empty() {
            return Err(Error::NoTables(run.to_owned()));
        }
        let ctx = SQLContext::new();
        let mut tables = Vec::new();
        for (name, files) in groups {
            let mut lf = scan(&files)?;
            let mut schema = lf.collect_schema().map_err(|source| Error::Scan {
                path: files[0].clone(),
                source,
            })?;
            if files.len() == 1 && files[0] == dir.eigenvalues() && schema.get("spectrum_end").is_none() {
                // Written before `hx-eigen --which` (issue 18): every row is the top end.
                lf = lf.with_column(lit("top").alias("spectrum_end"));
                schema = lf.collect_schema().map_err(|source| Error::Scan { path: files[0].clone(), source })?;
            }
            let columns = schema
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            ctx.register(&name, lf);
            tables.push(TableInfo {
                name,
                files,
                columns,
            });
        }
        Ok(Catalog { ctx, tables })
    }

    /// The registered tables, in registration order.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    /// Run a SQL query and collect its result.
    pub fn query(&mut self, sql: &str) -> Result<DataFrame> {
        let lf = self.ctx.execute(sql).map_err(query_error)?;
        lf.collect().map_err(query_error)
    }
}

/// A failed query's error: Polars' message up to the plan it appends.
fn query_error(e: PolarsError) -> Error {
    let text = e.to_string();
    let message = text.split("\n\nResolved plan until failure").next().unwrap_or(&text).trim_end().to_owned();
    Error::Query { message }
}

/// Write `df` as CSV to `path`: `-` is stdout, a FIFO or device is written
/// through, a regular file (or the file a symbolic link names) atomically.
pub fn write_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    write_with(path, |out| CsvWriter::new(out).finish(df).map(|_| ()))
}

/// Write `df` as Parquet to `path`, with the same targets as [`write_csv`].
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    write_with(path, |out| ParquetWriter::new(out).finish(df).map(|_| ()))
}

fn write_with(path: &Path, write: impl FnOnce(&mut dyn std::io::Write) -> PolarsResult<()>) -> Result<()> {
    hessx_store::write_output(path, |out| write(out).map_err(|e| WriteFailure(e.to_string())))
        .map_err(|e: WriteFailure| Error::Write { path: path.to_owned(), message: e.0 })
}

/// Error carrier for [`hessx_store::write_output`], which needs `From<store::Error>`.
struct WriteFailure(String);

impl From<hessx_store::Error> for WriteFailure {
    /// Without the path, which [`Error::Write`] names once.
    fn from(e: hessx_store::Error) -> Self {
        WriteFailure(match e {
            hessx_store::Error::Io { source, .. } => source.to_string(),
            hessx_store::Error::Schema { message, .. } => message,
            other => other.to_string(),
        })
    }
}
