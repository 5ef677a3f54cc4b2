//! # anneal: the command-line toolchain
//!
//! The binary's library half: what each verb does, on top of the workspace crates. `main.rs`
//! only parses arguments and renders output.
//!
//! The build itself is the `anneal-build` crate.
//! - [`inputs`]: read prediction inputs (PNG, JPEG, IDX, WAV) as the package's signature wants
//!   them; [`rows`]: table rows (CSV, JSONL) through the package's fitted table.
//! - [`checks`]: run a program's `[[check]]`s (floors, ceilings, gaps between groups) against a
//!   package's metrics; JUnit XML.
//! - [`templates`]: the skeletons `anneal new` writes.
//! - [`error`]: the error type the binary renders, with exit codes.

pub mod checks;
pub mod error;
pub mod inputs;
pub mod rows;
pub mod templates;
