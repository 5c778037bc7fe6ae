//! What `hx-fetch` does, as library calls: bring a dataset's tables up to
//! date in the data directory. A table is rebuilt only when it is missing,
//! its recipe (source checksum, parameters, seed) changed, or its bytes no
//! longer match the checksum in the manifest; otherwise nothing is touched,
//! so re-running a complete fetch is free.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hessx_store::DataDir;

use crate::archive::ArchiveSpec;
use crate::corrupt::{Corruption, check_cifar10c_name, check_severity, corrupt_set};
use crate::ctr::{CtrConfig, CtrSet, generate_ctr};
use crate::sequences::{SEQUENCES, SequenceConfig, generate_sequences};
use crate::shift::{Shift, ShiftRequest, TabularShift, TokenShift, shift_tabular, shift_tokens};
use crate::tokens::TokenSet;
use crate::digits::{DIGITS_CSV_GZ, DIGITS_CSV_SHA256, DIGITS_RECIPE, digits_from_csv_gz};
use crate::manifest::{Manifest, TableEntry, TableState, sha256_bytes, sha256_file};
use crate::synthetic::{SyntheticConfig, generate};
use crate::{DatasetKind, Error, ImageSet, Result};

/// Options shared by every fetch (default: no progress bars, seed 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// Show progress bars.
    pub progress: bool,
    /// Seed of the noise of corruptions computed by hessx (recorded in the manifest).
    pub seed: u64,
    /// Accept a CIFAR-10 folder whose batches hold fewer records than the
    /// real dataset's (tests, subsets); the manifest says so.
    pub allow_subset: bool,
}

/// Which corruptions to compute, at which severities (every pair of the two lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorruptionRequest {
    /// Corruptions (none: only the clean tables).
    pub corruptions: Vec<Corruption>,
    /// Severities 1..=5 (empty: all five).
    pub severities: Vec<u8>,
}

impl CorruptionRequest {
    /// Parse corruption names and severities as given on the command line.
    pub fn parse(names: &[String], severities: &[u8]) -> Result<Self> {
        let corruptions = names.iter().map(|n| Corruption::parse(n)).collect::<Result<_>>()?;
        let severities = severities.iter().map(|&s| check_severity(s)).collect::<Result<_>>()?;
        Ok(CorruptionRequest { corruptions, severities })
    }

    fn pairs(&self) -> Vec<(Corruption, u8)> {
        let severities = if self.severities.is_empty() { vec![1, 2, 3, 4, 5] } else { self.severities.clone() };
        self.corruptions.iter().flat_map(|&c| severities.iter().map(move |&s| (c, s))).collect()
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Tables written (new, stale or repaired).
    pub written: Vec<PathBuf>,
    /// Tables already complete, left untouched.
    pub up_to_date: Vec<PathBuf>,
    /// Tables whose bytes did not match the manifest and were rebuilt.
    pub repaired: Vec<PathBuf>,
    /// What else is worth telling the user (missing values filled in, values
    /// unseen in training mapped to "unknown"), one sentence each.
    pub notes: Vec<String>,
}

/// The `hx-fetch` command that writes `dataset`'s table (for error
/// messages). A dataset imported with `hx-fetch table` is recognised by its
/// manifest, whose recipes start with the import command.
pub fn fetch_command(data: &DataDir, dataset: &str, corruption: Option<(&str, u8)>) -> String {
    command_for(data, dataset, None, corruption)
}

/// [`fetch_command`] knowing the kind of data expected, for a dataset that
/// has no manifest yet.
fn command_for(data: &DataDir, dataset: &str, kind: Option<DatasetKind>, corruption: Option<(&str, u8)>) -> String {
    let mut cmd = match dataset {
        "digits" | "cifar10" | "cifar10c" | "ctr" | SEQUENCES => format!("hx-fetch {dataset}"),
        other => match (crate::import::import_command(data, other), kind) {
            (Some(command), _) => command,
            (None, Some(DatasetKind::Tabular)) => {
                format!("hx-fetch table --input FILE.parquet --name {other} --label COLUMN --categorical COLUMNS --dense COLUMNS")
            }
            (None, Some(DatasetKind::Tokens)) => format!("hx-fetch {SEQUENCES}"),
            (None, _) => format!("hx-fetch synthetic --name {other}"),
        },
    };
    if let Some((c, s)) = corruption {
        cmd.push_str(&format!(" --corruption {c} --severity {s}"));
    }
    if data.root() != Path::new("data") {
        cmd.push_str(&format!(" --data-dir {}", data.root().display()));
    }
    cmd
}

/// One dataset folder being brought up to date.
pub(crate) struct Folder<'a> {
    pub(crate) data: &'a DataDir,
    pub(crate) name: String,
    pub(crate) manifest: Manifest,
    pub(crate) report: FetchReport,
}

impl<'a> Folder<'a> {
    pub(crate) fn open(data: &'a DataDir, name: &str) -> Result<Self> {
        let manifest = Manifest::load_or_new(&data.manifest(name), name)?;
        Ok(Folder { data, name: name.into(), manifest, report: FetchReport::default() })
    }

    pub(crate) fn path(&self, split: &str, corruption: Option<(&str, u8)>) -> PathBuf {
        self.data.table(&self.name, split, corruption)
    }

    /// Whether the table must be (re)built; records complete and corrupt ones in the report.
    pub(crate) fn needs(&mut self, split: &str, corruption: Option<(&str, u8)>, recipe: &str) -> Result<bool> {
        let path = self.path(split, corruption);
        let file = crate::manifest::file_name(&path);
        match self.manifest.check(&self.data.dataset(&self.name), &file, recipe)? {
            TableState::Complete => {
                self.report.up_to_date.push(path);
                Ok(false)
            }
            TableState::Corrupt { .. } => {
                self.report.repaired.push(path);
                Ok(true)
            }
            TableState::Missing | TableState::Stale => Ok(true),
        }
    }

    /// Write `set` and record it in the manifest (saved at once, so an
    /// interrupted fetch keeps what it finished).
    fn write_images(&mut self, set: &ImageSet, recipe: &str, seed: Option<u64>) -> Result<()> {
        let corruption = (set.severity > 0).then_some((set.corruption.as_str(), set.severity));
        let path = self.path(&set.split, corruption);
        set.write(&path)?;
        let entry = TableEntry {
            num_classes: set.num_classes,
            shape: set.shape.to_vec(),
            corruption: set.corruption.clone(),
            severity: set.severity,
            ..written_entry(&path, &set.split, set.len(), recipe, seed)?
        };
        self.record(path, entry)
    }

    /// Write a token set and record it (see [`Folder::write_images`]).
    fn write_tokens(&mut self, set: &TokenSet, recipe: &str, seed: Option<u64>) -> Result<()> {
        let corruption = (set.severity > 0).then_some((set.corruption.as_str(), set.severity));
        let path = self.path(&set.split, corruption);
        set.write(&path)?;
        let entry = TableEntry {
            num_classes: set.num_classes,
            shape: vec![set.length],
            corruption: set.corruption.clone(),
            severity: set.severity,
            vocab: Some(set.vocab),
            ..written_entry(&path, &set.split, set.len(), recipe, seed)?
        };
        self.record(path, entry)
    }

    /// Write a click-through split as shift `corruption` at `severity`
    /// (`none`, 0 for clean data) and record it.
    pub(crate) fn write_ctr(&mut self, set: &CtrSet, corruption: (&str, u8), recipe: &str, seed: Option<u64>) -> Result<()> {
        let path = self.path(&set.split, (corruption.1 > 0).then_some(corruption));
        set.write_shifted(&path, corruption.0, corruption.1)?;
        let entry = TableEntry {
            num_classes: 2,
            shape: vec![set.cardinalities.len(), set.num_dense],
            corruption: corruption.0.into(),
            severity: corruption.1,
            cardinalities: set.cardinalities.clone(),
            ..written_entry(&path, &set.split, set.len(), recipe, seed)?
        };
        self.record(path, entry)
    }

    fn record(&mut self, path: PathBuf, entry: TableEntry) -> Result<()> {
        self.manifest.tables.insert(entry.file.clone(), entry);
        self.manifest.save(&self.data.manifest(&self.name))?;
        self.report.written.push(path);
        Ok(())
    }

    /// The recorded checksum of a clean split (after it was brought up to date).
    fn clean_sha(&self, split: &str) -> String {
        let file = crate::manifest::file_name(&self.path(split, None));
        self.manifest.tables.get(&file).map(|e| e.sha256.clone()).unwrap_or_default()
    }

    /// How shift table `shift` at `severity` of `split` is made, from the clean table's checksum.
    fn shift_recipe<S: Shift>(&self, shift: S, severity: u8, seed: u64, split: &str) -> String {
        let seed = if shift.is_random() { format!(" seed {seed}") } else { String::new() };
        format!("hessx shift v1: {} severity {severity}{seed} of {split}.parquet sha256={}", shift.name(), self.clean_sha(split))
    }

    /// Compute the requested corruptions of the clean `splits`.
    fn derive(&mut self, splits: &[&str], request: &CorruptionRequest, options: FetchOptions) -> Result<()> {
        let mut clean: HashMap<String, ImageSet> = HashMap::new();
        for (corruption, severity) in request.pairs() {
            for &split in splits {
                let recipe = format!(
                    "hessx corrupt v1: {} severity {severity} seed {} of {split}.parquet sha256={}{}",
                    corruption.name(),
                    options.seed,
                    self.clean_sha(split),
                    corruption.note().map(|n| format!("; {n}")).unwrap_or_default()
                );
                if !self.needs(split, Some((corruption.name(), severity)), &recipe)? {
                    continue;
                }
                if !clean.contains_key(split) {
                    clean.insert(split.into(), ImageSet::read(&self.path(split, None))?);
                }
                let set = corrupt_set(&clean[split], corruption, severity, options.seed, options.progress)?;
                let seed = corruption.is_random().then_some(options.seed);
                self.write_images(&set, &recipe, seed)?;
            }
        }
        Ok(())
    }
}

/// The embedded handwritten digits (see [`crate::digits`]): clean `train` and
/// `test`, plus the requested corruptions. The CSV is `from` when given,
/// else `data/digits/digits.csv.gz`, else the copy compiled into hessx
/// (which is then written there); it must be scikit-learn's file.
pub fn fetch_digits(data: &DataDir, from: Option<&Path>, request: &CorruptionRequest, options: FetchOptions) -> Result<FetchReport> {
    let mut folder = Folder::open(data, "digits")?;
    let committed = data.dataset("digits").join("digits.csv.gz");
    let (csv_path, bytes) = match from {
        Some(path) => (path.to_owned(), std::fs::read(path).map_err(|e| Error::io(path, e))?),
        None if committed.exists() => (committed.clone(), std::fs::read(&committed).map_err(|e| Error::io(&committed, e))?),
        None => {
            hessx_store::write_bytes_atomic(&committed, DIGITS_CSV_GZ)?;
            (committed.clone(), DIGITS_CSV_GZ.to_vec())
        }
    };
    let found = sha256_bytes(&bytes);
    if found != DIGITS_CSV_SHA256 {
        return Err(Error::Verify {
            path: csv_path,
            what: "SHA-256",
            expected: DIGITS_CSV_SHA256.into(),
            found,
            hint: "this is not scikit-learn's digits.csv.gz; restore the committed data/digits/digits.csv.gz (git checkout) or drop --from".into(),
        });
    }
    folder.manifest.source = "UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak, 1998; CC BY 4.0), scikit-learn's sklearn/datasets/data/digits.csv.gz".into();
    folder.manifest.class_names = (0..10).map(|d| d.to_string()).collect();
    let need_train = folder.needs("train", None, DIGITS_RECIPE)?;
    let need_test = folder.needs("test", None, DIGITS_RECIPE)?;
    if need_train || need_test {
        let (train, test) = digits_from_csv_gz(&bytes, &csv_path)?;
        for (needed, set) in [(need_train, train), (need_test, test)] {
            if needed {
                folder.write_images(&set, DIGITS_RECIPE, Some(crate::digits::DIGITS_SPLIT_SEED))?;
            }
        }
    }
    folder.derive(&["train", "test"], request, options)?;
    Ok(folder.report)
}

/// CIFAR-10: download (or take `from`), verify against `spec`, convert the
/// six batches to `train` and `test`, then compute the requested corruptions.
pub fn fetch_cifar10(
    data: &DataDir,
    spec: &ArchiveSpec<'_>,
    from: Option<&Path>,
    request: &CorruptionRequest,
    options: FetchOptions,
) -> Result<FetchReport> {
    let mut folder = Folder::open(data, "cifar10")?;
    folder.manifest.class_names = crate::cifar10::CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    // An extracted folder is not checked against the archive's checksums, so
    // it must not claim them: the recipe holds the checksums of the files read.
    let extracted = from.filter(|p| p.is_dir());
    let recipe = match extracted {
        Some(dir) => {
            let subset = if options.allow_subset { "; any record count accepted (--allow-subset)" } else { "" };
            format!("extracted batches {}{subset}", folder_checksums(&crate::cifar10::batch_folder(dir))?)
        }
        None => format!("{} sha256={}", spec.file_name, spec.sha256),
    };
    let need_train = folder.needs("train", None, &recipe)?;
    let need_test = folder.needs("test", None, &recipe)?;
    if need_train || need_test {
        let archive = spec.obtain(&data.downloads(), from, options.progress)?;
        let (train, test) = crate::cifar10::read_cifar10(&archive, options.progress, options.allow_subset)?;
        folder.manifest.source = match extracted {
            Some(dir) => {
                let full = crate::cifar10::CIFAR10_BATCH_RECORDS;
                let subset = if train.len() == 5 * full && test.len() == full {
                    String::new()
                } else {
                    format!(", a subset of {} train and {} test records (--allow-subset)", train.len(), test.len())
                };
                format!(
                    "CIFAR-10 binary batches from the folder {} (Krizhevsky, 2009), not checked against the published \
                     archive; the table recipes hold each file's SHA-256{subset}",
                    dir.display()
                )
            }
            None => format!("{} (Krizhevsky, 2009)", spec.url),
        };
        for (needed, set) in [(need_train, train), (need_test, test)] {
            if needed {
                folder.write_images(&set, &recipe, None)?;
            }
        }
    }
    folder.derive(&["train", "test"], request, options)?;
    Ok(folder.report)
}

/// `name sha256=...` of each of the six batch files in `dir`, in order.
fn folder_checksums(dir: &Path) -> Result<String> {
    let names = crate::cifar10::CIFAR10_TRAIN_FILES.iter().chain([&crate::cifar10::CIFAR10_TEST_FILE]);
    let mut parts = Vec::new();
    for name in names {
        let file = dir.join(name);
        // A missing file is reported, with the others, by read_cifar10.
        let sum = if file.is_file() { sha256_file(&file)? } else { "missing".into() };
        parts.push(format!("{name} sha256={sum}"));
    }
    Ok(parts.join(", "))
}

/// CIFAR-10-C: download (or take `from`), verify against `spec` and convert
/// the named corruptions (all 19 when empty) at `severities` (all five when
/// empty) into `test-<corruption>-<severity>` tables of dataset `cifar10c`.
pub fn fetch_cifar10c(
    data: &DataDir,
    spec: &ArchiveSpec<'_>,
    from: Option<&Path>,
    corruptions: &[String],
    severities: &[u8],
    options: FetchOptions,
) -> Result<FetchReport> {
    let names: Vec<&'static str> = if corruptions.is_empty() {
        crate::corrupt::CIFAR10C_CORRUPTIONS.to_vec()
    } else {
        corruptions.iter().map(|c| check_cifar10c_name(c)).collect::<Result<_>>()?
    };
    let severities: Vec<u8> =
        if severities.is_empty() { vec![1, 2, 3, 4, 5] } else { severities.iter().map(|&s| check_severity(s)).collect::<Result<_>>()? };
    let mut folder = Folder::open(data, "cifar10c")?;
    folder.manifest.source = format!("{} (Hendrycks & Dietterich, 2019; CC BY 4.0)", spec.url);
    folder.manifest.class_names = crate::cifar10::CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    let recipe = format!("{} sha256={}", spec.file_name, spec.sha256);
    let mut needed: Vec<(&'static str, u8)> = Vec::new();
    for &name in &names {
        for &s in &severities {
            if folder.needs("test", Some((name, s)), &recipe)? {
                needed.push((name, s));
            }
        }
    }
    if needed.is_empty() {
        return Ok(folder.report);
    }
    let archive = spec.obtain(&data.downloads(), from, options.progress)?;
    let mut wanted: Vec<&str> = needed.iter().map(|p| p.0).collect();
    wanted.dedup();
    let mut wanted_severities: Vec<u8> = needed.iter().map(|p| p.1).collect();
    wanted_severities.sort_unstable();
    wanted_severities.dedup();
    crate::cifar10c::read_cifar10c(&archive, &wanted, &wanted_severities, options.progress, &mut |set| {
        if needed.iter().any(|&(c, s)| c == set.corruption && s == set.severity) {
            folder.write_images(&set, &recipe, None)?;
        }
        Ok(())
    })?;
    Ok(folder.report)
}

/// A synthetic image dataset (folder `config.name`), plus the requested corruptions.
pub fn fetch_synthetic(data: &DataDir, config: &SyntheticConfig, request: &CorruptionRequest, options: FetchOptions) -> Result<FetchReport> {
    let mut folder = Folder::open(data, &config.name)?;
    folder.manifest.source = "generated by hx-fetch synthetic".into();
    let recipe = config.recipe();
    let need_train = folder.needs("train", None, &recipe)?;
    let need_test = folder.needs("test", None, &recipe)?;
    if need_train || need_test {
        let (train, test) = generate(config)?;
        for (needed, set) in [(need_train, train), (need_test, test)] {
            if needed {
                folder.write_images(&set, &recipe, Some(config.seed))?;
            }
        }
    }
    folder.derive(&["train", "test"], request, options)?;
    Ok(folder.report)
}

/// The synthetic click-through dataset (folder `ctr`); its shifts come from
/// [`fetch_tabular_shifts`].
pub fn fetch_ctr(data: &DataDir, config: &CtrConfig) -> Result<FetchReport> {
    let mut folder = Folder::open(data, "ctr")?;
    folder.manifest.source = "generated by hx-fetch ctr from a known logistic model with feature crosses".into();
    let recipe = config.recipe();
    let need_train = folder.needs("train", None, &recipe)?;
    let need_test = folder.needs("test", None, &recipe)?;
    if need_train || need_test {
        let (train, test, _) = generate_ctr(config)?;
        for (needed, set) in [(need_train, train), (need_test, test)] {
            if needed {
                folder.write_ctr(&set, ("none", 0), &recipe, Some(config.seed))?;
            }
        }
    }
    Ok(folder.report)
}

/// Shifted copies ([`TabularShift`]) of both splits of the tabular dataset
/// `dataset` (`ctr`, or one imported with `hx-fetch table`), which must
/// already be fetched: `<split>-<shift>-<severity>.parquet`, recorded in its
/// manifest with the seed and the clean table's checksum.
pub fn fetch_tabular_shifts(data: &DataDir, dataset: &str, request: &ShiftRequest<TabularShift>, options: FetchOptions) -> Result<FetchReport> {
    fetch_shifts(data, dataset, request, options, load_tabular, shift_tabular, |folder, set, shift, severity, recipe, seed| {
        folder.write_ctr(set, (shift.name(), severity), recipe, Some(seed))
    })
}

/// The generated sequence task (folder `sequences`, see [`crate::sequences`]);
/// its shifts come from [`fetch_token_shifts`].
pub fn fetch_sequences(data: &DataDir, config: &SequenceConfig) -> Result<FetchReport> {
    let mut folder = Folder::open(data, SEQUENCES)?;
    folder.manifest.source = "generated by hx-fetch sequences: label = which of the marker tokens 1..=classes comes first".into();
    folder.manifest.class_names = (1..=config.classes).map(|m| format!("marker {m} first")).collect();
    let recipe = config.recipe();
    let need_train = folder.needs("train", None, &recipe)?;
    let need_test = folder.needs("test", None, &recipe)?;
    if need_train || need_test {
        let (train, test) = generate_sequences(config)?;
        for (needed, set) in [(need_train, train), (need_test, test)] {
            if needed {
                folder.write_tokens(&set, &recipe, Some(config.seed))?;
            }
        }
    }
    Ok(folder.report)
}

/// Shifted copies ([`TokenShift`]) of both splits of the token dataset
/// `dataset`, which must already be fetched, recorded like
/// [`fetch_tabular_shifts`]'s.
pub fn fetch_token_shifts(data: &DataDir, dataset: &str, request: &ShiftRequest<TokenShift>, options: FetchOptions) -> Result<FetchReport> {
    fetch_shifts(data, dataset, request, options, load_tokens, shift_tokens, |folder, set, shift, _, recipe, seed| {
        folder.write_tokens(set, recipe, shift.is_random().then_some(seed))
    })
}

/// The loop both kinds of shift share: each (shift, severity) of `request`
/// and each split whose table is missing or stale is computed from the clean
/// split (loaded once) and written with its recipe.
#[allow(clippy::too_many_arguments)]
fn fetch_shifts<S: Shift, T>(
    data: &DataDir,
    dataset: &str,
    request: &ShiftRequest<S>,
    options: FetchOptions,
    load: fn(&DataDir, &str, &str, Option<(&str, u8)>) -> Result<T>,
    apply: fn(&T, S, u8, u64) -> Result<T>,
    write: impl Fn(&mut Folder, &T, S, u8, &str, u64) -> Result<()>,
) -> Result<FetchReport> {
    let mut folder = Folder::open(data, dataset)?;
    let mut clean: HashMap<String, T> = HashMap::new();
    for (shift, severity) in request.pairs() {
        for split in ["train", "test"] {
            let recipe = folder.shift_recipe(shift, severity, options.seed, split);
            if !folder.needs(split, Some((shift.name(), severity)), &recipe)? {
                continue;
            }
            if !clean.contains_key(split) {
                clean.insert(split.into(), load(data, dataset, split, None)?);
            }
            let set = apply(&clean[split], shift, severity, options.seed)?;
            write(&mut folder, &set, shift, severity, &recipe, options.seed)?;
        }
    }
    Ok(folder.report)
}

/// The manifest entry of the table just written at `path`: its file, split,
/// rows, checksum, recipe and seed; what the data are (classes, shape,
/// corruption, ...) the caller fills in.
fn written_entry(path: &Path, split: &str, rows: usize, recipe: &str, seed: Option<u64>) -> Result<TableEntry> {
    Ok(TableEntry {
        file: crate::manifest::file_name(path),
        split: split.into(),
        rows,
        sha256: sha256_file(path)?,
        num_classes: 0,
        shape: Vec::new(),
        corruption: "none".into(),
        severity: 0,
        seed,
        cardinalities: Vec::new(),
        vocab: None,
        recipe: recipe.into(),
    })
}

/// Check a table against its dataset's manifest before use.
fn verified(data: &DataDir, dataset: &str, path: &Path, command: &str, note: String) -> Result<()> {
    if !path.exists() {
        return Err(Error::MissingTable { path: path.to_owned(), command: command.to_owned(), note });
    }
    let manifest_path = data.manifest(dataset);
    if let Some(manifest) = Manifest::load(&manifest_path)? {
        manifest.verify(&manifest_path, path, command)?;
    }
    Ok(())
}

/// Load a split of an image dataset: `data/<dataset>/<split>.parquet`, or
/// its corrupted variant. A missing table's error names the `hx-fetch`
/// command that creates it; a table whose checksum differs from its
/// manifest's is refused. (Tables not listed in a manifest, e.g. written by
/// hand with [`ImageSet::write`], are read as they are.)
///
/// The published CIFAR-10-C is dataset `cifar10c`; `cifar10` with a
/// corruption is the variant computed by hessx.
pub fn load_images(data: &DataDir, dataset: &str, split: &str, corruption: Option<(&str, u8)>) -> Result<ImageSet> {
    let path = data.table(dataset, split, corruption);
    let command = fetch_command(data, dataset, corruption);
    let note = match corruption {
        Some(_) if dataset == "cifar10" => format!(
            " (computed by hessx; the published CIFAR-10-C is dataset `cifar10c`: `{}`)",
            fetch_command(data, "cifar10c", corruption)
        ),
        _ if !["digits", "cifar10", "cifar10c"].contains(&dataset) => {
            " with the generator parameters of the dataset (see `hx-fetch synthetic --help`)".into()
        }
        _ => String::new(),
    };
    verified(data, dataset, &path, &command, note)?;
    let set = ImageSet::read(&path)?;
    check_holds(&path, "corruption", (&set.split, &set.corruption, set.severity), split, corruption, &command)?;
    Ok(set)
}

/// That the table at `path`, which says it holds `found` (split, corruption
/// or shift — `what` — and severity), holds the `split` and `corruption` asked
/// for; otherwise an error naming both and the command that rebuilds it.
fn check_holds(path: &Path, what: &str, found: (&str, &str, u8), split: &str, corruption: Option<(&str, u8)>, command: &str) -> Result<()> {
    let (want_c, want_s) = corruption.unwrap_or(("none", 0));
    let (found_split, found_c, found_s) = found;
    if found_split != split || found_c != want_c || found_s != want_s {
        return Err(Error::format(
            path,
            format!(
                "holds split `{found_split}` {what} `{found_c}` severity {found_s}, expected `{split}` `{want_c}` {want_s}; rebuild it with `{command}`"
            ),
        ));
    }
    Ok(())
}

/// Load a split of a tabular dataset (`ctr` or one imported with `hx-fetch
/// table`): `data/<dataset>/<split>.parquet`, or its shifted variant
/// ([`TabularShift`]), verified against the manifest as [`load_images`]
/// does, and checked to hold the split and shift asked for.
pub fn load_tabular(data: &DataDir, dataset: &str, split: &str, corruption: Option<(&str, u8)>) -> Result<CtrSet> {
    let path = data.table(dataset, split, corruption);
    let command = command_for(data, dataset, Some(DatasetKind::Tabular), corruption);
    verified(data, dataset, &path, &command, String::new())?;
    let (set, found_c, found_s) = CtrSet::read_with_shift(&path)?;
    // An empty table cannot say which split or shift it holds.
    if !set.is_empty() {
        check_holds(&path, "shift", (&set.split, &found_c, found_s), split, corruption, &command)?;
    }
    Ok(set)
}

/// Load a split of the click-through dataset (`data/ctr/<split>.parquet`);
/// [`load_tabular`] for `ctr`, clean.
pub fn load_ctr(data: &DataDir, split: &str) -> Result<CtrSet> {
    load_tabular(data, "ctr", split, None)
}

/// Load a split of a token dataset (`data/<dataset>/<split>.parquet` or its
/// shifted variant, [`TokenShift`]), verified against the manifest and
/// checked to hold the split and shift asked for.
pub fn load_tokens(data: &DataDir, dataset: &str, split: &str, corruption: Option<(&str, u8)>) -> Result<TokenSet> {
    let path = data.table(dataset, split, corruption);
    let command = command_for(data, dataset, Some(DatasetKind::Tokens), corruption);
    let note = if dataset == SEQUENCES { String::new() } else { format!(" (hx-fetch generates token data only as dataset `{SEQUENCES}`)") };
    verified(data, dataset, &path, &command, note)?;
    let set = TokenSet::read(&path)?;
    // The dataset column is not compared, as for images: a copied or renamed folder stays usable.
    if !set.is_empty() {
        check_holds(&path, "shift", (&set.split, &set.corruption, set.severity), split, corruption, &command)?;
    }
    Ok(set)
}
