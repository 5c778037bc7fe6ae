//! One type for every model, so stages and the Hessian engine handle a
//! network without knowing its architecture.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::cnn::SmallCnn;
use crate::layers::{Activation, BnMode};
use crate::mlp::Mlp;
use crate::resnet::ResNet;
use crate::spec::{Arch, InputSpec, ModelSpec};
use crate::torchvision_resnet::TorchResNet;
use crate::transformer::{SequenceTransformer, Transformer};
use crate::wide_deep::WideDeep;

/// What a model eats: one batch of inputs.
#[derive(Clone, Debug)]
pub enum Input<B: Backend> {
    /// `[N, C, H, W]` images, already normalised.
    Images(Tensor<B, 4>),
    /// Tabular rows.
    Tabular {
        /// Categorical ids, `[N, fields]`.
        categorical: Tensor<B, 2, Int>,
        /// Dense features, `[N, num_dense]`.
        dense: Tensor<B, 2>,
    },
    /// `[N, T]` token ids.
    Tokens(Tensor<B, 2, Int>),
}

impl<B: Backend> Input<B> {
    /// Number of samples in the batch.
    pub fn batch_size(&self) -> usize {
        match self {
            Input::Images(x) => x.dims()[0],
            Input::Tabular { categorical, .. } => categorical.dims()[0],
            Input::Tokens(x) => x.dims()[0],
        }
    }

    /// What kind of input this is, for panics on a mismatch.
    fn kind(&self) -> &'static str {
        match self {
            Input::Images(_) => "images",
            Input::Tabular { .. } => "tabular rows",
            Input::Tokens(_) => "token sequences",
        }
    }

    fn images(self, model: &str) -> Tensor<B, 4> {
        match self {
            Input::Images(x) => x,
            other => panic!("{model} takes images, got {}", other.kind()),
        }
    }
}

/// Any hessx model.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Net<B: Backend> {
    /// See [`Mlp`].
    Mlp(Mlp<B>),
    /// See [`SmallCnn`].
    SmallCnn(SmallCnn<B>),
    /// See [`ResNet`].
    ResNet(ResNet<B>),
    /// See [`TorchResNet`].
    TorchResNet(TorchResNet<B>),
    /// See [`Transformer`].
    Transformer(Transformer<B>),
    /// See [`WideDeep`].
    WideDeep(WideDeep<B>),
    /// See [`SequenceTransformer`].
    SequenceTransformer(SequenceTransformer<B>),
}

impl ModelSpec {
    /// A freshly initialised network (weights from the backend's RNG: seed it
    /// with `B::seed` first for reproducible weights). Parameters are
    /// materialised, so clones share values (burn clones a lazy parameter's
    /// initializer, not its values).
    ///
    /// Build models for the Hessian on `Autodiff<Flex>` and lift them with
    /// `AutodiffModule::from_inner`: a mapper on a plain backend drops the
    /// parameters' `require_grad` flags.
    ///
    /// # Panics
    /// If [`ModelSpec::validate`] rejects the spec.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Net<B> {
        self.init_with_activation(None, device)
    }

    /// As [`ModelSpec::init`], with the non-linearity of the SmallCnn or a ResNet
    /// replaced (relu in the real models). Smooth variants (tanh, softplus)
    /// are what finite-difference tests of the Hessian need.
    pub fn init_with_activation<B: Backend>(
        &self,
        activation: Option<Activation>,
        device: &B::Device,
    ) -> Net<B> {
        if let Err(e) = self.validate() {
            panic!("invalid model spec: {e}");
        }
        let act = activation.unwrap_or(Activation::Relu);
        let classes = self.num_classes;
        let net = match (&self.arch, &self.input) {
            (
                Arch::Mlp { hidden, activation },
                InputSpec::Image {
                    channels,
                    height,
                    width,
                },
            ) => Net::Mlp(Mlp::new(
                channels * height * width,
                hidden,
                classes,
                *activation,
                device,
            )),
            (
                Arch::SmallCnn,
                InputSpec::Image {
                    channels,
                    height,
                    width,
                },
            ) => Net::SmallCnn(SmallCnn::new(
                *channels, *height, *width, classes, act, device,
            )),
            (
                Arch::ResNet {
                    depth,
                    batch_norm,
                    residual,
                },
                InputSpec::Image { channels, .. },
            ) => Net::ResNet(ResNet::new(
                *channels,
                classes,
                *depth,
                *batch_norm,
                *residual,
                act,
                device,
            )),
            (Arch::TorchResNet { depth, width }, InputSpec::Image { channels, .. }) => Net::TorchResNet(
                TorchResNet::new(*channels, classes, *depth, *width, act, device),
            ),
            (
                Arch::Transformer {
                    patch,
                    dim,
                    depth,
                    heads,
                    mlp_dim,
                },
                InputSpec::Image {
                    channels,
                    height,
                    width,
                },
            ) => Net::Transformer(Transformer::new(
                (*channels, *height, *width),
                *patch,
                *dim,
                *depth,
                *heads,
                *mlp_dim,
                classes,
                device,
            )),
            (
                Arch::WideDeep {
                    embed_dim,
                    hidden,
                    cross_buckets,
                },
                InputSpec::Tabular {
                    cardinalities,
                    num_dense,
                },
            ) => Net::WideDeep(WideDeep::new(
                cardinalities,
                *num_dense,
                *embed_dim,
                hidden,
                *cross_buckets,
                classes,
                device,
            )),
            (Arch::SequenceTransformer { dim, depth, heads, mlp_dim }, InputSpec::Tokens { vocab, length }) => {
                Net::SequenceTransformer(SequenceTransformer::new(
                    (*vocab, *length),
                    *dim,
                    *depth,
                    *heads,
                    *mlp_dim,
                    classes,
                    device,
                ))
            }
            _ => unreachable!("validate() rejects architecture/input mismatches"),
        };
        net.visit(&mut Materialise);
        net
    }
}

/// Forces every lazily initialised parameter to take its value.
struct Materialise;

impl<B: Backend> ModuleVisitor<B> for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

impl<B: Backend> Net<B> {
    /// Logits `[N, classes]`. `mode` matters only for models with batch norm.
    ///
    /// # Panics
    /// If the input kind does not fit the model (images for a tabular model or
    /// the reverse).
    pub fn forward(&self, input: Input<B>, mode: BnMode) -> Tensor<B, 2> {
        match self {
            Net::Mlp(m) => m.forward(input.images("mlp")),
            Net::SmallCnn(m) => m.forward(input.images("small-cnn")),
            Net::ResNet(m) => m.forward(input.images("resnet"), mode),
            Net::TorchResNet(m) => m.forward(input.images("torchvision resnet"), mode),
            Net::Transformer(m) => m.forward(input.images("transformer")),
            Net::WideDeep(m) => match input {
                Input::Tabular { categorical, dense } => m.forward(categorical, dense),
                other => panic!("wide-deep takes tabular rows, got {}", other.kind()),
            },
            Net::SequenceTransformer(m) => match input {
                Input::Tokens(tokens) => m.forward(tokens),
                other => panic!("sequence transformer takes token sequences, got {}", other.kind()),
            },
        }
    }

    /// Number of trainable parameters (batch-norm running statistics excluded).
    pub fn num_params(&self) -> usize {
        self.param_shapes()
            .iter()
            .filter(|(path, _)| is_trainable(path))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// Every float tensor of the model (trainable parameters and batch-norm
    /// running statistics) as `(dotted path, shape)`, in visiting order. The
    /// path is the record's (e.g. `layer2.0.downsample.bn.gamma`).
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = ShapeVisitor { path: ModulePath::default(), out: Vec::new() };
        self.visit(&mut v);
        v.out
    }
}

/// Whether a tensor path names a trainable parameter (not a running statistic).
pub fn is_trainable(path: &str) -> bool {
    !(path.ends_with("running_mean") || path.ends_with("running_var"))
}

/// The dotted path of the module a [`ModuleVisitor`] is in, as hessx-models
/// names tensors: an enum module ([`Net`]) enters with its variant name and
/// adds no level, so paths read `layer3.0.conv1.weight`.
#[derive(Debug, Default)]
pub struct ModulePath(Vec<String>);

impl ModulePath {
    /// Call from [`ModuleVisitor::enter_module`].
    pub fn enter(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.0.push(name.to_string());
        }
    }
    /// Call from [`ModuleVisitor::exit_module`].
    pub fn exit(&mut self, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.0.pop();
        }
    }
    /// The path of a tensor visited now.
    pub fn current(&self) -> String {
        self.0.join(".")
    }
}

struct ShapeVisitor {
    path: ModulePath,
    out: Vec<(String, Vec<usize>)>,
}

impl<B: Backend> ModuleVisitor<B> for ShapeVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }
    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.path.exit(container_type);
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.out.push((self.path.current(), param.val().dims().to_vec()));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::{Distribution, TensorData};

    pub(crate) type B1 = Autodiff<Flex>;

    pub(crate) fn image_spec(arch: Arch, channels: usize, side: usize) -> ModelSpec {
        ModelSpec {
            arch,
            input: InputSpec::Image {
                channels,
                height: side,
                width: side,
            },
            num_classes: 10,
        }
    }

    pub(crate) fn resnet20() -> Arch {
        Arch::ResNet {
            depth: 20,
            batch_norm: true,
            residual: true,
        }
    }

    pub(crate) fn transformer() -> Arch {
        Arch::Transformer {
            patch: 4,
            dim: 32,
            depth: 2,
            heads: 4,
            mlp_dim: 64,
        }
    }

    fn mlp() -> Arch {
        Arch::Mlp {
            hidden: vec![32],
            activation: Activation::Tanh,
        }
    }

    pub(crate) fn wide_deep_spec() -> ModelSpec {
        ModelSpec {
            arch: Arch::WideDeep {
                embed_dim: 4,
                hidden: vec![16],
                cross_buckets: 7,
            },
            input: InputSpec::Tabular {
                cardinalities: vec![3, 5, 4],
                num_dense: 2,
            },
            num_classes: 2,
        }
    }

    /// Parameter counts worked out by hand, layer by layer.
    #[test]
    fn parameter_counts_match_hand_counts() {
        let dev = Default::default();
        let count = |spec: ModelSpec| spec.init::<Flex>(&dev).num_params();
        // PyHessian / He et al. resnet20 with 1x1-conv + BN shortcuts.
        assert_eq!(count(image_spec(resnet20(), 3, 32)), 272_474);
        // Digits: only the stem changes, 1 instead of 3 input channels (-2 * 16 * 9).
        assert_eq!(count(image_spec(resnet20(), 1, 8)), 272_474 - 2 * 16 * 9);
        // Each extra block per stage adds 4_672 + 18_560 + 73_984 = 97_216.
        let deep = |depth| Arch::ResNet {
            depth,
            batch_norm: true,
            residual: true,
        };
        assert_eq!(count(image_spec(deep(32), 3, 32)), 272_474 + 2 * 97_216);
        assert_eq!(count(image_spec(deep(56), 3, 32)), 855_770);
        // Without batch norm: stem 16, layer1 6 x 16, layer2 6 x 32 + shortcut 32, layer3 likewise at 64.
        let no_bn = Arch::ResNet {
            depth: 20,
            batch_norm: false,
            residual: true,
        };
        let bn_params = 2 * (16 + 6 * 16 + 7 * 32 + 7 * 64);
        assert_eq!(count(image_spec(no_bn, 3, 32)), 272_474 - bn_params);
        let no_res = Arch::ResNet {
            depth: 20,
            batch_norm: true,
            residual: false,
        };
        assert_eq!(
            count(image_spec(no_res, 3, 32)),
            272_474 - (16 * 32 + 2 * 32) - (32 * 64 + 2 * 64)
        );
        // Notebook CNN on CIFAR: conv 3*5*25+5, conv 5*5*25+5, fc 125*30+30, fc 30*10+10.
        assert_eq!(
            count(image_spec(Arch::SmallCnn, 3, 32)),
            380 + 630 + 3780 + 310
        );
        // On digits (padding 2): 8 -> 8 -> 4 -> 4 -> 2, so fc1 sees 5*2*2 = 20 features.
        assert_eq!(
            count(image_spec(Arch::SmallCnn, 1, 8)),
            130 + 630 + (20 * 30 + 30) + 310
        );
        assert_eq!(count(image_spec(mlp(), 1, 8)), 64 * 32 + 32 + 32 * 10 + 10);
        assert_eq!(
            count(image_spec(mlp(), 3, 32)),
            3072 * 32 + 32 + 32 * 10 + 10
        );
        // Transformer d32 l2 h4 mlp64: block = 2 norms (2*64) + attention 4*(32*32+32) + mlp 2112+2080.
        let block = 128 + 4 * (32 * 32 + 32) + (32 * 64 + 64) + (64 * 32 + 32);
        let tail = 2 * block + 64 + (32 * 10 + 10);
        assert_eq!(
            count(image_spec(transformer(), 1, 8)),
            (16 * 32 + 32) + 4 * 32 + tail
        );
        assert_eq!(
            count(image_spec(transformer(), 3, 32)),
            (3 * 16 * 32 + 32) + 64 * 32 + tail
        );
        // Wide&Deep: embedding 12*4, wide 12*2, crosses 7*2, bias 2, deep (14*16+16) + (16*2+2).
        assert_eq!(count(wide_deep_spec()), 48 + 24 + 14 + 2 + 240 + 34);
        // Single logit: wide 12*1, crosses 7*1, bias 1, deep (14*16+16) + (16*1+1).
        assert_eq!(count(ModelSpec { num_classes: 1, ..wide_deep_spec() }), 48 + 12 + 7 + 1 + 240 + 17);
        // Sequence transformer, vocab 20, length 6: tokens 20*32, positions 6*32, the same blocks and tail.
        assert_eq!(count(sequence_spec()), 20 * 32 + 6 * 32 + tail);
    }

    pub(crate) fn sequence_spec() -> ModelSpec {
        ModelSpec {
            arch: Arch::SequenceTransformer { dim: 32, depth: 2, heads: 4, mlp_dim: 64 },
            input: InputSpec::Tokens { vocab: 20, length: 6 },
            num_classes: 10,
        }
    }

    #[test]
    fn sequence_transformer_runs_uses_order_and_rejects_bad_ids() {
        let dev = Default::default();
        let net = sequence_spec().init::<B1>(&dev);
        let tokens = Tensor::<B1, 2, Int>::from_data(TensorData::from([[1i64, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]]), &dev);
        let y: Vec<f32> = net.forward(Input::Tokens(tokens), BnMode::Eval).into_data().to_vec().unwrap();
        assert_eq!(y.len(), 20);
        // The same multiset of tokens in another order gives other logits: positions matter.
        let d: f32 = y[..10].iter().zip(&y[10..]).map(|(a, b)| (a - b).abs()).sum();
        assert!(d > 1e-5, "{y:?}");
        let bad = Tensor::<B1, 2, Int>::from_data(TensorData::from([[1i64, 2, 3, 4, 5, 20]]), &dev);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| net.forward(Input::Tokens(bad), BnMode::Eval)));
        assert!(caught.is_err(), "id 20 of a 20-token vocabulary must be refused");
        // Models refuse other kinds of input in validate(), naming both.
        let mut wrong = sequence_spec();
        wrong.input = InputSpec::Image { channels: 1, height: 8, width: 8 };
        let err = wrong.validate().unwrap_err();
        assert!(err.contains("token sequences") && err.contains("images"), "{err}");
        let mut wrong = image_spec(resnet20(), 1, 8);
        wrong.input = InputSpec::Tokens { vocab: 3, length: 4 };
        assert!(wrong.validate().unwrap_err().contains("takes images"));
    }

    #[test]
    fn every_image_model_runs_on_digits_and_cifar_shapes() {
        let dev = Default::default();
        for arch in [mlp(), Arch::SmallCnn, resnet20(), transformer()] {
            for (c, side) in [(1, 8), (3, 32)] {
                let spec = image_spec(arch.clone(), c, side);
                let net = spec.init::<B1>(&dev);
                let x = Tensor::random([3, c, side, side], Distribution::Normal(0.0, 1.0), &dev);
                for mode in [BnMode::Train, BnMode::Eval] {
                    let y = net.forward(Input::Images(x.clone()), mode);
                    assert_eq!(y.dims(), [3, 10], "{} on {c}x{side}x{side}", spec.name());
                    let v: Vec<f32> = y.into_data().to_vec().unwrap();
                    assert!(
                        v.iter().all(|a| a.is_finite()),
                        "{} gives non-finite logits",
                        spec.name()
                    );
                }
            }
        }
    }

    #[test]
    fn wide_deep_runs_and_uses_each_part() {
        let dev = Default::default();
        let net = wide_deep_spec().init::<B1>(&dev);
        let cat =
            Tensor::<B1, 2, Int>::from_data(TensorData::from([[0i64, 4, 3], [2, 0, 1]]), &dev);
        let dense = Tensor::<B1, 2>::from_floats([[0.5, -1.0], [2.0, 0.0]], &dev);
        let y = net.forward(
            Input::Tabular {
                categorical: cat.clone(),
                dense: dense.clone(),
            },
            BnMode::Eval,
        );
        assert_eq!(y.dims(), [2, 2]);
        // Changing only one field's id changes only that row's logits.
        let cat2 =
            Tensor::<B1, 2, Int>::from_data(TensorData::from([[1i64, 4, 3], [2, 0, 1]]), &dev);
        let y2 = net.forward(
            Input::Tabular {
                categorical: cat2,
                dense,
            },
            BnMode::Eval,
        );
        let d: Vec<f32> = (y2 - y).abs().sum_dim(1).into_data().to_vec().unwrap();
        assert!(d[0] > 1e-6 && d[1] == 0.0, "{d:?}");
    }

    #[test]
    #[should_panic(expected = "outside 0..3")]
    fn wide_deep_rejects_out_of_range_ids() {
        let dev = Default::default();
        let net = wide_deep_spec().init::<Flex>(&dev);
        let cat = Tensor::<Flex, 2, Int>::from_data(TensorData::from([[3i64, 0, 0]]), &dev);
        let dense = Tensor::<Flex, 2>::zeros([1, 2], &dev);
        let _ = net.forward(
            Input::Tabular {
                categorical: cat,
                dense,
            },
            BnMode::Eval,
        );
    }

    #[test]
    fn resnet_eval_mode_is_per_sample_and_train_mode_is_not() {
        let dev = Default::default();
        let net = image_spec(resnet20(), 1, 8).init::<Flex>(&dev);
        let a = Tensor::<Flex, 4>::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
        let b = Tensor::<Flex, 4>::random([4, 1, 8, 8], Distribution::Normal(1.0, 3.0), &dev);
        // Give the running statistics non-trivial values first.
        let _ = net.forward(Input::Images(b.clone()), BnMode::Train);
        let first = |x: Tensor<Flex, 2>| x.slice([0..1]).into_data();
        let mixed = Tensor::cat(vec![a.clone().slice([0..1]), b.slice([1..4])], 0);
        let ea = first(net.forward(Input::Images(a.clone()), BnMode::Eval));
        let em = first(net.forward(Input::Images(mixed.clone()), BnMode::Eval));
        ea.assert_approx_eq::<f32>(&em, Default::default());
        let ta: Vec<f32> = first(net.forward(Input::Images(a), BnMode::TrainFrozen))
            .to_vec()
            .unwrap();
        let tm: Vec<f32> = first(net.forward(Input::Images(mixed), BnMode::TrainFrozen))
            .to_vec()
            .unwrap();
        let diff: f32 = ta.iter().zip(&tm).map(|(x, y)| (x - y).abs()).sum();
        assert!(
            diff > 1e-4,
            "train mode should depend on the rest of the batch"
        );
    }

    #[test]
    fn lifting_to_nested_autodiff_keeps_values_and_running_stats() {
        use burn::module::AutodiffModule;
        type B2 = Autodiff<B1>;
        let dev = Default::default();
        let net = image_spec(resnet20(), 1, 8).init::<B1>(&dev);
        let x = Tensor::<B1, 4>::random([2, 1, 8, 8], Distribution::Normal(0.5, 1.0), &dev);
        let _ = net.forward(Input::Images(x.clone()), BnMode::Train);
        let lifted = Net::<B2>::from_inner(net.clone());
        let y1 = net
            .forward(Input::Images(x.clone()), BnMode::Eval)
            .into_data();
        let y2 = lifted
            .forward(Input::Images(Tensor::from_inner(x.clone())), BnMode::Eval)
            .into_data();
        y1.assert_eq(&y2, true);
        // A train-mode forward on the lifted copy does not move the original's statistics.
        let _ = lifted.forward(Input::Images(Tensor::from_inner(x.clone())), BnMode::Train);
        let y3 = net.forward(Input::Images(x), BnMode::Eval).into_data();
        y1.assert_eq(&y3, true);
    }

    #[test]
    fn validate_rejects_mismatches() {
        assert!(
            image_spec(
                Arch::ResNet {
                    depth: 21,
                    batch_norm: true,
                    residual: true
                },
                3,
                32
            )
            .validate()
            .is_err()
        );
        assert!(image_spec(Arch::SmallCnn, 1, 3).validate().is_err());
        let mut wd = wide_deep_spec();
        wd.input = InputSpec::Image {
            channels: 1,
            height: 8,
            width: 8,
        };
        assert!(wd.validate().is_err());
        let heads = Arch::Transformer {
            patch: 4,
            dim: 30,
            depth: 1,
            heads: 4,
            mlp_dim: 8,
        };
        assert!(image_spec(heads, 1, 8).validate().is_err());
        assert_eq!(image_spec(resnet20(), 3, 32).name(), "resnet20");
        assert_eq!(
            image_spec(
                Arch::ResNet {
                    depth: 20,
                    batch_norm: false,
                    residual: false
                },
                3,
                32
            )
            .name(),
            "resnet20-nobn-nores"
        );
    }
}
