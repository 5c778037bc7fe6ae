//! A retained graph is freed when its operator is dropped: creating and dropping operators with a kept
//! graph (what `hx-spectrum` does per checkpoint and `hx-robustness` per cell) must not grow the autodiff
//! graphs of the process. Its own test binary, since the count is process-wide and other tests build graphs
//! concurrently.

mod common;

use burn::backend::Flex;
use burn::prelude::*;
use hessx_hessian::*;

use common::*;

type TB1 = B1<Flex>;
type TB2 = B2<Flex>;

#[test]
fn dropping_an_operator_frees_its_retained_graph() {
    let dev = Default::default();
    let (x, y) = mlp_data(24);
    let m1 = Mlp::<TB1>::new(&dev);
    let batches = || vec![Batch::new(mlp_batch::<TB2>(&x, &y, 0, 24, &dev), 24)];
    let loss = |m: &Mlp<TB2>, (x, y): &(Tensor<TB2, 2>, Tensor<TB2, 1, Int>)| m.loss(x, y);
    let cycle = || {
        let mut op = HessianOp::new(m1.clone(), batches(), loss).unwrap().keep_graph().unwrap();
        let v = op.vector_from_host(&host_values(MLP_PARAMS, 1.0, 5));
        op.apply(&v).unwrap();
        let held = burn_autodiff::retained::registered_steps();
        drop(op);
        held
    };
    let held = cycle();
    let after_one = burn_autodiff::retained::registered_steps();
    assert!(held > after_one + 10, "a live operator holds its graph: {held} steps, {after_one} after the drop");
    for _ in 0..20 {
        cycle();
    }
    assert_eq!(burn_autodiff::retained::registered_steps(), after_one, "twenty more operators left steps behind");
}
