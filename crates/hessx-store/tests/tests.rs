//! Integration tests of the table readers and writers, as another program
//! sees them: files written or rewritten with plain arrow-rs.

#[path = "suite/canonical_schema.rs"]
mod canonical_schema;
#[path = "suite/foreign_writers.rs"]
mod foreign_writers;
