//! What a grid point's value is: the loss and accuracy of the model at a
//! state, on fixed examples of one or more splits, with batch norm in eval
//! mode (running statistics, as the seed's `net.eval()`). No gradients are
//! taken: points only need forward passes.

use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use hessx_models::{BnMode, Input, Net, cross_entropy, predicted_labels};
use hessx_pipeline::batches::{BatchSource, Normalization};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::state::StateLayout;

/// The loss a surface shows (`--loss-name`, as the seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Mean cross-entropy of the logits (the training loss).
    #[default]
    #[value(name = "crossentropy", alias = "cross-entropy")]
    Crossentropy,
    /// Mean squared error between the softmax and the one-hot labels, over
    /// all N x classes entries (the seed's `MSELoss` on `softmax(outputs)`).
    Mse,
}

/// Which split a row is about (`--split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The run's training split.
    Train,
    /// The run's held-out split.
    Test,
}

impl Split {
    /// The name written in the `split` column.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// The value of a state on one split.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Which split.
    pub split: Split,
    /// Mean loss.
    pub loss: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Examples.
    pub examples: usize,
}

/// Anything whose loss can be taken at a flat state: a model, or a closed
/// form in tests.
pub trait Objective {
    /// Length of the state vectors it takes.
    fn state_len(&self) -> usize;
    /// Evaluate at `state`, one [`Evaluation`] per split.
    fn evaluate(&mut self, state: &[f32]) -> Result<Vec<Evaluation>>;
}

/// Examples of one split, on the device, in fixed batches.
pub struct EvalSet<B: Backend> {
    split: Split,
    batches: Vec<(Input<B>, Tensor<B, 1, Int>)>,
    examples: usize,
}

impl<B: Backend> EvalSet<B> {
    /// Examples `indices` of `set` (images normalised by `norm`), in batches of `batch_size`.
    pub fn new<S: BatchSource>(split: Split, set: &S, indices: &[usize], norm: &Normalization, batch_size: usize, device: &B::Device) -> Self {
        let batches = indices.chunks(batch_size.max(1)).map(|idx| set.batch::<B>(idx, norm, None, device)).collect();
        EvalSet { split, batches, examples: indices.len() }
    }
}

/// A model whose state is moved over the grid.
pub struct ModelObjective<B: Backend> {
    net: Option<Net<B>>,
    layout: StateLayout,
    sets: Vec<EvalSet<B>>,
    loss: LossKind,
    device: B::Device,
}

impl<B: Backend> ModelObjective<B> {
    /// Evaluate `net` on `sets` with `loss`.
    pub fn new(net: Net<B>, sets: Vec<EvalSet<B>>, loss: LossKind, device: &B::Device) -> Self {
        let layout = StateLayout::of(&net);
        ModelObjective { net: Some(net), layout, sets, loss, device: device.clone() }
    }

    /// The model's state layout.
    pub fn layout(&self) -> &StateLayout {
        &self.layout
    }
}

impl<B: Backend> Objective for ModelObjective<B> {
    fn state_len(&self) -> usize {
        self.layout.len
    }

    fn evaluate(&mut self, state: &[f32]) -> Result<Vec<Evaluation>> {
        let net = self.layout.write(self.net.take().expect("the model is put back after every point"), state, &self.device);
        let out = self.sets.iter().map(|set| evaluate_set(&net, set, self.loss)).collect();
        self.net = Some(net);
        Ok(out)
    }
}

/// Loss and accuracy of `net` on `set` (batch means weighted by batch size).
pub fn evaluate_set<B: Backend>(net: &Net<B>, set: &EvalSet<B>, loss: LossKind) -> Evaluation {
    let (mut total, mut correct) = (0.0f64, 0i64);
    for (x, y) in &set.batches {
        let n = y.dims()[0];
        let logits = net.forward(x.clone(), BnMode::Eval);
        correct += predicted_labels(logits.clone()).equal(y.clone()).int().sum().into_scalar().elem::<i64>();
        let batch_loss: f64 = match loss {
            LossKind::Crossentropy => cross_entropy(logits, y.clone()).into_scalar().elem(),
            LossKind::Mse => {
                let classes = logits.dims()[1];
                // A single-logit binary model: its probability is the sigmoid, its target the 0/1 label.
                let diff = if classes == 1 {
                    sigmoid(logits.reshape([n])).reshape([n, 1]) - y.clone().float().reshape([n, 1])
                } else {
                    softmax(logits, 1) - y.clone().one_hot::<2>(classes).float()
                };
                (diff.clone() * diff).mean().into_scalar().elem()
            }
        };
        total += batch_loss * n as f64;
    }
    let n = set.examples.max(1) as f64;
    Evaluation { split: set.split, loss: total / n, accuracy: correct as f64 / n, examples: set.examples }
}
