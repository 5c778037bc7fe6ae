//! The training and Hessian loss.

use burn::tensor::{Int, Tensor, activation::log_softmax, backend::Backend};

/// Mean cross-entropy of `logits` against `labels`. With two or more
/// columns, `-(1/N) sum_i log softmax(logits_i)[label_i]`, written from
/// `log_softmax` + `gather` so that it second-differentiates under nested
/// autodiff. With one column (a binary model, as a click-through model's
/// single logit `z`), binary cross-entropy with logits against labels 0/1:
/// `(1/N) sum_i softplus(z_i) - y_i z_i`, with softplus written as
/// `max(z, 0) + log(1 + exp(-|z|))` so that it neither overflows nor loses
/// its second derivative. Returns a one-element tensor.
///
/// # Shapes
/// `logits`: `[N, classes]`, `labels`: `[N]` with values in `0..classes`
/// (`0..=1` for one column).
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let [n, classes] = logits.dims();
    if classes == 1 {
        let z = logits.reshape([n]);
        let y = labels.float();
        let softplus = z.clone().clamp_min(0.0) + z.clone().abs().neg().exp().add_scalar(1.0).log();
        return (softplus - y * z).mean();
    }
    let picked = log_softmax(logits, 1).gather(1, labels.reshape([n, 1]));
    picked.mean().neg()
}

/// The predicted class of each row: the largest logit, or `z > 0` for a
/// single-logit binary model. `[N]`.
pub fn predicted_labels<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 1, Int> {
    let [n, classes] = logits.dims();
    if classes == 1 {
        return logits.reshape([n]).greater_elem(0.0).int();
    }
    logits.argmax(1).reshape([n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn matches_closed_form() {
        let dev = Default::default();
        let logits = Tensor::<Flex, 2>::from_floats([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], &dev);
        let labels = Tensor::<Flex, 1, Int>::from_ints([2, 1], &dev);
        let got: f32 = cross_entropy(logits, labels).into_scalar();
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let want = ((lse - 3.0) + 3f64.ln()) / 2.0;
        assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    }

    /// One logit: -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)), by hand, also where exp(z) overflows f32.
    #[test]
    fn one_logit_is_binary_cross_entropy() {
        let dev = Default::default();
        let z = [2.0f64, -1.5, 0.0, 120.0, -120.0];
        let y = [1i64, 1, 0, 0, 0];
        let logits = Tensor::<Flex, 2>::from_floats([[2.0], [-1.5], [0.0], [120.0], [-120.0]], &dev);
        let got: f32 = cross_entropy(logits.clone(), Tensor::from_ints(y, &dev)).into_scalar();
        let bce = |z: f64, y: i64| {
            let p = 1.0 / (1.0 + (-z).exp());
            // log(1 - p) for z = 120 underflows in f64 too: use -z - log(1 + e^-z) there.
            if y == 1 { -p.ln() } else if z > 30.0 { z } else { -(1.0 - p).ln() }
        };
        let want = z.iter().zip(y).map(|(&z, y)| bce(z, y)).sum::<f64>() / 5.0;
        assert!((got as f64 - want).abs() < 1e-5 * want, "{got} vs {want}");
        let predicted: Vec<i64> = predicted_labels(logits).into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(predicted, [1, 0, 0, 1, 0]);
    }
}
