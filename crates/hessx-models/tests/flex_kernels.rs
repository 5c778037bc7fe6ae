//! The two burn-flex kernels hessx patches (`vendor/README.md`), checked
//! through burn's public API on Flex against host arithmetic that shares no
//! code with them: element-wise ops on transposed and broadcast views (the
//! strided walk), the transposed convolution (batch-parallel col2im) and the
//! convolution's im2col path (tiled NHWC copy, slice copies per kernel offset),
//! also as the convolution's weight gradient takes it.

use burn::backend::{Autodiff, Flex};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Tensor, TensorData};

type B = Flex;

fn values(n: usize, salt: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 37 + salt * 11) % 23) as f32 / 7.0 - 1.5).collect()
}

fn host(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().to_vec().expect("f32 data")
}

/// Every element of `got` within 1e-5 of the largest `|want|` (`what` prefixes the message).
fn assert_within_1e5_of_largest(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (idx, (g, e)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - e).abs() <= 1e-5 * scale, "{what}element {idx}: {g} vs {e}");
    }
}

/// Element-wise products and sums of permuted and broadcast views are exact
/// in f32, so they must equal the host's to the bit.
#[test]
fn elementwise_ops_on_transposed_and_broadcast_views_match_the_host() {
    let dev = Default::default();
    let (a_dims, b_dims) = ([2usize, 3, 4, 5], [2usize, 1, 4, 1]);
    let a_host = values(120, 1);
    let b_host = values(8, 2);
    let a = Tensor::<B, 4>::from_data(TensorData::new(a_host.clone(), a_dims), &dev);
    let b = Tensor::<B, 4>::from_data(TensorData::new(b_host.clone(), b_dims), &dev);
    // a viewed as [2, 4, 3, 5] (swap of dims 1 and 2), times b viewed as [2, 4, 1, 1] broadcast.
    let got = host(a.clone().swap_dims(1, 2) * b.clone().swap_dims(1, 2));
    let mut want = Vec::with_capacity(120);
    for i in 0..2 {
        for k in 0..4 {
            for j in 0..3 {
                for l in 0..5 {
                    want.push(a_host[((i * 3 + j) * 4 + k) * 5 + l] * b_host[i * 4 + k]);
                }
            }
        }
    }
    assert_eq!(got, want);
    // The backward of sum_dim: ones times a gradient broadcast over a middle dim.
    let g = Tensor::<B, 4>::from_data(TensorData::new(values(30, 3), [2, 1, 3, 5]), &dev);
    let got = host(Tensor::<B, 4>::ones([2, 4, 3, 5], &dev) * g.clone());
    let g_host = values(30, 3);
    let want: Vec<f32> = (0..120).map(|e| g_host[(e / 60) * 15 + e % 15]).collect();
    assert_eq!(got, want);
    // Two transposed operands added (gradient accumulation of swap_dims).
    let got = host(a.clone().swap_dims(0, 3) + a.swap_dims(0, 3));
    let mut want = Vec::with_capacity(120);
    for l in 0..5 {
        for j in 0..3 {
            for k in 0..4 {
                for i in 0..2 {
                    want.push(2.0 * a_host[((i * 3 + j) * 4 + k) * 5 + l]);
                }
            }
        }
    }
    assert_eq!(got, want);
}

/// Transposed convolution against its definition (every input element
/// scattered through the kernel, summed in f64). Tolerance 1e-5 of the
/// largest output: f32 sums of at most 3 x 3 x 2 products of O(1) terms.
#[test]
fn conv_transpose2d_matches_its_definition() {
    let dev = Default::default();
    // (batch, c_in, c_out, h, w, k, stride, pad, pad_out)
    for &(n, c_in, c_out, h, w, k, stride, pad, pad_out) in
        &[(5, 2, 3, 6, 5, 3, 1, 1, 0), (4, 3, 2, 4, 4, 3, 2, 1, 1), (3, 2, 2, 5, 3, 1, 2, 0, 0)]
    {
        let xs = values(n * c_in * h * w, 4);
        let ws = values(c_in * c_out * k * k, 5);
        let x = Tensor::<B, 4>::from_data(TensorData::new(xs.clone(), [n, c_in, h, w]), &dev);
        let wt = Tensor::<B, 4>::from_data(TensorData::new(ws.clone(), [c_in, c_out, k, k]), &dev);
        let options = ConvTransposeOptions::new([stride, stride], [pad, pad], [pad_out, pad_out], [1, 1], 1);
        let y = conv_transpose2d(x, wt, None, options);
        let [_, _, oh, ow] = y.dims();
        assert_eq!(oh, (h - 1) * stride + k + pad_out - 2 * pad);
        assert_eq!(ow, (w - 1) * stride + k + pad_out - 2 * pad);
        let got = host(y);
        let mut want = vec![0.0f64; n * c_out * oh * ow];
        for b in 0..n {
            for ci in 0..c_in {
                for co in 0..c_out {
                    for i in 0..h {
                        for j in 0..w {
                            for ki in 0..k {
                                for kj in 0..k {
                                    let r = (i * stride + ki) as isize - pad as isize;
                                    let c = (j * stride + kj) as isize - pad as isize;
                                    if r < 0 || c < 0 || r as usize >= oh || c as usize >= ow {
                                        continue;
                                    }
                                    want[((b * c_out + co) * oh + r as usize) * ow + c as usize] += xs[((b * c_in + ci) * h + i) * w + j] as f64
                                        * ws[((ci * c_out + co) * k + ki) * k + kj] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_within_1e5_of_largest(&got, &want, "");
    }
}

/// Convolution against its definition (summed in f64), on shapes that take
/// the im2col + gemm path (more than 4 input channels, a 3x3 or 2x2 kernel,
/// padding, not depthwise): 17 and 20 channels straddle the copy's 16-wide
/// tiles, 5x7 and 9x6 images its spatial tiles; stride 2, dilation 2 and two
/// groups move the kernel offsets. Tolerance 1e-5 of the largest output: f32
/// sums of at most 17 x 9 products of O(1) terms.
#[test]
fn conv2d_matches_its_definition() {
    let dev = Default::default();
    // (batch, c_in, c_out, h, w, k, stride, pad, dilation, groups)
    for &(n, c_in, c_out, h, w, k, stride, pad, dil, groups) in &[
        (3, 17, 6, 5, 7, 3, 1, 1, 1, 1),
        (2, 20, 8, 9, 6, 3, 2, 1, 1, 2),
        (2, 6, 5, 8, 8, 3, 1, 2, 2, 1),
        (4, 16, 4, 6, 5, 2, 1, 1, 1, 1),
    ] {
        let cg = c_in / groups;
        let og = c_out / groups;
        let xs = values(n * c_in * h * w, 6);
        let ws = values(c_out * cg * k * k, 7);
        let x = Tensor::<B, 4>::from_data(TensorData::new(xs.clone(), [n, c_in, h, w]), &dev);
        let wt = Tensor::<B, 4>::from_data(TensorData::new(ws.clone(), [c_out, cg, k, k]), &dev);
        let options = ConvOptions::new([stride, stride], [pad, pad], [dil, dil], groups);
        let y = conv2d(x, wt, None, options);
        let [_, _, oh, ow] = y.dims();
        assert_eq!(oh, (h + 2 * pad - dil * (k - 1) - 1) / stride + 1);
        assert_eq!(ow, (w + 2 * pad - dil * (k - 1) - 1) / stride + 1);
        let got = host(y);
        let mut want = vec![0.0f64; n * c_out * oh * ow];
        for b in 0..n {
            for co in 0..c_out {
                let g = co / og;
                for r in 0..oh {
                    for c in 0..ow {
                        let mut sum = 0.0f64;
                        for ci in 0..cg {
                            for ki in 0..k {
                                for kj in 0..k {
                                    let i = (r * stride + ki * dil) as isize - pad as isize;
                                    let j = (c * stride + kj * dil) as isize - pad as isize;
                                    if i < 0 || j < 0 || i as usize >= h || j as usize >= w {
                                        continue;
                                    }
                                    sum += xs[((b * c_in + g * cg + ci) * h + i as usize) * w + j as usize] as f64
                                        * ws[((co * cg + ci) * k + ki) * k + kj] as f64;
                                }
                            }
                        }
                        want[((b * c_out + co) * oh + r) * ow + c] = sum;
                    }
                }
            }
        }
        assert_within_1e5_of_largest(&got, &want, &format!("shape {n}x{c_in}x{h}x{w}, "));
    }
}

/// The weight gradient of `sum(conv2d(x, w) * G)` on `Autodiff<Flex>` (burn computes it as a
/// convolution of the swapped input with the output gradient as kernel, through Flex's patched
/// im2col path with images as kernels) against its definition,
/// `dw[co, ci, ki, kj] = sum_{b, r, c} G[b, co, r, c] x[b, g*cg + ci, r*s + ki*d - p, c*s + kj*d - p]`,
/// summed in f64, on shapes with strides, dilation, groups and padding wider than the kernel
/// (kernel offsets that see the image from only some output columns). f32 sums of a few
/// hundred terms: 1e-5 of the largest entry.
#[test]
fn conv2d_weight_gradient_matches_its_definition() {
    type A = Autodiff<Flex>;
    let dev = Default::default();
    // (batch, c_in, c_out, h, w, k, stride, pad, dilation, groups)
    for &(n, c_in, c_out, h, w, k, stride, pad, dil, groups) in &[
        (3, 5, 6, 7, 6, 3, 1, 1, 1, 1),
        (2, 4, 6, 9, 7, 3, 2, 1, 1, 2),
        (2, 3, 2, 8, 8, 3, 1, 2, 2, 1),
        (2, 2, 3, 4, 5, 2, 2, 3, 1, 1),
        (5, 16, 8, 6, 6, 1, 2, 0, 1, 1),
    ] {
        let cg = c_in / groups;
        let og = c_out / groups;
        let xs = values(n * c_in * h * w, 8);
        let ws = values(c_out * cg * k * k, 9);
        let x = Tensor::<A, 4>::from_data(TensorData::new(xs.clone(), [n, c_in, h, w]), &dev);
        let wt = Tensor::<A, 4>::from_data(TensorData::new(ws, [c_out, cg, k, k]), &dev).require_grad();
        let options = ConvOptions::new([stride, stride], [pad, pad], [dil, dil], groups);
        let y = conv2d(x, wt.clone(), None, options);
        let [_, _, oh, ow] = y.dims();
        let gs = values(n * c_out * oh * ow, 10);
        let g = Tensor::<A, 4>::from_data(TensorData::new(gs.clone(), [n, c_out, oh, ow]), &dev);
        let grads = (y * g).sum().backward();
        let got = host(wt.grad(&grads).expect("the weight requires grad"));
        let mut want = vec![0.0f64; c_out * cg * k * k];
        for co in 0..c_out {
            let grp = co / og;
            for ci in 0..cg {
                for ki in 0..k {
                    for kj in 0..k {
                        let mut sum = 0.0f64;
                        for b in 0..n {
                            for r in 0..oh {
                                for c in 0..ow {
                                    let i = (r * stride + ki * dil) as isize - pad as isize;
                                    let j = (c * stride + kj * dil) as isize - pad as isize;
                                    if i < 0 || j < 0 || i as usize >= h || j as usize >= w {
                                        continue;
                                    }
                                    sum += gs[((b * c_out + co) * oh + r) * ow + c] as f64
                                        * xs[((b * c_in + grp * cg + ci) * h + i as usize) * w + j as usize] as f64;
                                }
                            }
                        }
                        want[((co * cg + ci) * k + ki) * k + kj] = sum;
                    }
                }
            }
        }
        assert_within_1e5_of_largest(&got, &want, &format!("shape {n}x{c_in}x{h}x{w} k{k} s{stride} p{pad} d{dil} g{groups}, "));
    }
}
