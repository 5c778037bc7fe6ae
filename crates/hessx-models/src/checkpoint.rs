//! hessx checkpoints: burn record bytes plus the [`ModelSpec`] that built
//! the network, in one atomically written file, so a checkpoint can be
//! loaded without being told what it holds, and loading the wrong one fails
//! with both models named.
//!
//! Layout (all integers little-endian):
//! `b"HESSXCKPT\n"`, `u32` format version (1), `u64` spec length, the spec as
//! JSON, `u64` record length, the record (burn `NamedMpkBytesRecorder` with
//! `FullPrecisionSettings`: f32 weights, bit-exact for f32 models).

use std::path::Path;

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::net::Net;
use crate::spec::ModelSpec;

const MAGIC: &[u8; 10] = b"HESSXCKPT\n";
const VERSION: u32 = 1;

type CheckpointRecorder = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Writes `net` and its `spec` to `path` atomically (temp file + rename).
pub fn save_checkpoint<B: Backend>(net: &Net<B>, spec: &ModelSpec, path: &Path) -> Result<()> {
    let record = <CheckpointRecorder as Recorder<B>>::record(
        &CheckpointRecorder::default(),
        net.clone().into_record(),
        (),
    )
    .map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("could not encode the weights: {e}"),
    })?;
    let spec_json = serde_json::to_vec(spec).expect("a ModelSpec always serialises to JSON");
    let mut bytes = Vec::with_capacity(MAGIC.len() + 20 + spec_json.len() + record.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(spec_json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&spec_json);
    bytes.extend_from_slice(&(record.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&record);
    hessx_store::write_bytes_atomic(path, &bytes)?;
    Ok(())
}

/// Reads the spec stored in a checkpoint without loading the weights.
pub fn read_checkpoint_spec(path: &Path) -> Result<ModelSpec> {
    let bytes = read(path)?;
    Ok(split(&bytes, path)?.0)
}

/// Loads a checkpoint written by [`save_checkpoint`] onto `device`.
///
/// Fails, naming the file, if it is missing, truncated or corrupt, if it was
/// saved for another model than `expected` (when given), or if its weights
/// do not have the shapes its spec implies.
pub fn load_checkpoint<B: Backend>(
    path: &Path,
    expected: Option<&ModelSpec>,
    device: &B::Device,
) -> Result<(ModelSpec, Net<B>)> {
    let bytes = read(path)?;
    let (spec, record) = split(&bytes, path)?;
    if let Some(expected) = expected
        && expected != &spec
    {
        return Err(Error::WrongModel {
            path: path.to_path_buf(),
            expected: expected.name(),
            found: spec.name(),
            expected_spec: serde_json::to_string(expected).unwrap_or_default(),
            found_spec: serde_json::to_string(&spec).unwrap_or_default(),
        });
    }
    spec.validate().map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("stored model spec is invalid: {e}"),
    })?;
    let fresh: Net<B> = spec.init(device);
    let want = fresh.param_shapes();
    let record = <CheckpointRecorder as Recorder<B>>::load::<<Net<B> as Module<B>>::Record>(
        &CheckpointRecorder::default(),
        record.to_vec(),
        device,
    )
    .map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot decode the weights: {e}"),
    })?;
    let net = fresh.load_record(record);
    let got = net.param_shapes();
    let mut details = Vec::new();
    for ((name, w), (_, g)) in want.iter().zip(&got) {
        if w != g {
            details.push(format!("{name}: expected {w:?}, found {g:?}"));
        }
    }
    if want.len() != got.len() {
        details.push(format!(
            "expected {} tensors, found {}",
            want.len(),
            got.len()
        ));
    }
    if !details.is_empty() {
        return Err(Error::ShapeMismatch {
            path: path.to_path_buf(),
            model: spec.name(),
            details: details.join("; "),
        });
    }
    Ok((spec, net))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::Missing {
            path: path.to_path_buf(),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Splits the file into its spec and record bytes.
fn split<'a>(bytes: &'a [u8], path: &Path) -> Result<(ModelSpec, &'a [u8])> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| corrupt("it does not start with the hessx checkpoint header".into()))?;
    let mut take = |n: usize, what: &str| -> Result<&'a [u8]> {
        if rest.len() < n {
            return Err(corrupt(format!(
                "file ends inside the {what}: {} bytes left, {n} needed",
                rest.len()
            )));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let version = u32::from_le_bytes(take(4, "format version")?.try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(corrupt(format!(
            "format version {version}, this build reads version {VERSION}"
        )));
    }
    let spec_len =
        u64::from_le_bytes(take(8, "spec length")?.try_into().expect("8 bytes")) as usize;
    let spec_json = take(spec_len, "model spec")?;
    let spec: ModelSpec = serde_json::from_slice(spec_json)
        .map_err(|e| corrupt(format!("model spec is not valid: {e}")))?;
    let record_len =
        u64::from_le_bytes(take(8, "weights length")?.try_into().expect("8 bytes")) as usize;
    let record = take(record_len, "weights")?;
    if !rest.is_empty() {
        return Err(corrupt(format!(
            "{} unexpected bytes after the weights",
            rest.len()
        )));
    }
    Ok((spec, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tests::{B1, image_spec, resnet20, transformer};
    use crate::spec::Arch;
    use crate::{BnMode, Input};
    use burn::tensor::{Distribution, Tensor};

    #[test]
    fn round_trip_is_bit_exact_including_running_stats() {
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        for spec in [
            image_spec(resnet20(), 1, 8),
            image_spec(transformer(), 3, 32),
            crate::net::tests::wide_deep_spec(),
        ] {
            let net = spec.init::<B1>(&dev);
            if let crate::InputSpec::Image {
                channels,
                height,
                width,
            } = spec.input
            {
                let x = Tensor::random(
                    [4, channels, height, width],
                    Distribution::Normal(0.0, 1.0),
                    &dev,
                );
                let _ = net.forward(Input::Images(x), BnMode::Train); // move the running stats
            }
            let path = dir.path().join(format!("{}.ckpt", spec.name()));
            save_checkpoint(&net, &spec, &path).unwrap();
            let (got_spec, loaded) = load_checkpoint::<B1>(&path, Some(&spec), &dev).unwrap();
            assert_eq!(got_spec, spec);
            assert_eq!(read_checkpoint_spec(&path).unwrap(), spec);
            let before = net.clone().into_record();
            let after = loaded.clone().into_record();
            let a = <CheckpointRecorder as Recorder<B1>>::record(
                &CheckpointRecorder::default(),
                before,
                (),
            )
            .unwrap();
            let b = <CheckpointRecorder as Recorder<B1>>::record(
                &CheckpointRecorder::default(),
                after,
                (),
            )
            .unwrap();
            assert_eq!(a, b, "{}: re-encoded weights differ", spec.name());
            // Every tensor value, compared directly.
            let vals = |n: &Net<B1>| {
                let mut out = Vec::new();
                n.visit(&mut Values(&mut out));
                out
            };
            assert_eq!(vals(&net), vals(&loaded));
            // Loaded parameters are still trainable leaves on the autodiff backend.
            assert_eq!(loaded.num_params(), net.num_params());
        }
    }

    struct Values<'a>(&'a mut Vec<u32>);
    impl burn::module::ModuleVisitor<B1> for Values<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<B1, D>>) {
            let v: Vec<f32> = p.val().into_data().to_vec().unwrap();
            self.0.extend(v.iter().map(|x| x.to_bits()));
        }
    }

    #[test]
    fn loaded_parameters_are_trainable() {
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let spec = image_spec(Arch::SmallCnn, 1, 8);
        let path = dir.path().join("cnn.ckpt");
        save_checkpoint(&spec.init::<B1>(&dev), &spec, &path).unwrap();
        let (_, net) = load_checkpoint::<B1>(&path, None, &dev).unwrap();
        let x = Tensor::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
        let labels = Tensor::from_ints([1, 2], &dev);
        let grads =
            crate::cross_entropy(net.forward(Input::Images(x), BnMode::Eval), labels).backward();
        let Net::SmallCnn(cnn) = &net else {
            panic!("expected the small cnn")
        };
        assert!(
            cnn.conv1.weight.grad(&grads).is_some(),
            "conv1.weight lost require_grad on load"
        );
    }

    #[test]
    fn loading_for_another_model_names_the_file_and_both_models() {
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let spec = image_spec(Arch::SmallCnn, 1, 8);
        let path = dir.path().join("step-100.ckpt");
        save_checkpoint(&spec.init::<B1>(&dev), &spec, &path).unwrap();
        let other = image_spec(resnet20(), 1, 8);
        let err = load_checkpoint::<B1>(&path, Some(&other), &dev)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("step-100.ckpt") && err.contains("small-cnn") && err.contains("resnet20"),
            "{err}"
        );
        // Same architecture, different classes: still refused.
        let mut classes = spec.clone();
        classes.num_classes = 3;
        assert!(matches!(
            load_checkpoint::<B1>(&path, Some(&classes), &dev),
            Err(Error::WrongModel { .. })
        ));
    }

    #[test]
    fn truncated_missing_and_foreign_files_give_clear_errors() {
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let spec = image_spec(Arch::SmallCnn, 1, 8);
        let path = dir.path().join("full.ckpt");
        save_checkpoint(&spec.init::<B1>(&dev), &spec, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [5, 20, bytes.len() / 2, bytes.len() - 1] {
            let short = dir.path().join(format!("cut-{cut}.ckpt"));
            std::fs::write(&short, &bytes[..cut]).unwrap();
            let err = load_checkpoint::<B1>(&short, None, &dev).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "cut at {cut}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("cut-{cut}.ckpt")) && msg.contains("truncated"),
                "{msg}"
            );
        }
        let missing = dir.path().join("nope.ckpt");
        let err = load_checkpoint::<B1>(&missing, None, &dev).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }) && err.to_string().contains("nope.ckpt"));
        let foreign = dir.path().join("foreign.ckpt");
        std::fs::write(&foreign, b"PK\x03\x04 not a checkpoint").unwrap();
        assert!(matches!(
            load_checkpoint::<B1>(&foreign, None, &dev),
            Err(Error::Corrupt { .. })
        ));
    }
}
