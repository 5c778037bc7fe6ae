//! The training and Hessian loss.

use burn::tensor::{Int, Tensor, activation::log_softmax, backend::Backend};

/// Mean cross-entropy `-(1/N) sum_i log softmax(logits_i)[label_i]`, written
/// from `log_softmax` + `gather` so that it second-differentiates under
/// nested autodiff. Returns a one-element tensor.
///
/// # Shapes
/// `logits`: `[N, classes]`, `labels`: `[N]` with values in `0..classes`.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let picked = log_softmax(logits, 1).gather(1, labels.reshape([n, 1]));
    picked.mean().neg()
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
}
