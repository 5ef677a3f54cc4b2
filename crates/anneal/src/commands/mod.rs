//! One module per verb; each `run` returns the process exit code.

pub mod build;
pub mod check;
pub mod data;
pub mod data_edit;
pub mod data_refs;
pub mod data_remote;
pub mod eval;
pub mod new;
pub mod predict;
pub mod serve;
pub mod test;
