//! hessx-hessian (being written).
