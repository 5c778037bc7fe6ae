//! Reading a run directory: every table the analysis can use, each one
//! optional, so a run with eigenvectors but no trace (or the reverse) still
//! gets a report that says what is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hessx_store::tables::{
    CheckpointRow, DensityRow, EigenvalueRow, EigenvectorRow, Row, SettingsRow, TraceRow, TrainLogRow, read_rows,
    read_rows_with_identity,
};
use hessx_store::{RunDir, RunIdentity, SpectrumEnd};
use tracing::info;

use crate::{Error, Result};

/// The eigenvectors of one checkpoint, ordered by rank.
#[derive(Debug, Clone)]
pub struct EigenBlock {
    /// Checkpoint step.
    pub step: i64,
    /// Rank of each vector (0 = largest eigenvalue).
    pub ranks: Vec<u32>,
    /// Eigenvalue of each vector.
    pub eigenvalues: Vec<f64>,
    /// Unit vectors over all parameters.
    pub vectors: Vec<Vec<f32>>,
}

/// Everything the analysis reads from a run directory.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// The identifying columns of the first table read.
    pub identity: Option<RunIdentity>,
    /// Eigenvectors per checkpoint, ordered by step (of the chosen eigenpair settings).
    pub blocks: Vec<EigenBlock>,
    /// `eigenvalues.parquet` rows of the chosen eigenpair settings, every `spectrum_end` (the blocks hold
    /// only the top vectors).
    pub eigenvalues: Option<Vec<EigenvalueRow>>,
    /// `trace.parquet` rows of the chosen spectrum settings.
    pub trace: Option<Vec<TraceRow>>,
    /// `density.parquet` rows of the chosen spectrum settings.
    pub density: Option<Vec<DensityRow>>,
    /// `checkpoints.parquet`.
    pub checkpoints: Option<Vec<CheckpointRow>>,
    /// `train_log.parquet`.
    pub train_log: Option<Vec<TrainLogRow>>,
    /// `config/*.toml` as `(file name, text)`, ordered by name.
    pub configs: Vec<(String, String)>,
    /// The settings the eigenpairs shown (values and vectors) were computed with.
    pub eigen_settings: Option<Chosen>,
    /// The settings the trace and density shown were computed with.
    pub spectrum_settings: Option<Chosen>,
    /// Tables that were absent, as sentences for the report.
    pub missing: Vec<String>,
    /// Top eigenvalue and trace per parameter block (`hx-eigen/hx-spectrum --blocks`, or runs with
    /// other `--params`), when more than one block was computed.
    pub per_block: Vec<BlockCurvature>,
}

/// The curvature of one parameter block (a `params` setting) over training.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockCurvature {
    /// The block, as its `params` setting (`all` for the whole model).
    pub params: String,
    /// Parameters in the block.
    pub num_params: i64,
    /// `(step, largest eigenvalue)`.
    pub top: Vec<(i64, f64)>,
    /// `(step, trace estimate, standard error)` of one trace method.
    pub trace: Vec<(i64, f64, f64)>,
    /// That trace method's name.
    pub trace_method: String,
}

impl RunData {
    /// Total number of eigenvectors over all checkpoints.
    pub fn num_vectors(&self) -> usize {
        self.blocks.iter().map(|b| b.vectors.len()).sum()
    }
    /// Length of the eigenvectors (number of parameters), if any were read.
    pub fn dim(&self) -> Option<usize> {
        self.blocks
            .iter()
            .flat_map(|b| b.vectors.first())
            .map(Vec::len)
            .next()
    }
}

fn optional<R: Row>(
    path: &Path,
    what: &str,
    missing: &mut Vec<String>,
    id: &mut Option<RunIdentity>,
) -> Result<Option<Vec<R>>> {
    if !path.exists() {
        missing.push(format!(
            "{} is absent: {what}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        return Ok(None);
    }
    let (table_id, rows) = read_rows_with_identity::<R>(path)?;
    if id.is_none() {
        *id = table_id;
    }
    info!(table = %path.display(), rows = rows.len(), "read");
    Ok(Some(rows))
}

/// The settings fingerprint a family of tables is shown for, among the ones present.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    /// Which tables: `eigenpairs` or `trace and density`.
    pub what: &'static str,
    /// The fingerprint shown.
    pub settings_id: String,
    /// Every fingerprint present, with a short description, ordered by preference.
    pub present: Vec<(String, String)>,
}

/// Pick the fingerprint to show among `candidates` (ordered by preference):
/// the one the user asked for with `--settings`, else the first.
fn choose(what: &'static str, candidates: Vec<(String, String)>, asked: &[String]) -> Option<Chosen> {
    let first = candidates.first()?.0.clone();
    let settings_id = candidates.iter().find(|(id, _)| asked.contains(id)).map_or(first, |(id, _)| id.clone());
    Some(Chosen { what, settings_id, present: candidates })
}

/// One line per settings fingerprint, from `settings.parquet` when present.
fn describe(settings: &[SettingsRow], id: &str, fallback: String) -> String {
    match settings.iter().find(|s| s.settings_id == id) {
        Some(s) => format!(
            "{} ({}), parameters {}, {} examples{}, bn {}, seed {}, {}",
            s.methods,
            s.stage,
            s.params,
            s.examples,
            if s.full_dataset { " (whole split)" } else { "" },
            s.bn_mode,
            s.seed,
            s.backend
        ),
        None => fallback,
    }
}

/// Read every table of `run` that exists. Curvature tables may hold rows of
/// several settings (`settings_id`); one fingerprint is shown per family:
/// those in `asked` (`--settings`) where they match, else the eigenpairs of
/// the most trusted method covering most checkpoints and the densities
/// covering most checkpoints. The eigenvectors analysed are always those of
/// the eigenvalues shown.
pub fn load(run: &RunDir, asked: &[String]) -> Result<RunData> {
    if !run.root().is_dir() {
        return Err(Error::NoRunDir(run.root().to_owned()));
    }
    let mut data = RunData::default();
    let (m, id) = (&mut data.missing, &mut data.identity);
    let settings: Vec<SettingsRow> = if run.settings().exists() { read_rows(&run.settings())? } else { Vec::new() };
    let values: Option<Vec<EigenvalueRow>> =
        optional(&run.eigenvalues(), "eigenvalue curves use the eigenvector tables' eigenvalues", m, id)?;
    let vector_tables = run.eigenvector_tables()?;
    // Eigenpair settings, most trusted method first, then most checkpoints.
    let mut eigen_ids: BTreeMap<String, (u8, BTreeSet<i64>, String)> = BTreeMap::new();
    for r in values.iter().flatten() {
        let e = eigen_ids.entry(r.settings_id.clone()).or_insert((r.method.preference(), BTreeSet::new(), r.method.name().into()));
        e.1.insert(r.step);
    }
    for (sid, step, _) in &vector_tables {
        eigen_ids.entry(sid.clone()).or_insert((u8::MAX, BTreeSet::new(), "eigenvectors only".into())).1.insert(*step);
    }
    let with_vectors = |sid: &str| vector_tables.iter().any(|(v, _, _)| v == sid);
    // Between settings that differ only in `--which`, the one with the bottom end too (issue 18).
    let with_bottom: BTreeSet<&str> =
        values.iter().flatten().filter(|r| r.spectrum_end == SpectrumEnd::Bottom).map(|r| r.settings_id.as_str()).collect();
    // A block of the parameters (--blocks) is shown beside the whole model, never instead of it.
    let partial = |sid: &str| settings.iter().any(|s| s.settings_id == sid && s.params != "all");
    let mut ranked: Vec<(&String, &(u8, BTreeSet<i64>, String))> = eigen_ids.iter().collect();
    ranked.sort_by_key(|(sid, (pref, steps, _))| {
        (!with_vectors(sid.as_str()), *pref, partial(sid.as_str()), usize::MAX - steps.len(), !with_bottom.contains(sid.as_str()), (*sid).clone())
    });
    let eigen_candidates: Vec<(String, String)> = ranked
        .iter()
        .map(|(sid, (_, steps, method))| {
            let fallback = method.clone();
            ((*sid).clone(), format!("{} — {} checkpoints", describe(&settings, sid, fallback), steps.len()))
        })
        .collect();
    data.eigen_settings = choose("eigenpairs", eigen_candidates, asked);
    let mut per_block = block_tops(&settings, values.as_deref().unwrap_or(&[]));
    let chosen_eigen = data.eigen_settings.as_ref().map(|c| c.settings_id.clone());
    data.eigenvalues = values.map(|rows| rows.into_iter().filter(|r| Some(&r.settings_id) == chosen_eigen.as_ref()).collect());

    let mut dim: Option<usize> = None;
    let mut by_step: BTreeMap<i64, Vec<EigenvectorRow>> = BTreeMap::new();
    let files: Vec<&PathBuf> =
        vector_tables.iter().filter(|(sid, _, _)| Some(sid) == chosen_eigen.as_ref()).map(|(_, _, p)| p).collect();
    for path in &files {
        let (table_id, rows) = read_rows_with_identity::<EigenvectorRow>(path)?;
        if data.identity.is_none() {
            data.identity = table_id;
        }
        for row in rows {
            let expected = *dim.get_or_insert(row.vector.len());
            if row.vector.len() != expected {
                return Err(Error::VectorLength { path: (*path).clone(), expected, found: row.vector.len() });
            }
            by_step.entry(row.step).or_default().push(row);
        }
    }
    data.blocks = by_step
        .into_iter()
        .map(|(step, mut rows)| {
            rows.sort_by_key(|r| r.rank);
            EigenBlock {
                step,
                ranks: rows.iter().map(|r| r.rank).collect(),
                eigenvalues: rows.iter().map(|r| r.eigenvalue).collect(),
                vectors: rows.into_iter().map(|r| r.vector).collect(),
            }
        })
        .collect();
    if data.blocks.is_empty() {
        data.missing.push("no eigenvectors (eigenvectors/<settings>/step-*.parquet): no PCA, cosine similarity, subspace overlap or tracking".into());
    } else {
        info!(
            files = files.len(),
            checkpoints = data.blocks.len(),
            vectors = data.num_vectors(),
            dim = dim.unwrap_or(0),
            settings = chosen_eigen.as_deref().unwrap_or(""),
            "eigenvectors read"
        );
    }

    let (m, id) = (&mut data.missing, &mut data.identity);
    let trace: Option<Vec<TraceRow>> = optional(&run.trace(), "no trace figure (run hx-spectrum)", m, id)?;
    let density: Option<Vec<DensityRow>> = optional(&run.density(), "no spectral density figure (run hx-spectrum)", m, id)?;
    // Spectrum settings: most checkpoints with a density first.
    let mut spectrum_ids: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for r in density.iter().flatten() {
        spectrum_ids.entry(r.settings_id.clone()).or_default().insert(r.step);
    }
    for r in trace.iter().flatten() {
        spectrum_ids.entry(r.settings_id.clone()).or_default().insert(r.step);
    }
    let mut ranked: Vec<(&String, &BTreeSet<i64>)> = spectrum_ids.iter().collect();
    ranked.sort_by_key(|(sid, steps)| (partial(sid.as_str()), usize::MAX - steps.len(), (*sid).clone()));
    add_block_traces(&mut per_block, &settings, trace.as_deref().unwrap_or(&[]));
    let labels: BTreeSet<&str> = per_block.iter().map(|b| b.params.as_str()).collect();
    if labels.len() > 1 {
        data.per_block = per_block;
    }
    let spectrum_candidates: Vec<(String, String)> = ranked
        .iter()
        .map(|(sid, steps)| {
            let fallback = "trace and density".to_string();
            ((*sid).clone(), format!("{} — {} checkpoints", describe(&settings, sid, fallback), steps.len()))
        })
        .collect();
    data.spectrum_settings = choose("trace and density", spectrum_candidates, asked);
    let chosen_spectrum = data.spectrum_settings.as_ref().map(|c| c.settings_id.clone());
    data.trace = trace.map(|rows| rows.into_iter().filter(|r| Some(&r.settings_id) == chosen_spectrum.as_ref()).collect());
    data.density = density.map(|rows| rows.into_iter().filter(|r| Some(&r.settings_id) == chosen_spectrum.as_ref()).collect());

    if let Some(unknown) = asked.iter().find(|a| Some(*a) != chosen_eigen.as_ref() && Some(*a) != chosen_spectrum.as_ref()) {
        let mut known: Vec<String> = eigen_ids.keys().chain(spectrum_ids.keys()).cloned().collect();
        known.sort();
        known.dedup();
        return Err(Error::UnknownSettings { asked: unknown.clone(), known });
    }
    for chosen in [&data.eigen_settings, &data.spectrum_settings].into_iter().flatten() {
        // Parameter blocks (--blocks) have their own figures; only other settings of the whole model are news.
        let others: Vec<&str> = chosen
            .present
            .iter()
            .map(|(id, _)| id.as_str())
            .filter(|id| *id != chosen.settings_id && !(partial(id) && !data.per_block.is_empty()))
            .collect();
        if !others.is_empty() {
            data.missing.push(format!(
                "{} were computed with several settings; shown: {}; also present: {} (choose with --settings ID)",
                chosen.what,
                chosen.settings_id,
                others.join(", ")
            ));
        }
    }

    let (m, id) = (&mut data.missing, &mut data.identity);
    data.checkpoints = optional(&run.checkpoints(), "no per-checkpoint loss or accuracy", m, id)?;
    data.train_log = optional(&run.train_log(), "no per-batch loss or accuracy", m, id)?;
    data.configs = read_configs(run)?;
    let nothing_else = [
        data.eigenvalues.is_none(),
        data.trace.is_none(),
        data.density.is_none(),
        data.checkpoints.is_none(),
        data.train_log.is_none(),
    ]
    .iter()
    .all(|&absent| absent);
    if data.blocks.is_empty() && nothing_else {
        return Err(Error::NothingToAnalyze(run.root().to_owned()));
    }
    Ok(data)
}

/// The largest eigenvalue per checkpoint of each parameter block (one settings per block: the one with the
/// most checkpoints).
fn block_tops(settings: &[SettingsRow], values: &[EigenvalueRow]) -> Vec<BlockCurvature> {
    let mut by_sid: BTreeMap<&str, (i64, Vec<(i64, f64)>)> = BTreeMap::new();
    for r in values.iter().filter(|r| r.rank == 0 && r.spectrum_end == SpectrumEnd::Top) {
        let e = by_sid.entry(&r.settings_id).or_insert((r.num_params, Vec::new()));
        e.1.push((r.step, r.eigenvalue));
    }
    let mut blocks: Vec<BlockCurvature> = Vec::new();
    for (sid, (num_params, mut top)) in by_sid {
        let Some(params) = settings.iter().find(|s| s.settings_id == sid).map(|s| s.params.clone()) else { continue };
        top.sort_by_key(|p| p.0);
        match blocks.iter_mut().find(|b| b.params == params) {
            Some(b) if b.top.len() >= top.len() => {}
            Some(b) => b.top = top,
            None => blocks.push(BlockCurvature { params, num_params, top, trace: Vec::new(), trace_method: String::new() }),
        }
    }
    blocks
}

/// Adds each block's trace (the first method by name of the settings with the most checkpoints).
fn add_block_traces(blocks: &mut Vec<BlockCurvature>, settings: &[SettingsRow], rows: &[TraceRow]) {
    let mut by_key: BTreeMap<(&str, &str), Vec<(i64, f64, f64)>> = BTreeMap::new();
    for r in rows {
        by_key.entry((&r.settings_id, r.method.name())).or_default().push((r.step, r.estimate, r.std_error));
    }
    for ((sid, method), mut pts) in by_key {
        let Some(params) = settings.iter().find(|s| s.settings_id == sid).map(|s| s.params.clone()) else { continue };
        pts.sort_by_key(|p| p.0);
        match blocks.iter_mut().find(|b| b.params == params) {
            Some(b) if b.trace.len() >= pts.len() => {}
            Some(b) => (b.trace, b.trace_method) = (pts, method.to_owned()),
            // Parameter counts come with eigenvalue rows; a block with a trace only shows 0.
            None => blocks.push(BlockCurvature { params, num_params: 0, top: Vec::new(), trace: pts, trace_method: method.to_owned() }),
        }
    }
    blocks.sort_by(|a, b| (a.params != "all", &a.params).cmp(&(b.params != "all", &b.params)));
}

/// The resolved stage configurations saved beside the run's outputs.
fn read_configs(run: &RunDir) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for path in run.configs()? {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), text));
    }
    Ok(out)
}
