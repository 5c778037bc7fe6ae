//! Datasets for hessx: CIFAR-10, CIFAR-10-C, the embedded handwritten digits,
//! synthetic image and click-through data, all converted to one Parquet
//! layout (see [`image_set`]) with a checksummed manifest per dataset, plus
//! corruptions computed by hessx at the five CIFAR-10-C severities.
//!
//! ```no_run
//! use hessx_data::{CorruptionRequest, FetchOptions, fetch_digits, load_images};
//! use hessx_store::DataDir;
//! let data = DataDir::new("data");
//! // Offline: the digits CSV is compiled in.
//! let request = CorruptionRequest::parse(&["gaussian_noise".into()], &[5]).unwrap();
//! fetch_digits(&data, None, &request, FetchOptions::default()).unwrap();
//! let test = load_images(&data, "digits", "test", Some(("gaussian_noise", 5))).unwrap();
//! assert_eq!(test.shape, [1, 8, 8]);
//! ```
#![deny(missing_docs)]

pub mod archive;
pub mod cifar10;
pub mod cifar10c;
pub mod corrupt;
pub mod ctr;
pub mod digits;
mod error;
pub mod examples;
pub mod fetch;
pub mod image_set;
pub mod manifest;
pub mod npy;
mod progress;
pub mod synthetic;
pub mod testkit;
pub mod tokens;

pub use archive::{ArchiveSpec, CIFAR10_ARCHIVE, CIFAR10C_ARCHIVE};
pub use corrupt::{CIFAR10C_CORRUPTIONS, Corruption};
pub use ctr::{CtrConfig, CtrModel, CtrSet};
pub use error::{Error, Result};
pub use examples::{Examples, TableKind, load_examples, table_kind};
pub use fetch::{
    CorruptionRequest, FetchOptions, FetchReport, fetch_cifar10, fetch_cifar10c, fetch_command, fetch_ctr, fetch_digits,
    fetch_synthetic, load_ctr, load_images,
};
pub use image_set::ImageSet;
pub use manifest::{Manifest, TableEntry, TableState};
pub use synthetic::SyntheticConfig;
pub use tokens::TokenSet;
