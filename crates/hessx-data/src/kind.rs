//! Which kind of data a table holds, from its schema metadata alone, so that
//! the pipeline can pick a model family and a reader without loading rows.

use std::path::Path;

use crate::ctr::CARDINALITIES_KEY;
use crate::tokens::VOCAB_KEY;
use crate::{Error, Result};

/// The three kinds of dataset hessx reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// Image classification ([`crate::ImageSet`]).
    Images,
    /// Click-through / tabular data ([`crate::CtrSet`]).
    Tabular,
    /// Token sequences ([`crate::TokenSet`]).
    Tokens,
}

impl DatasetKind {
    /// A lowercase name for messages and configs: `images`, `tabular`, `tokens`.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Images => "images",
            DatasetKind::Tabular => "tabular",
            DatasetKind::Tokens => "tokens",
        }
    }
}

/// The kind of the Parquet table at `path`, reading only its footer:
/// tabular tables carry `hessx.cardinalities`, token tables `hessx.vocab`,
/// image tables neither.
pub fn table_kind(path: &Path) -> Result<DatasetKind> {
    let metadata = hessx_store::column::read_schema_metadata(path)?;
    match (metadata.contains_key(CARDINALITIES_KEY), metadata.contains_key(VOCAB_KEY)) {
        (true, true) => Err(Error::format(path, format!("schema metadata has both {CARDINALITIES_KEY} and {VOCAB_KEY}: not a table hessx wrote"))),
        (true, false) => Ok(DatasetKind::Tabular),
        (false, true) => Ok(DatasetKind::Tokens),
        (false, false) => Ok(DatasetKind::Images),
    }
}

/// The kind of dataset `dataset`, from its clean `train` table's footer; a
/// missing table's error names the `hx-fetch` command that makes it.
pub fn dataset_kind(data: &hessx_store::DataDir, dataset: &str) -> Result<DatasetKind> {
    let path = data.table(dataset, "train", None);
    if !path.exists() {
        return Err(Error::MissingTable { path, command: crate::fetch_command(data, dataset, None), note: String::new() });
    }
    table_kind(&path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctr::{CtrConfig, generate_ctr};
    use crate::sequences::{SequenceConfig, generate_sequences};

    #[test]
    fn each_writer_gives_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let (images, tabular, tokens) = (dir.path().join("i.parquet"), dir.path().join("c.parquet"), dir.path().join("t.parquet"));
        crate::image_set::tests::sample(3, [1, 2, 2]).write(&images).unwrap();
        let config = CtrConfig { cardinalities: vec![3], num_dense: 1, train: 4, test: 1, seed: 0 };
        generate_ctr(&config).unwrap().0.write(&tabular).unwrap();
        let seq = SequenceConfig { vocab: 5, length: 3, classes: 2, train: 4, test: 1, seed: 0 };
        generate_sequences(&seq).unwrap().0.write(&tokens).unwrap();
        assert_eq!(table_kind(&images).unwrap(), DatasetKind::Images);
        assert_eq!(table_kind(&tabular).unwrap(), DatasetKind::Tabular);
        assert_eq!(table_kind(&tokens).unwrap(), DatasetKind::Tokens);
        let err = table_kind(&dir.path().join("missing.parquet")).unwrap_err().to_string();
        assert!(err.contains("missing.parquet"), "{err}");
        let data = hessx_store::DataDir::new(dir.path());
        std::fs::create_dir_all(data.dataset("sequences")).unwrap();
        std::fs::rename(&tokens, data.table("sequences", "train", None)).unwrap();
        assert_eq!(dataset_kind(&data, "sequences").unwrap(), DatasetKind::Tokens);
        let err = dataset_kind(&data, "ctr").unwrap_err().to_string();
        assert!(err.contains("ctr/train.parquet") && err.contains("hx-fetch ctr"), "{err}");
    }
}
