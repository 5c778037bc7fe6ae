//! `hx-fetch`: put datasets onto disk as Parquet tables under the data
//! directory (`data/<dataset>/`), with a manifest of checksums. A thin front
//! end over `hessx_data::fetch`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hessx_data::{
    CIFAR10_ARCHIVE, CIFAR10C_ARCHIVE, CorruptionRequest, CtrConfig, FetchOptions, FetchReport, ImportConfig,
    SequenceConfig, Shift, ShiftRequest, SyntheticConfig, TabularShift, TokenShift,
};
use hessx_store::DataDir;

/// Fetch, convert and corrupt datasets for hessx. Every table is Parquet
/// under the data directory, listed with its SHA-256 in
/// `<data-dir>/<dataset>/manifest.json`; a fetch that is already complete
/// does nothing, and a damaged table is rebuilt.
#[derive(Parser, Debug)]
#[command(name = "hx-fetch", version, args_override_self = true, after_help = AFTER_HELP)]
struct Cli {
    /// Data directory (datasets go in <DIR>/<dataset>/, archives in <DIR>/downloads/).
    #[arg(long, global = true, default_value = "data", value_name = "DIR")]
    data_dir: PathBuf,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// The tabular shifts, for `--help` (a macro so that `concat!` can use it).
macro_rules! tabular_shifts {
    () => {
        "\
Shifts of tabular data (ctr, table; --corruption), both splits, seeded, severities 1..=5:
  click_rate   resample rows so the odds of a click are x1.5 x2 x3 x5 x8 the clean odds
  drop_fields  categorical values -> id 0 (unknown), dense values -> 0, each with
               probability .1 .2 .3 .45 .6
  dense_noise  Gaussian noise of std .1 .25 .5 .75 1 on the (standardised) dense features
  A severity's changes include every lower severity's (the same random numbers are used).
"
    };
}

/// The token shifts, for `--help`.
macro_rules! token_shifts {
    () => {
        "\
Shifts of token sequences (sequences; --corruption):
  token_noise  each token replaced by a random id (never the pad id 0) with
               probability .05 .1 .15 .2 .3
  truncate     the last 10% 20% 30% 40% 50% of each row (rounded up) set to the pad id 0
  A severity's changes include every lower severity's (the same random numbers are used).
"
    };
}

const AFTER_HELP: &str = concat!(
    "\
Corruptions computed by hessx (any image dataset, --corruption): the 19 of CIFAR-10-C,
  gaussian_noise shot_noise impulse_noise defocus_blur glass_blur motion_blur
  zoom_blur snow frost fog brightness contrast elastic_transform pixelate
  jpeg_compression speckle_noise gaussian_blur spatter saturate
  at severities 1..=5 with the constants of CIFAR-10-C (make_cifar_c.py); blur sizes and
  the snow, fog, frost and spatter layers are scaled from its 32x32 images to the dataset's.
  frost uses a PROCEDURAL frost texture, not the recipe's frost photographs (the manifest
  says so too). saturate needs RGB images.

", tabular_shifts!(), token_shifts!(), "
Examples:
  hx-fetch digits --corruption gaussian_noise --severity 5   # offline
  hx-fetch digits --corruption snow,fog --severity 3         # offline
  hx-fetch cifar10                                           # downloads 170 MB
  hx-fetch cifar10 --from ~/Downloads/cifar-10-binary.tar.gz
  hx-fetch cifar10c --corruption gaussian_noise --severity 5 # downloads 2.9 GB once
  hx-fetch synthetic --name blobs --classes 4 --channels 1 --height 16 --width 16
  hx-fetch ctr --cardinalities 100,50,20 --dense 8
  hx-fetch ctr --corruption drop_fields,click_rate --severity 1,3,5
  hx-fetch sequences --corruption token_noise,truncate        # 8,000/2,000 rows, vocab 32
  hx-fetch table --input clicks.parquet --name clicks --label clicked \\
      --categorical site,device --dense price,age --corruption drop_fields --severity 3

Flags can also come from a profile: --profile pipelines/offline.toml (section [fetch],
whose `subcommand` key names the command); flags typed on the command line win."
);

#[derive(Subcommand, Debug)]
enum Command {
    /// The 1,797 8x8 handwritten digits shipped in the repository (offline):
    /// 1,437 train / 360 test, stratified, pixels 0..16 scaled by 16 (capped at 255).
    Digits {
        /// Read this digits.csv.gz instead of <data-dir>/digits/digits.csv.gz (it must be scikit-learn's file).
        #[arg(long, value_name = "CSV_GZ")]
        from: Option<PathBuf>,
        #[command(flatten)]
        corruption: ComputedCorruption,
    },
    /// CIFAR-10 (binary version): download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
    /// (170 MB, resumable) into <data-dir>/downloads/, verify it and write train (50,000) and test (10,000).
    Cifar10 {
        /// Use this archive (checked against the published size, SHA-256 and MD5) or extracted folder
        /// (each batch must hold 10,000 records; the manifest records the files' own SHA-256) instead of downloading.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        /// Accept an extracted folder whose batches hold fewer records than CIFAR-10's (a subset, a test
        /// fixture); the manifest says so.
        #[arg(long, requires = "from")]
        allow_subset: bool,
        #[command(flatten)]
        corruption: ComputedCorruption,
    },
    /// CIFAR-10-C, the published corrupted CIFAR-10 test set: download
    /// https://zenodo.org/records/2535967/files/CIFAR-10-C.tar (2.9 GB, resumable), verify it and
    /// write dataset `cifar10c`, one table test-<corruption>-<severity> per pair asked for.
    Cifar10c {
        /// Use this archive (checked against the published size, SHA-256 and MD5) or extracted folder instead of downloading.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        /// Corruptions to convert, comma-separated (default: all 19).
        #[arg(long, value_delimiter = ',', value_name = "NAME")]
        corruption: Vec<String>,
        /// Severities 1..=5, comma-separated (default: all five).
        #[arg(long, value_delimiter = ',', value_name = "S")]
        severity: Vec<u8>,
    },
    /// A generated image dataset with class structure (smooth class prototypes plus deformation
    /// and noise), of any shape and size: for tests and scaling benchmarks.
    Synthetic {
        #[command(flatten)]
        config: SyntheticArgs,
        #[command(flatten)]
        corruption: ComputedCorruption,
    },
    /// A generated click-through dataset for the Wide&Deep model (dataset `ctr`): categorical
    /// fields, dense features, clicks from a known logistic model with feature crosses. Value 0
    /// of every field is reserved for "unknown" (drop_fields); the generator never draws it.
    #[command(after_help = tabular_shifts!())]
    Ctr {
        /// Cardinality of each categorical field, counting the unknown value 0, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "100,50,20,10,5,1000")]
        cardinalities: Vec<usize>,
        /// Number of dense features.
        #[arg(long, default_value_t = 8)]
        dense: usize,
        /// Training rows.
        #[arg(long, default_value_t = 50_000)]
        train: usize,
        /// Test rows.
        #[arg(long, default_value_t = 10_000)]
        test: usize,
        /// Seed of the model and the rows.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        shift: ComputedCorruption,
    },
    /// A generated sequence classification task for the sequence Transformer (dataset `sequences`):
    /// tokens 1..=classes are markers, each once per row at random positions among random fillers;
    /// the label is which marker comes first (0 is the pad id). Order decides, so a bag-of-words
    /// model is at chance and attention is needed.
    #[command(after_help = token_shifts!())]
    Sequences {
        /// Vocabulary size, counting the pad id 0 and the markers (at least classes + 2).
        #[arg(long, default_value_t = 32)]
        vocab: usize,
        /// Tokens per row (at least classes).
        #[arg(long, default_value_t = 16)]
        length: usize,
        /// Number of classes (= marker tokens).
        #[arg(long, default_value_t = 4)]
        classes: usize,
        /// Training rows.
        #[arg(long, default_value_t = 8000)]
        train: usize,
        /// Test rows.
        #[arg(long, default_value_t = 2000)]
        test: usize,
        /// Seed of the rows.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        shift: ComputedCorruption,
    },
    /// Import your own Parquet table as a tabular dataset for Wide&Deep: <data-dir>/NAME/{train,test}.parquet
    /// in the click-through layout, plus NAME/vocabulary.json (categorical ids, dense statistics). Categorical
    /// ids come from the training rows, most frequent first; id 0 is "unknown" (nulls, values seen only in
    /// test, drop_fields). Dense columns are standardised with training statistics; nulls become 0 (the mean).
    /// With --corruption, the shifts (see below) of the imported data are written too; re-running the same
    /// import with other --corruption values only adds those tables.
    #[command(after_help = tabular_shifts!())]
    Table {
        /// The Parquet table to import.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Dataset name (folder under the data directory).
        #[arg(long)]
        name: String,
        /// The label column: 0/1 integers or booleans.
        #[arg(long, value_name = "COLUMN")]
        label: String,
        /// Categorical columns (integer or string), comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "COLUMNS", required = true)]
        categorical: Vec<String>,
        /// Dense columns (numeric), comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
        dense: Vec<String>,
        /// Share of the rows held out as the test split.
        #[arg(long, default_value_t = 0.2)]
        test_fraction: f64,
        /// Seed of the train/test split.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        shift: ComputedCorruption,
    },
}

/// Corruptions of images, or distribution shifts of tabular rows and token
/// sequences, that hessx computes from the clean tables ("-C" variants).
#[derive(Args, Debug)]
struct ComputedCorruption {
    /// Also write corrupted (shifted) copies of train and test, comma-separated names (see below).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    corruption: Vec<String>,
    /// Severities 1..=5 of those corruptions, comma-separated (default: all five).
    #[arg(long, value_delimiter = ',', value_name = "S", requires = "corruption")]
    severity: Vec<u8>,
    /// Seed of the corruption's random numbers (recorded in the manifest).
    #[arg(long, default_value_t = 0, value_name = "N")]
    corruption_seed: u64,
}

#[derive(Args, Debug)]
struct SyntheticArgs {
    /// Dataset name (folder under the data directory).
    #[arg(long, default_value = "synthetic")]
    name: String,
    /// Number of classes.
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Image channels.
    #[arg(long, default_value_t = 3)]
    channels: usize,
    /// Image height.
    #[arg(long, default_value_t = 32)]
    height: usize,
    /// Image width.
    #[arg(long, default_value_t = 32)]
    width: usize,
    /// Training examples.
    #[arg(long, default_value_t = 5000)]
    train: usize,
    /// Test examples.
    #[arg(long, default_value_t = 1000)]
    test: usize,
    /// Seed of the prototypes and examples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Standard deviation of the pixel noise, on pixels scaled to [0, 1].
    #[arg(long, default_value_t = 0.1)]
    noise: f32,
}

impl ComputedCorruption {
    /// The image corruptions asked for.
    fn resolve(&self, progress: bool) -> anyhow::Result<(CorruptionRequest, FetchOptions)> {
        let request = CorruptionRequest::parse(&self.corruption, &self.severity)?;
        Ok((request, self.options(progress)))
    }

    /// The shifts of tabular rows or token sequences asked for.
    fn resolve_shifts<S: Shift>(&self, progress: bool) -> anyhow::Result<(ShiftRequest<S>, FetchOptions)> {
        let request = ShiftRequest::parse(&self.corruption, &self.severity)?;
        Ok((request, self.options(progress)))
    }

    fn options(&self, progress: bool) -> FetchOptions {
        FetchOptions { progress, seed: self.corruption_seed, allow_subset: false }
    }
}

/// Put the shifts' report after the clean tables'.
fn merge(mut report: FetchReport, more: FetchReport) -> FetchReport {
    report.written.extend(more.written);
    report.up_to_date.extend(more.up_to_date);
    report.repaired.extend(more.repaired);
    report.notes.extend(more.notes);
    report
}

fn print_report(report: &FetchReport) {
    for note in &report.notes {
        println!("note        {note}");
    }
    for path in &report.repaired {
        println!("checksum mismatch, rebuilt: {}", path.display());
    }
    for path in report.written.iter().filter(|p| !report.repaired.contains(p)) {
        println!("wrote       {}", path.display());
    }
    for path in &report.up_to_date {
        println!("up to date  {}", path.display());
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse_from(hessx_profile::args_with_profile("fetch")?);
    let data = DataDir::new(&cli.data_dir);
    let progress = !cli.quiet;
    let report = match &cli.command {
        Command::Digits { from, corruption } => {
            let (request, options) = corruption.resolve(progress)?;
            hessx_data::fetch_digits(&data, from.as_deref(), &request, options)
                .with_context(|| format!("hx-fetch digits into {}", data.dataset("digits").display()))?
        }
        Command::Cifar10 { from, allow_subset, corruption } => {
            let (request, mut options) = corruption.resolve(progress)?;
            options.allow_subset = *allow_subset;
            hessx_data::fetch_cifar10(&data, &CIFAR10_ARCHIVE, from.as_deref(), &request, options)
                .with_context(|| format!("hx-fetch cifar10 into {}", data.dataset("cifar10").display()))?
        }
        Command::Cifar10c { from, corruption, severity } => {
            let options = FetchOptions { progress, seed: 0, allow_subset: false };
            hessx_data::fetch_cifar10c(&data, &CIFAR10C_ARCHIVE, from.as_deref(), corruption, severity, options)
                .with_context(|| format!("hx-fetch cifar10c into {}", data.dataset("cifar10c").display()))?
        }
        Command::Synthetic { config, corruption } => {
            let (request, options) = corruption.resolve(progress)?;
            let config = SyntheticConfig {
                name: config.name.clone(),
                classes: config.classes,
                shape: [config.channels, config.height, config.width],
                train: config.train,
                test: config.test,
                seed: config.seed,
                noise: config.noise,
            };
            hessx_data::fetch_synthetic(&data, &config, &request, options)
                .with_context(|| format!("hx-fetch synthetic into {}", data.dataset(&config.name).display()))?
        }
        Command::Ctr { cardinalities, dense, train, test, seed, shift } => {
            let (request, options) = shift.resolve_shifts::<TabularShift>(progress)?;
            let config = CtrConfig { cardinalities: cardinalities.clone(), num_dense: *dense, train: *train, test: *test, seed: *seed };
            let context = || format!("hx-fetch ctr into {}", data.dataset("ctr").display());
            let report = hessx_data::fetch_ctr(&data, &config).with_context(context)?;
            merge(report, hessx_data::fetch_tabular_shifts(&data, "ctr", &request, options).with_context(context)?)
        }
        Command::Sequences { vocab, length, classes, train, test, seed, shift } => {
            let (request, options) = shift.resolve_shifts::<TokenShift>(progress)?;
            let config = SequenceConfig { vocab: *vocab, length: *length, classes: *classes, train: *train, test: *test, seed: *seed };
            let context = || format!("hx-fetch sequences into {}", data.dataset("sequences").display());
            let report = hessx_data::fetch_sequences(&data, &config).with_context(context)?;
            merge(report, hessx_data::fetch_token_shifts(&data, "sequences", &request, options).with_context(context)?)
        }
        Command::Table { input, name, label, categorical, dense, test_fraction, seed, shift } => {
            let (request, options) = shift.resolve_shifts::<TabularShift>(progress)?;
            let config = ImportConfig {
                input: input.clone(),
                name: name.clone(),
                label: label.clone(),
                categorical: categorical.clone(),
                dense: dense.clone(),
                test_fraction: *test_fraction,
                seed: *seed,
            };
            let context = || format!("hx-fetch table {} into {}", input.display(), data.dataset(name).display());
            let report = hessx_data::import_table(&data, &config).with_context(context)?;
            merge(report, hessx_data::fetch_tabular_shifts(&data, name, &request, options).with_context(context)?)
        }
    };
    print_report(&report);
    Ok(())
}

fn main() -> ExitCode {
    hessx_profile::main_wrapper("warn", run)
}
