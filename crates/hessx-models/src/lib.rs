//! hessx-models (being written).
