//! hessx-data (being written).
