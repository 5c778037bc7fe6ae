//! Wall-clock figures, not correctness: run with
//! `cargo test -p hessx-models --test timing -- --ignored --nocapture`.

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Int, Tensor};
use hessx_models::{Arch, BnMode, Input, InputSpec, ModelSpec, cross_entropy};

type B1 = Autodiff<Flex>;

#[test]
#[ignore = "timing; prints the resnet20 forward+backward time at batch 128 on 3x32x32"]
fn resnet20_forward_backward_batch_128() {
    let dev = Default::default();
    let spec = ModelSpec {
        arch: Arch::ResNet {
            depth: 20,
            batch_norm: true,
            residual: true,
        },
        input: InputSpec::Image {
            channels: 3,
            height: 32,
            width: 32,
        },
        num_classes: 10,
    };
    let net = spec.init::<B1>(&dev);
    let x = Tensor::<B1, 4>::random([128, 3, 32, 32], Distribution::Normal(0.0, 1.0), &dev);
    let labels = Tensor::<B1, 1, Int>::from_ints([3; 128], &dev);
    for mode in [BnMode::Train, BnMode::Eval] {
        let mut times = Vec::new();
        for _ in 0..4 {
            let t = Instant::now();
            let loss = cross_entropy(net.forward(Input::Images(x.clone()), mode), labels.clone());
            let grads = loss.backward();
            drop(grads);
            times.push(t.elapsed().as_secs_f64());
        }
        let mut steady = times[1..].to_vec();
        steady.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "resnet20 {mode:?} fwd+bwd batch 128: median {:.3} s (runs {times:?})",
            steady[1]
        );
    }
}
