//! hessx patch: a backward pass that keeps the graph, for Hessian-vector products on a retained graph.
//!
//! burn-autodiff 0.21 consumes the graph at every backward. With nested autodiff
//! (`Autodiff<Autodiff<B>>`) the outer backward gives the gradient `g` as inner tensors that are still
//! tracked; [`backward_retained`] then differentiates `g` against a cotangent `v` at the inner level as
//! many times as needed (PyTorch's `autograd.grad(g, params, grad_outputs=v, retain_graph=True)`), and
//! [`release`] frees the graph when the caller is done. The same idea as upstream pull request
//! tracel-ai/burn#5043, done by running copies of the steps (`Step::boxed_clone`) instead of borrowing
//! ones: each op's saved state is cloned per backward (tensor handles, cheap on every backend whose
//! tensors are reference counted) and, being shared with the graph, never reused in place.

use alloc::vec::Vec;
use burn_backend::{Backend, tensor::FloatTensor};

use crate::{
    grads::Gradients,
    runtime::graph::GraphMutexClient,
    tensor::AutodiffTensor,
};

/// The gradients, with respect to every tracked tensor the roots depend on, of `sum_i <root_i, seed_i>`,
/// where each seed has its root's shape. The graph behind the roots is left as it was, so this can be
/// called again with other seeds. Panics if the roots belong to different autodiff graphs.
pub fn backward_retained<B: Backend>(seeds: Vec<(AutodiffTensor<B>, FloatTensor<B>)>) -> Gradients {
    GraphMutexClient::backward_retained::<B>(seeds)
}

/// Frees the graph behind `roots` (kept by [`backward_retained`]): their steps and saved state, as a
/// consuming backward would free them.
pub fn release<B: Backend>(roots: &[AutodiffTensor<B>]) {
    let ids: Vec<_> = roots.iter().map(|r| r.node.id).collect();
    GraphMutexClient::release(&ids);
}

/// The number of backward steps registered in all autodiff graphs of the process: what graphs,
/// kept or not, still hold (a leak test's measure).
pub fn registered_steps() -> usize {
    GraphMutexClient::registered_steps()
}
