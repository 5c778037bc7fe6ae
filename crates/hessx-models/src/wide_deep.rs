//! Wide & Deep (Cheng et al. 2016) for tabular rows: a wide linear model over
//! one-hot and hashed crossed categorical ids, plus a deep MLP over the
//! fields' embeddings concatenated with the dense features; the two logits
//! are summed. Embedding look-ups are `select` on a weight matrix
//! (`nn::Embedding`'s backward is not differentiable in burn 0.21).

use burn::module::{Initializer, Module, Param};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::layers::{Activation, Linear};

/// Wide & Deep classifier.
#[derive(Module, Debug)]
pub struct WideDeep<B: Backend> {
    /// All fields' embedding tables stacked, `[sum(cardinalities), embed_dim]`.
    pub embedding: Param<Tensor<B, 2>>,
    /// Wide weights of every one-hot id, `[sum(cardinalities), classes]`.
    pub wide: Param<Tensor<B, 2>>,
    /// Wide weights of the hashed crossed ids, `[cross_buckets, classes]` (absent if 0 buckets).
    pub wide_cross: Option<Param<Tensor<B, 2>>>,
    /// Wide bias, `[classes]`.
    pub wide_bias: Param<Tensor<B, 1>>,
    /// Deep MLP layers over `[fields * embed_dim + num_dense]`, ending in classes.
    pub deep: Vec<Linear<B>>,
    /// First row of each field's table in the stacked tables.
    pub offsets: Vec<usize>,
    /// Ids per field.
    pub cardinalities: Vec<usize>,
    /// Hash buckets of crossed ids.
    pub cross_buckets: usize,
}

impl<B: Backend> WideDeep<B> {
    /// The network for rows with `cardinalities.len()` categorical fields and `num_dense` floats.
    pub fn new(
        cardinalities: &[usize],
        num_dense: usize,
        embed_dim: usize,
        hidden: &[usize],
        cross_buckets: usize,
        num_classes: usize,
        device: &B::Device,
    ) -> Self {
        let total: usize = cardinalities.iter().sum();
        let offsets = cardinalities
            .iter()
            .scan(0, |acc, &c| {
                let start = *acc;
                *acc += c;
                Some(start)
            })
            .collect();
        let mut widths = vec![cardinalities.len() * embed_dim + num_dense];
        widths.extend_from_slice(hidden);
        widths.push(num_classes);
        let small = Initializer::Normal {
            mean: 0.0,
            std: 0.01,
        };
        WideDeep {
            embedding: Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            }
            .init([total, embed_dim], device),
            wide: small.init([total, num_classes], device),
            wide_cross: (cross_buckets > 0)
                .then(|| small.init([cross_buckets, num_classes], device)),
            wide_bias: Initializer::Zeros.init([num_classes], device),
            deep: widths
                .windows(2)
                .map(|w| Linear::new(w[0], w[1], true, device))
                .collect(),
            offsets,
            cardinalities: cardinalities.to_vec(),
            cross_buckets,
        }
    }

    /// Hashed id of every pair of fields `(i, j)`, `i < j`, per row: `[N * pairs]`.
    /// Computed on the host: ids carry no gradient.
    fn crossed_ids(&self, ids: &[i64], n: usize) -> Vec<i64> {
        let f = self.cardinalities.len();
        let mut out = Vec::with_capacity(n * f * (f - 1) / 2);
        for row in ids.chunks(f) {
            for i in 0..f {
                for j in i + 1..f {
                    // Mixed-radix id of the pair, decorrelated per pair, then bucketed.
                    let pair = (i * f + j) as u64;
                    let key = (row[i] as u64)
                        .wrapping_mul(self.cardinalities[j] as u64)
                        .wrapping_add(row[j] as u64)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .wrapping_add(pair.wrapping_mul(0xBF58_476D_1CE4_E5B9));
                    out.push(((key >> 17) % self.cross_buckets as u64) as i64);
                }
            }
        }
        out
    }

    /// Logits `[N, classes]` of categorical ids `[N, fields]` (each in
    /// `0..cardinality`) and dense features `[N, num_dense]`.
    ///
    /// # Panics
    /// If an id is out of range for its field.
    pub fn forward(&self, categorical: Tensor<B, 2, Int>, dense: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, f] = categorical.dims();
        assert_eq!(
            f,
            self.cardinalities.len(),
            "wide-deep: expected {} categorical fields, got {f}",
            self.cardinalities.len()
        );
        let device = dense.device();
        let ids: Vec<i64> = categorical
            .into_data()
            .convert::<i64>()
            .to_vec()
            .expect("categorical ids should be integers");
        let mut global = Vec::with_capacity(ids.len());
        for (k, &id) in ids.iter().enumerate() {
            let field = k % f;
            assert!(
                id >= 0 && (id as usize) < self.cardinalities[field],
                "wide-deep: id {id} of field {field} is outside 0..{}",
                self.cardinalities[field]
            );
            global.push(id + self.offsets[field] as i64);
        }
        let global = Tensor::<B, 1, Int>::from_data(TensorData::new(global, [n * f]), &device);
        let classes = self.wide_bias.dims()[0];
        let embed_dim = self.embedding.dims()[1];

        let mut wide = self
            .wide
            .val()
            .select(0, global.clone())
            .reshape([n, f, classes])
            .sum_dim(1)
            .reshape([n, classes]);
        if let Some(cross) = &self.wide_cross
            && f > 1
        {
            let pairs = f * (f - 1) / 2;
            let crossed = self.crossed_ids(&ids, n);
            let crossed =
                Tensor::<B, 1, Int>::from_data(TensorData::new(crossed, [n * pairs]), &device);
            wide = wide
                + cross
                    .val()
                    .select(0, crossed)
                    .reshape([n, pairs, classes])
                    .sum_dim(1)
                    .reshape([n, classes]);
        }
        wide = wide + self.wide_bias.val().unsqueeze::<2>();

        let embedded = self
            .embedding
            .val()
            .select(0, global)
            .reshape([n, f * embed_dim]);
        let mut x = Tensor::cat(vec![embedded, dense], 1);
        let last = self.deep.len() - 1;
        for (i, layer) in self.deep.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = Activation::Relu.apply(x);
            }
        }
        wide + x
    }
}
