//! hessx-plot (being written).
