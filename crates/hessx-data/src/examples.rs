//! Any dataset split hessx trains on or takes a Hessian over: images, tabular
//! rows or token sequences, told apart by what the table itself says (its
//! schema metadata), so a stage needs only the dataset's name.

use hessx_store::DataDir;

use crate::ctr::CtrSet;
use crate::fetch::{load_tabular, load_tokens};
use crate::image_set::ImageSet;
use crate::kind::{DatasetKind, table_kind};
use crate::tokens::TokenSet;
use crate::{Result, load_images};

/// One split of a dataset, of whichever kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Examples {
    /// Images with class labels.
    Images(ImageSet),
    /// Tabular rows (categorical ids and dense floats) with a 0/1 label.
    Tabular(CtrSet),
    /// Fixed-length token sequences with class labels.
    Tokens(TokenSet),
}

impl Examples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels().len()
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The split's name (`train`, `test`, `heldout`).
    pub fn split(&self) -> &str {
        match self {
            Examples::Images(s) => &s.split,
            Examples::Tabular(s) => &s.split,
            Examples::Tokens(s) => &s.split,
        }
    }

    /// One label per example.
    pub fn labels(&self) -> &[u16] {
        match self {
            Examples::Images(s) => &s.labels,
            Examples::Tabular(s) => &s.labels,
            Examples::Tokens(s) => &s.labels,
        }
    }

    /// Number of classes of the labels (2 for tabular rows: click or not).
    pub fn num_classes(&self) -> usize {
        match self {
            Examples::Images(s) => s.num_classes,
            Examples::Tabular(_) => 2,
            Examples::Tokens(s) => s.num_classes,
        }
    }

    /// What kind of examples these are, for messages: `images`, `tabular rows` or `token sequences`.
    pub fn kind(&self) -> &'static str {
        match self {
            Examples::Images(_) => "images",
            Examples::Tabular(_) => "tabular rows",
            Examples::Tokens(_) => "token sequences",
        }
    }

    /// The images, when these are images.
    pub fn images(&self) -> Option<&ImageSet> {
        match self {
            Examples::Images(s) => Some(s),
            _ => None,
        }
    }

    /// The examples at `indices`, in that order, as a split named `split`.
    pub fn select(&self, indices: &[usize], split: &str) -> Examples {
        let split = split.to_owned();
        match self {
            Examples::Images(s) => Examples::Images(ImageSet { split, ..s.select(indices) }),
            Examples::Tabular(s) => Examples::Tabular(CtrSet { split, ..s.select(indices) }),
            Examples::Tokens(s) => Examples::Tokens(TokenSet { split, ..s.select(indices) }),
        }
    }
}

/// Load split `split` of `dataset` (or its variant `corruption`), of
/// whichever kind the table is. A missing table is reported as an image
/// table's would be: with the `hx-fetch` command that writes it.
pub fn load_examples(data: &DataDir, dataset: &str, split: &str, corruption: Option<(&str, u8)>) -> Result<Examples> {
    let path = data.table(dataset, split, corruption);
    let kind = if path.exists() { table_kind(&path)? } else { DatasetKind::Images };
    Ok(match kind {
        DatasetKind::Images => Examples::Images(load_images(data, dataset, split, corruption)?),
        DatasetKind::Tabular => Examples::Tabular(load_tabular(data, dataset, split, corruption)?),
        DatasetKind::Tokens => Examples::Tokens(load_tokens(data, dataset, split, corruption)?),
    })
}

