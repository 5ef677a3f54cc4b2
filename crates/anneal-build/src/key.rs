//! The build key: what a package is a pure function of.

use anneal_data::CommitId;
use anneal_engine::{ENGINE, ENGINE_VERSION};
use anneal_spec::Program;

/// BLAKE3 over the canonical program, the dataset commit, anneal's engine and its version, the
/// seed, and `extra` lines: the digests of the packages it builds on (the dependency a `use`
/// line names; the program is the one written, not yet composed with it) and the engine that
/// trains it when that is not anneal's own. An unchanged key is a cache hit.
pub fn build_key(program: &Program, commit: &CommitId, extra: &[String]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"anneal-build-key 1\n");
    h.update(program.canonical_json().as_bytes());
    let seed = program.train.seed;
    h.update(format!("\n{commit}\n{ENGINE} {ENGINE_VERSION}\nseed {seed}\n").as_bytes());
    for line in extra {
        h.update(format!("{line}\n").as_bytes());
    }
    h.finalize().to_hex().to_string()
}
