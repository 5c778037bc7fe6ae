//! `--shard i/n`: how several processes split a stage's independent pieces
//! of work (landscape grid points, robustness cells) without talking to each
//! other. Each process takes the pieces whose position is `i` modulo `n`;
//! interleaving spreads cheap and costly regions evenly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// This process's share, `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: usize,
    /// How many shards share the work.
    pub count: usize,
}

impl Shard {
    /// All the work in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether the piece at `position` belongs to this shard.
    pub fn owns(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid(format!("--shard {text}: {why}; expected i/n with 0 <= i < n, e.g. --shard 0/4 ... --shard 3/4"));
        let (i, n) = text.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("i is not a whole number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("n is not a whole number"))?;
        if count == 0 {
            return Err(bad("n must be at least 1"));
        }
        if index >= count {
            return Err(bad("i must be smaller than n"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_work_and_bad_shards_name_the_flag() {
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for piece in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(piece)).count(), 1);
        }
        for (text, want) in [("3/2", "smaller than n"), ("1/0", "at least 1"), ("x/2", "not a whole"), ("2", "no `/`")] {
            let err = text.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains(&format!("--shard {text}")) && err.contains(want), "{err}");
        }
    }
}
