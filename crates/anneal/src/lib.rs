//! # anneal: the command-line toolchain
//!
//! The binary's library half: what each verb does, on top of the workspace crates. `main.rs`
//! only parses arguments and renders output.
//!
//! - [`project`]: find and load a program folder (`anneal.toml`).
//! - [`build`]: resolve the dataset commit, compute the build key, train, evaluate and write the
//!   package, report and lock file.
//! - [`inputs`]: read prediction inputs (PNG, JPEG, IDX) as the package's signature wants them.
//! - [`checks`]: run a program's `[[check]]`s against a package's metrics; JUnit XML.
//! - [`templates`]: the skeletons `anneal new` writes.
//! - [`error`]: the error type the binary renders, with exit codes.

pub mod build;
pub mod checks;
pub mod error;
pub mod inputs;
pub mod project;
pub mod templates;
