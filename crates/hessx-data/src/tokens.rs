//! Token sequences for the sequence Transformer: fixed-length rows of token
//! ids with a class label each.

/// Schema metadata key holding the vocabulary size of a token table.
pub const VOCAB_KEY: &str = "hessx.vocab";

/// A split of a sequence classification dataset.
///
/// # Shapes
///
/// `tokens` is `len() x length`, row-major (token `t` of row `i` at
/// `i * length + t`), every id below `vocab`; `labels` has `len()` entries
/// below `num_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    /// Dataset name, e.g. `sequences`.
    pub dataset: String,
    /// `train` or `test`.
    pub split: String,
    /// Shift name, `none` for the clean data.
    pub corruption: String,
    /// Shift severity 1..=5, 0 for the clean data.
    pub severity: u8,
    /// Number of distinct token ids.
    pub vocab: usize,
    /// Tokens per row.
    pub length: usize,
    /// Number of classes (labels are `0..num_classes`).
    pub num_classes: usize,
    /// Token ids, row-major.
    pub tokens: Vec<u32>,
    /// One label per row.
    pub labels: Vec<u16>,
}

impl TokenSet {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no row.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The tokens of row `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.tokens[i * self.length..(i + 1) * self.length]
    }

    /// The rows at `indices`, in that order (labels follow).
    pub fn select(&self, indices: &[usize]) -> TokenSet {
        TokenSet {
            tokens: indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            dataset: self.dataset.clone(),
            split: self.split.clone(),
            corruption: self.corruption.clone(),
            ..*self
        }
    }
}
