//! Loading PyTorch `state_dict` files (`.pt`, `.pth`, PyHessian's `net.pkl`)
//! onto hessx models, through burn-store's pure-Rust reader (no torch needed).
//!
//! What is handled beyond burn-store's defaults:
//! - a state_dict nested under a key (`state_dict`, `model_state_dict`,
//!   `model`, `net`, `network`), as training scripts save it with epochs and
//!   optimiser state;
//! - the `module.` prefix of `torch.nn.DataParallel`, which PyHessian's
//!   `training.py` uses;
//! - the shortcut `Sequential` of PyHessian's and torchvision's ResNets
//!   (`downsample.0` conv, `downsample.1` batch norm), which is
//!   `downsample.conv` / `downsample.bn` here.
//!
//! burn-store's adapter transposes `Linear` weights and renames batch/layer
//! norm `weight`/`bias` to `gamma`/`beta`. It decides by the type of the
//! module holding the tensor, so the raw parameter matrices of Wide&Deep
//! (`embedding`, `wide`, `wide_cross`) and of the sequence Transformer
//! (`token_embedding`, `position`), fields of `WideDeep` /
//! `SequenceTransformer` themselves, load as they are: they are `nn.Parameter`s
//! of the same `[rows, columns]` layout in the PyTorch modules
//! (`tests/fixtures/make_family_fixtures.py`, README). A file that does not
//! fit fails with every missing key, unexpected key and shape mismatch listed
//! (in PyTorch's names and shapes); unused `num_batches_tracked` buffers are
//! fine.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn_store::pytorch::PytorchReader;
use burn_store::{ApplyError, ModuleSnapshot, PytorchStore};

use crate::error::{Error, Result};
use crate::net::Net;

/// Keys under which training scripts commonly nest the state_dict.
const NESTING_KEYS: [&str; 5] = ["state_dict", "model_state_dict", "model", "net", "network"];

/// Loads the PyTorch state_dict at `path` into `net` and returns it.
///
/// Batch-norm running statistics are loaded too; they live in a cell that
/// clones of `net` share, so load into a model you own.
pub fn load_pytorch<B: Backend>(mut net: Net<B>, path: &Path) -> Result<Net<B>> {
    if !path.exists() {
        return Err(Error::Missing {
            path: path.to_path_buf(),
        });
    }
    let pytorch_err = |reason: String| Error::Pytorch {
        path: path.to_path_buf(),
        reason,
    };
    let keys = PytorchReader::new(path)
        .map_err(|e| pytorch_err(e.to_string()))?
        .keys();
    let nesting = NESTING_KEYS
        .iter()
        .find(|k| keys.iter().any(|key| key.starts_with(&format!("{k}."))));
    let inner: Vec<&str> = match nesting {
        Some(k) => keys
            .iter()
            .filter_map(|key| key.strip_prefix(&format!("{k}.")))
            .collect(),
        None => keys.iter().map(String::as_str).collect(),
    };
    let data_parallel = !inner.is_empty() && inner.iter().all(|k| k.starts_with("module."));

    let mut store = PytorchStore::from_file(path)
        .allow_partial(true)
        .validate(false);
    if let Some(k) = nesting {
        store = store.with_top_level_key(*k);
    }
    if data_parallel {
        store = store.with_key_remapping(r"^module\.", "");
    }
    store = store
        .with_key_remapping(r"(^|\.)downsample\.0\.", "${1}downsample.conv.")
        .with_key_remapping(r"(^|\.)downsample\.1\.", "${1}downsample.bn.");

    let result = net
        .load_from(&mut store)
        .map_err(|e| pytorch_err(e.to_string()))?;

    let mut listing = String::new();
    if !result.missing.is_empty() {
        listing.push_str("\n  missing keys (in the model, not in the file):");
        for (p, _) in &result.missing {
            listing.push_str(&format!("\n    {}", torch_name(p)));
        }
    }
    // burn-store 0.21 reports a norm's `weight`/`bias` as unused even when it
    // was applied under its burn name (`gamma`/`beta`): it looks the torch
    // name up but does not mark it visited. Those are not unexpected.
    let applied_as = |p: &str| {
        let burn_name = match (p.strip_suffix(".weight"), p.strip_suffix(".bias")) {
            (Some(stem), _) => format!("{stem}.gamma"),
            (_, Some(stem)) => format!("{stem}.beta"),
            _ => return false,
        };
        result.applied.contains(&burn_name)
    };
    let unexpected: Vec<&String> = result
        .unused
        .iter()
        .filter(|p| !p.ends_with("num_batches_tracked") && !applied_as(p))
        .collect();
    if !unexpected.is_empty() {
        listing.push_str("\n  unexpected keys (in the file, not in the model):");
        for p in unexpected {
            listing.push_str(&format!("\n    {}", torch_name(p)));
        }
    }
    if !result.errors.is_empty() {
        listing.push_str("\n  mismatches:");
        for e in &result.errors {
            listing.push_str(&format!("\n    {}", mismatch_line(e)));
        }
    }
    if !listing.is_empty() {
        return Err(Error::StateDictMismatch {
            path: path.to_path_buf(),
            model: net_name(&net),
            listing,
        });
    }
    Ok(net)
}

/// A burn tensor path in PyTorch's naming (inverse of the remapping above).
fn torch_name(path: &str) -> String {
    let p = path
        .replace("downsample.conv.", "downsample.0.")
        .replace("downsample.bn.", "downsample.1.");
    if let Some(stem) = p.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = p.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        p
    }
}

/// One mismatch in PyTorch's names and shapes. The adapter has already
/// transposed a `Linear` weight to burn's `[in, out]` when the shapes are
/// compared, so both shapes of a 2-D `.weight` (in hessx's models only
/// `Linear` weights are 2-D `.weight`s: convolution weights are 4-D, norm
/// weights are 1-D `gamma`s) are turned back to PyTorch's `[out, in]`. Raw
/// parameter matrices (`embedding`, `wide`, `wide_cross`, `token_embedding`,
/// `position`) are not transposed anywhere and are shown as they are.
fn mismatch_line(e: &ApplyError) -> String {
    match e {
        ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        } => {
            let linear =
                path.ends_with(".weight") && expected.num_dims() == 2 && found.num_dims() == 2;
            let torch = |s: &[usize]| {
                let mut s = s.to_vec();
                if linear {
                    s.reverse();
                }
                format!("{s:?}")
            };
            format!(
                "{}: the model has {}, the file {}{}",
                torch_name(path),
                torch(expected),
                torch(found),
                if linear { " (PyTorch's [out, in])" } else { "" }
            )
        }
        other => other
            .to_string()
            .replace("downsample.conv.", "downsample.0.")
            .replace("downsample.bn.", "downsample.1."),
    }
}

fn net_name<B: Backend>(net: &Net<B>) -> String {
    match net {
        Net::Mlp(_) => "mlp",
        Net::SmallCnn(_) => "small-cnn",
        Net::ResNet(_) => "resnet",
        Net::TorchResNet(_) => "torchvision resnet",
        Net::Transformer(_) => "transformer",
        Net::WideDeep(_) => "wide-deep",
        Net::SequenceTransformer(_) => "sequence transformer",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tests::{B1, image_spec, resnet20};
    use crate::spec::Arch;
    use crate::{Activation, BnMode, Input};
    use burn::tensor::{Distribution, Int, Tensor, TensorData};
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name)
    }

    /// The fixture's values: element `i` of the `k`-th tensor in file order
    /// (see `tests/fixtures/make_pytorch_fixture.py`).
    fn value(k: usize, i: usize) -> f32 {
        shifted(k, i, 0.0)
    }

    /// `value + offset`, added in f64 before rounding to f32, as the script does.
    fn shifted(k: usize, i: usize, offset: f64) -> f32 {
        (((i * 7 + k * 13) % 101) as f64 / 101.0 - 0.5 + offset) as f32
    }

    fn floats<const D: usize>(t: Tensor<B1, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn pyhessian_resnet20_checkpoint_lands_in_the_right_parameters() {
        let dev = Default::default();
        let net = image_spec(resnet20(), 3, 32).init::<B1>(&dev);
        let net = load_pytorch(net, &fixture("resnet20_pyhessian.pkl")).unwrap();
        let Net::ResNet(r) = &net else {
            panic!("expected a resnet")
        };
        // File order: conv1.weight (k=0), bn1.{weight,bias,running_mean,running_var,num_batches_tracked} (k=1..5).
        let conv1 = floats(r.conv1.weight.val());
        assert_eq!(conv1.len(), 432);
        assert!(conv1.iter().enumerate().all(|(i, &v)| v == value(0, i)));
        let bn1 = r.bn1.as_ref().unwrap();
        assert_eq!(
            floats(bn1.gamma.val()),
            (0..16).map(|i| value(1, i)).collect::<Vec<_>>()
        );
        assert_eq!(
            floats(bn1.beta.val()),
            (0..16).map(|i| value(2, i)).collect::<Vec<_>>()
        );
        assert_eq!(
            floats(bn1.running_mean.value()),
            (0..16).map(|i| value(3, i)).collect::<Vec<_>>()
        );
        assert_eq!(
            floats(bn1.running_var.value()),
            (0..16).map(|i| shifted(4, i, 1.0)).collect::<Vec<_>>()
        );
        // layer1: 3 blocks x (conv1, bn1 x5, conv2, bn2 x5) = 12 tensors each, from k=6.
        // layer2.0 starts at k = 6 + 36 = 42: conv1 42, bn1 43-47, conv2 48, bn2 49-53, downsample.0 54, downsample.1 55-59.
        let block = &r.layer2[0];
        let ds = block
            .downsample
            .as_ref()
            .expect("layer2.0 has a projection shortcut");
        assert_eq!(ds.conv.weight.dims(), [32, 16, 1, 1]);
        assert!(
            floats(ds.conv.weight.val())
                .iter()
                .enumerate()
                .all(|(i, &v)| v == value(54, i))
        );
        let ds_bn = ds.bn.as_ref().unwrap();
        assert_eq!(
            floats(ds_bn.gamma.val()),
            (0..32).map(|i| value(55, i)).collect::<Vec<_>>()
        );
        assert_eq!(
            floats(ds_bn.running_var.value()),
            (0..32).map(|i| shifted(58, i, 1.0)).collect::<Vec<_>>()
        );
        // fc.weight is torch [10, 64] at k = 6 + 36 + 42 + 42 = 126; burn keeps [64, 10], transposed.
        let fc = floats(r.fc.weight.val());
        assert_eq!(r.fc.weight.dims(), [64, 10]);
        for row in 0..10 {
            for col in 0..64 {
                assert_eq!(
                    fc[col * 10 + row],
                    value(126, row * 64 + col),
                    "fc.weight[{row}][{col}]"
                );
            }
        }
        assert_eq!(
            floats(r.fc.bias.as_ref().unwrap().val()),
            (0..10).map(|i| value(127, i)).collect::<Vec<_>>()
        );
        // The loaded model runs and its parameters are still trainable.
        let x = Tensor::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &dev);
        let loss = crate::cross_entropy(
            net.forward(Input::Images(x), BnMode::Eval),
            Tensor::from_ints([0, 9], &dev),
        );
        let grads = loss.backward();
        assert!(r.fc.weight.grad(&grads).is_some());
    }

    /// `torchvision.models.resnet{depth}` at base width `width`, 3 channels.
    fn torchvision_spec(
        depth: usize,
        width: usize,
        side: (usize, usize),
        classes: usize,
    ) -> crate::ModelSpec {
        crate::ModelSpec {
            arch: Arch::TorchResNet { depth, width },
            input: crate::InputSpec::Image {
                channels: 3,
                height: side.0,
                width: side.1,
            },
            num_classes: classes,
        }
    }

    /// Loads `tv_<name>.pt` (a torchvision state_dict, written by
    /// `tests/fixtures/make_torchvision_fixture.py`) and compares the eval-mode
    /// logits with PyTorch's on the saved input.
    ///
    /// Tolerance: 2e-6 absolute on logits of size ~0.5. Both sides compute in
    /// f32 with different summation orders: PyTorch's own f32 logits differ
    /// from its f64 ones by 1.7e-7 (resnet18) and 3.4e-7 (resnet50) on these
    /// inputs (the script prints it), and hessx's differ from PyTorch's by
    /// 2.4e-7 and 2.1e-7 (measured), so 2e-6 is ~10x f32 rounding, while a
    /// misplaced tensor (swapped gamma/beta, mean/var, a transposed fc, a
    /// shifted pooling window) moves logits by 1e-2 or more.
    fn torchvision_logits_match(name: &str, spec: crate::ModelSpec) {
        let dev = Default::default();
        let net = load_pytorch(
            spec.init::<burn::backend::Flex>(&dev),
            &fixture(&format!("tv_{name}.pt")),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let io = PytorchReader::new(fixture(&format!("tv_{name}_io.pt"))).unwrap();
        let tensor = |key: &str| {
            io.get(key)
                .unwrap_or_else(|| panic!("{name}_io.pt has no {key}"))
                .to_data()
                .unwrap()
        };
        let x = Tensor::<burn::backend::Flex, 4>::from_data(tensor("input"), &dev);
        let expected: Vec<f32> = tensor("logits").to_vec().unwrap();
        let got: Vec<f32> = net
            .forward(Input::Images(x), BnMode::Eval)
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(got.len(), expected.len(), "{name}: logits shape");
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{name}: max |hessx - PyTorch| logit difference {worst:.2e}");
        assert!(
            worst < 2e-6,
            "{name}: logits {got:?} vs PyTorch's {expected:?} (max difference {worst:e})"
        );
        // Eval mode used the file's running statistics: train mode on the same batch differs.
        let x = Tensor::<burn::backend::Flex, 4>::from_data(tensor("input"), &dev);
        let train: Vec<f32> = net
            .forward(Input::Images(x), BnMode::TrainFrozen)
            .into_data()
            .to_vec()
            .unwrap();
        assert!(
            train
                .iter()
                .zip(&expected)
                .any(|(a, b)| (a - b).abs() > 1e-3),
            "{name}: statistics had no effect"
        );
    }

    #[test]
    fn torchvision_resnet18_state_dict_loads_and_gives_pytorchs_logits() {
        torchvision_logits_match("resnet18_w2", torchvision_spec(18, 2, (32, 32), 3));
    }

    #[test]
    fn torchvision_resnet50_state_dict_loads_and_gives_pytorchs_logits() {
        torchvision_logits_match("resnet50_w2", torchvision_spec(50, 2, (29, 35), 3));
    }

    /// At torchvision's width, every tensor has torchvision's key, in
    /// torchvision's order, with its shape (`tv_layout.json`, written by the
    /// fixture script from `torchvision.models.resnetNN(num_classes=10)`).
    #[test]
    fn torchvision_resnets_have_torchvisions_keys_order_and_shapes() {
        let dev = Default::default();
        let text = std::fs::read_to_string(fixture("tv_layout.json")).unwrap();
        let layouts: serde_json::Value = serde_json::from_str(&text).unwrap();
        for depth in crate::torchvision_resnet::DEPTHS {
            let want = &layouts[format!("resnet{depth}")];
            let spec = torchvision_spec(depth, 64, (32, 32), 10);
            assert_eq!(spec.name(), format!("resnet{depth}"));
            let net = spec.init::<burn::backend::Flex>(&dev);
            let ours: Vec<(String, Vec<usize>)> = net
                .param_shapes()
                .into_iter()
                .map(|(path, shape)| {
                    let shape = if path == "fc.weight" {
                        vec![shape[1], shape[0]]
                    } else {
                        shape
                    };
                    (torch_name(&path), shape)
                })
                .collect();
            let theirs: Vec<(String, Vec<usize>)> = want["state_dict"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let shape = e[1]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap() as usize)
                        .collect();
                    (e[0].as_str().unwrap().to_string(), shape)
                })
                .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
                .collect();
            assert_eq!(
                ours, theirs,
                "resnet{depth}: layout differs from torchvision's"
            );
            assert_eq!(
                net.num_params() as u64,
                want["num_params"].as_u64().unwrap(),
                "resnet{depth}"
            );
        }
    }

    #[test]
    fn a_mismatched_state_dict_lists_missing_unexpected_and_misshapen_keys() {
        let dev = Default::default();
        let spec = image_spec(
            Arch::Mlp {
                hidden: vec![16],
                activation: Activation::Tanh,
            },
            1,
            8,
        );
        let err = load_pytorch(spec.init::<B1>(&dev), &fixture("mlp_broken.pt")).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::StateDictMismatch { .. }), "{msg}");
        assert!(msg.contains("mlp_broken.pt"), "{msg}");
        assert!(
            msg.contains("missing keys") && msg.contains("layers.1.bias"),
            "{msg}"
        );
        assert!(
            msg.contains("unexpected keys") && msg.contains("layers.2.weight"),
            "{msg}"
        );
        assert!(
            msg.contains("layers.0.weight") && msg.contains("63"),
            "{msg}"
        );
        assert!(
            !msg.contains("epoch"),
            "nested state_dict should be picked, not the wrapper: {msg}"
        );
    }

    #[test]
    fn loading_into_the_wrong_architecture_lists_the_differences() {
        let dev = Default::default();
        // resnet32 has layer1.3 etc. (missing in the file); no-BN resnet20 leaves bn keys unused.
        let err = load_pytorch(
            image_spec(
                Arch::ResNet {
                    depth: 32,
                    batch_norm: true,
                    residual: true,
                },
                3,
                32,
            )
            .init::<B1>(&dev),
            &fixture("resnet20_pyhessian.pkl"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("layer1.3.conv1.weight") && err.contains("layer3.4.bn2.weight"),
            "{err}"
        );
        let no_bn = Arch::ResNet {
            depth: 20,
            batch_norm: false,
            residual: true,
        };
        let err = load_pytorch(
            image_spec(no_bn, 3, 32).init::<B1>(&dev),
            &fixture("resnet20_pyhessian.pkl"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unexpected keys") && err.contains("layer2.0.downsample.1.running_mean"),
            "{err}"
        );
        assert!(!err.contains("num_batches_tracked"), "{err}");
        // 1-channel stem, 5 classes: shape mismatches for conv1 and fc.
        let mut spec = image_spec(resnet20(), 1, 8);
        spec.num_classes = 5;
        let err = load_pytorch(spec.init::<B1>(&dev), &fixture("resnet20_pyhessian.pkl"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("conv1.weight") && err.contains("fc.weight") && err.contains("fc.bias"),
            "{err}"
        );
        let missing = load_pytorch(spec.init::<B1>(&dev), &fixture("no-such.pt")).unwrap_err();
        assert!(matches!(missing, Error::Missing { .. }));
    }

    type F = burn::backend::Flex;

    /// `wide_deep.pt`'s model with other sizes where asked (the file's: fields
    /// of 5, 3, 300 and 4 ids, 3 dense features, embeddings of 4, hidden
    /// widths 8 and 6, 11 crossed-id buckets, one logit).
    fn wide_deep_spec(
        cardinalities: &[usize],
        hidden: &[usize],
        cross_buckets: usize,
    ) -> crate::ModelSpec {
        crate::ModelSpec {
            arch: Arch::WideDeep {
                embed_dim: 4,
                hidden: hidden.to_vec(),
                cross_buckets,
            },
            input: crate::InputSpec::Tabular {
                cardinalities: cardinalities.to_vec(),
                num_dense: 3,
            },
            num_classes: 1,
        }
    }

    /// `seq_transformer.pt`'s model (the file's: vocabulary 13, 5 tokens,
    /// width 8, depth 2, 2 heads, MLP width 16, 3 classes) with `vocab`,
    /// `depth` and `classes` as given.
    fn seq_transformer_spec(vocab: usize, depth: usize, classes: usize) -> crate::ModelSpec {
        crate::ModelSpec {
            arch: Arch::SequenceTransformer {
                dim: 8,
                depth,
                heads: 2,
                mlp_dim: 16,
            },
            input: crate::InputSpec::Tokens { vocab, length: 5 },
            num_classes: classes,
        }
    }

    /// Tensor `key` of the fixture `file`.
    fn fixture_tensor(file: &str, key: &str) -> TensorData {
        PytorchReader::new(fixture(file))
            .unwrap()
            .get(key)
            .unwrap_or_else(|| panic!("{file} has no {key}"))
            .to_data()
            .unwrap()
    }

    /// An int64 `[N, K]` fixture tensor as ids.
    fn fixture_ids(file: &str, key: &str) -> Tensor<F, 2, Int> {
        let data = fixture_tensor(file, key);
        let shape = [data.shape[0], data.shape[1]];
        let ids: Vec<i64> = data.convert::<i64>().to_vec().unwrap();
        Tensor::from_data(TensorData::new(ids, shape), &Default::default())
    }

    /// Largest |hessx - PyTorch| over the logits, relative to the largest
    /// PyTorch logit (at least 1).
    fn logit_error(name: &str, got: Tensor<F, 2>, expected: &TensorData) -> f32 {
        assert_eq!(
            got.dims().to_vec(),
            expected.shape.to_vec(),
            "{name}: logits shape"
        );
        let got: Vec<f32> = got.into_data().to_vec().unwrap();
        let want: Vec<f32> = expected.to_vec().unwrap();
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        got.iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
            / scale
    }

    /// `wide_deep.pt` is `torch.save(model.state_dict())` of the PyTorch
    /// `WideDeep` in `tests/fixtures/make_family_fixtures.py` (the README's),
    /// `wide_deep_io.pt` its input rows and logits. hessx's logits agree to
    /// f32 rounding: PyTorch's own f32 and f64 logits differ by 2.9e-7 (the
    /// script prints it) and every tensor is drawn at a scale where a wrong
    /// table row, a wrong crossed-id bucket or a transposed table moves a
    /// logit by 1e-1 or more. The crossed ids matter: without them the logits
    /// are off.
    #[test]
    fn wide_deep_state_dict_loads_and_gives_pytorchs_logits() {
        let dev = Default::default();
        let spec = wide_deep_spec(&[5, 3, 300, 4], &[8, 6], 11);
        let net = load_pytorch(spec.init::<F>(&dev), &fixture("wide_deep.pt"))
            .unwrap_or_else(|e| panic!("{e}"));
        let input = || Input::Tabular {
            categorical: fixture_ids("wide_deep_io.pt", "categorical"),
            dense: Tensor::from_data(fixture_tensor("wide_deep_io.pt", "dense"), &dev),
        };
        let expected = fixture_tensor("wide_deep_io.pt", "logits");
        let err = logit_error("wide-deep", net.forward(input(), BnMode::Eval), &expected);
        eprintln!(
            "wide-deep: max |hessx - PyTorch| logit difference {err:.2e} (relative to the largest logit)"
        );
        assert!(
            err < 1e-5,
            "wide-deep: logits differ from PyTorch's by {err:e}"
        );

        // The raw tables were loaded as stored: `embedding` row 0 is the file's row 0.
        let Net::WideDeep(m) = &net else {
            panic!("expected wide-deep")
        };
        let file_embedding: Vec<f32> = fixture_tensor("wide_deep.pt", "embedding")
            .to_vec()
            .unwrap();
        assert_eq!(m.embedding.dims(), [312, 4]);
        let embedding: Vec<f32> = m.embedding.val().into_data().to_vec().unwrap();
        assert_eq!(embedding[..4], file_embedding[..4]);
        // The fixture sees the crossed ids: zeroing their weights moves the logits.
        let mut no_cross = m.clone();
        no_cross.wide_cross = Some(burn::module::Param::from_tensor(Tensor::zeros(
            [11, 1],
            &dev,
        )));
        let err = logit_error(
            "wide-deep",
            Net::WideDeep(no_cross).forward(input(), BnMode::Eval),
            &expected,
        );
        assert!(err > 1e-2, "the crossed ids made no difference ({err:e})");
    }

    /// `seq_transformer.pt` / `seq_transformer_io.pt`: the PyTorch
    /// `SequenceTransformer` of `make_family_fixtures.py` (the README's), 2
    /// pre-norm blocks with redrawn layer norms. PyTorch's own f32 and f64
    /// logits differ by 2.2e-7.
    #[test]
    fn sequence_transformer_state_dict_loads_and_gives_pytorchs_logits() {
        let dev = Default::default();
        let net = load_pytorch(
            seq_transformer_spec(13, 2, 3).init::<F>(&dev),
            &fixture("seq_transformer.pt"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tokens = fixture_ids("seq_transformer_io.pt", "tokens");
        let expected = fixture_tensor("seq_transformer_io.pt", "logits");
        let err = logit_error(
            "sequence transformer",
            net.forward(Input::Tokens(tokens), BnMode::Eval),
            &expected,
        );
        eprintln!(
            "sequence transformer: max |hessx - PyTorch| logit difference {err:.2e} (relative to the largest logit)"
        );
        assert!(
            err < 1e-5,
            "sequence transformer: logits differ from PyTorch's by {err:e}"
        );
        let Net::SequenceTransformer(m) = &net else {
            panic!("expected a sequence transformer")
        };
        // head.weight is torch [3, 8]; burn keeps [8, 3]. position is not transposed.
        assert_eq!(m.head.weight.dims(), [8, 3]);
        assert_eq!(m.position.dims(), [5, 8]);
        let file_position: Vec<f32> = fixture_tensor("seq_transformer.pt", "position")
            .to_vec()
            .unwrap();
        let position: Vec<f32> = m.position.val().into_data().to_vec().unwrap();
        assert_eq!(position, file_position);
    }

    /// The keys a mismatch error lists under `header` ("missing keys", "unexpected keys").
    fn listed<'a>(msg: &'a str, header: &str) -> Vec<&'a str> {
        msg.lines()
            .skip_while(|l| {
                l.trim() != format!("{header} (in the model, not in the file):")
                    && l.trim() != format!("{header} (in the file, not in the model):")
            })
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .map(str::trim)
            .collect()
    }

    #[test]
    fn a_family_state_dict_in_the_wrong_model_lists_the_differences() {
        let dev = Default::default();
        let mismatch = |spec: crate::ModelSpec, file: &str| {
            let err = load_pytorch(spec.init::<F>(&dev), &fixture(file)).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::StateDictMismatch { .. }), "{msg}");
            assert!(msg.contains(file), "{msg}");
            msg
        };
        // Wide&Deep's file in a sequence Transformer: every key on both sides, in PyTorch's names.
        let msg = mismatch(seq_transformer_spec(13, 2, 3), "wide_deep.pt");
        assert!(msg.contains("sequence transformer"), "{msg}");
        let missing = listed(&msg, "missing keys");
        for key in [
            "token_embedding",
            "position",
            "blocks.1.norm2.weight",
            "blocks.0.attention.query.weight",
            "norm.bias",
            "head.weight",
        ] {
            assert!(missing.contains(&key), "{key} should be missing: {msg}");
        }
        let unexpected = listed(&msg, "unexpected keys");
        for key in [
            "embedding",
            "wide",
            "wide_cross",
            "wide_bias",
            "deep.0.weight",
            "deep.2.bias",
        ] {
            assert!(
                unexpected.contains(&key),
                "{key} should be unexpected: {msg}"
            );
        }
        assert!(!msg.contains("gamma") && !msg.contains("beta"), "{msg}");

        // Other cardinalities, no crosses, one hidden layer fewer.
        let msg = mismatch(wide_deep_spec(&[5, 3, 200, 4], &[8], 0), "wide_deep.pt");
        assert!(
            msg.contains("embedding: the model has [212, 4], the file [312, 4]"),
            "{msg}"
        );
        assert!(
            msg.contains("wide: the model has [212, 1], the file [312, 1]"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "deep.1.weight: the model has [1, 8], the file [6, 8] (PyTorch's [out, in])"
            ),
            "{msg}"
        );
        let mut unexpected = listed(&msg, "unexpected keys");
        unexpected.sort_unstable();
        assert_eq!(
            unexpected,
            ["deep.2.bias", "deep.2.weight", "wide_cross"],
            "{msg}"
        );

        // The Transformer's file with another vocabulary, depth and head.
        let msg = mismatch(seq_transformer_spec(12, 3, 1), "seq_transformer.pt");
        assert!(
            msg.contains("token_embedding: the model has [12, 8], the file [13, 8]"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "head.weight: the model has [1, 8], the file [3, 8] (PyTorch's [out, in])"
            ),
            "{msg}"
        );
        let missing = listed(&msg, "missing keys");
        assert!(
            missing.contains(&"blocks.2.norm1.weight")
                && missing.contains(&"blocks.2.mlp_out.bias"),
            "{msg}"
        );
        // A Wide&Deep file in the Transformer's place is refused the same way the other way round.
        let msg = mismatch(
            wide_deep_spec(&[5, 3, 300, 4], &[8, 6], 11),
            "seq_transformer.pt",
        );
        assert!(
            msg.contains("wide-deep")
                && msg.contains("token_embedding")
                && msg.contains("deep.0.weight"),
            "{msg}"
        );
    }
}
