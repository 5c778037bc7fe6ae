//! Which tables a training run reads (images, tabular rows or token
//! sequences alike). Clean data trains on `train` and holds
//! out `test`. A corrupted variant trains on its own `train` split when hessx
//! computed the corruption itself; CIFAR-10-C ships only corrupted *test*
//! images, so there a seeded fraction of them is held out instead.

use hessx_data::load_examples;
use hessx_store::DataDir;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::train::TrainData;
use crate::{Error, Result};

/// Load the training and held-out splits of `dataset`, corrupted by
/// `corruption` at `severity` when given.
pub fn load_train_data(
    data: &DataDir,
    dataset: &str,
    corruption: Option<(&str, u8)>,
    heldout_fraction: f64,
    seed: u64,
) -> Result<TrainData> {
    let Some((name, level)) = corruption else {
        return Ok(TrainData { train: load_examples(data, dataset, "train", None)?, heldout: load_examples(data, dataset, "test", None)? });
    };
    if data.table(dataset, "train", corruption).exists() {
        return Ok(TrainData {
            train: load_examples(data, dataset, "train", corruption)?,
            heldout: load_examples(data, dataset, "test", corruption)?,
        });
    }
    let archive = if dataset == "cifar10" { "cifar10c" } else { dataset };
    if !data.table(archive, "test", corruption).exists() {
        return Err(Error::invalid(format!(
            "no {name} (severity {level}) data for {dataset} in {}: run `hx-fetch {dataset} --corruption {name} --severity {level}` \
             to compute it, or `hx-fetch cifar10c --corruption {name} --severity {level}` for the published CIFAR-10-C images",
            data.root().display()
        )));
    }
    let all = load_examples(data, archive, "test", corruption)?;
    if !(0.0..1.0).contains(&heldout_fraction) {
        return Err(Error::invalid(format!("--heldout-fraction must be in [0, 1), got {heldout_fraction}")));
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let held = ((all.len() as f64) * heldout_fraction).round() as usize;
    let (heldout, train) = order.split_at(held);
    Ok(TrainData { train: all.select(train, "train"), heldout: all.select(heldout, "heldout") })
}
