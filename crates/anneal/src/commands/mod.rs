//! One module per verb; each `run` returns the process exit code.

pub mod add;
pub mod audit;
mod audit_show;
pub mod build;
pub mod check;
pub mod data;
pub mod data_edit;
pub mod data_fsck;
pub mod data_refs;
pub mod data_remote;
pub mod data_reset;
pub mod data_show;
pub mod eval;
pub mod export;
pub mod fetch;
pub mod login;
pub mod new;
pub mod predict;
pub mod publish;
pub mod queue;
pub mod serve;
pub mod studio;
pub mod test;
pub mod tune;

/// Print a verb's result: as one JSON value with `json`, else as its text.
pub fn print<T: serde::Serialize + std::fmt::Display>(value: &T, json: bool) {
    if json {
        println!("{}", serde_json::to_string(value).unwrap_or_default());
    } else {
        println!("{value}");
    }
}
