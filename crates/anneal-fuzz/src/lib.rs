//! # anneal-fuzz: fuzzing every parser of untrusted bytes, on stable Rust
//!
//! Each crate's integration tests hold a `fuzz` module with one target per parser (package
//! header, manifest, store objects, IDX/WAV/CSV/JSONL readers, the inference request). A
//! target is a proptest property: "for any input, the parser returns `Ok` or a typed error,
//! and never panics, hangs or allocates without bound". Inputs come from [`bytes`] or
//! [`text`]: wholly random bytes, or, mostly, valid seed inputs with a few structured
//! mutations (bit flips, truncations, insertions, deletions, spliced copies, and
//! boundary integers such as `0`, `u32::MAX` and the input's own length written over a
//! length field), which reach far deeper into a format than random bytes do.
//!
//! CI runs each target for [`DEFAULT_CASES`] cases; `ANNEAL_FUZZ_CASES=N` runs longer by
//! hand, e.g. `ANNEAL_FUZZ_CASES=1000000 cargo test --release -p anneal-pack fuzz`.
//! A failure is shrunk to a small input and printed; turn it into a regression test.
//!
//! ```
//! use proptest::prelude::*;
//! proptest!(anneal_fuzz::config(), |(input in anneal_fuzz::bytes(vec![b"seed".to_vec()]))| {
//!     let _ = std::str::from_utf8(&input); // the parser under test
//! });
//! ```

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per target when `ANNEAL_FUZZ_CASES` is unset: a few seconds each in a debug build.
pub const DEFAULT_CASES: u32 = 2_000;

/// The proptest settings for a fuzz target: the number of cases from `ANNEAL_FUZZ_CASES`,
/// no regression files written (failures become explicit tests instead).
pub fn config() -> Config {
    config_or(DEFAULT_CASES)
}

/// [`config`] with another number of cases when `ANNEAL_FUZZ_CASES` is unset (for targets
/// cheap enough to run more in CI).
pub fn config_or(default_cases: u32) -> Config {
    let cases = std::env::var("ANNEAL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// One structured change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit.
    Flip(usize, u8),
    /// Overwrite one byte.
    Set(usize, u8),
    /// Cut the input here.
    Truncate(usize),
    /// Insert bytes here.
    Insert(usize, Vec<u8>),
    /// Remove up to this many bytes here.
    Delete(usize, usize),
    /// Copy a run of the input over another place.
    Splice(usize, usize, usize),
    /// Write a boundary integer (4 bytes, either endianness) here.
    Integer(usize, u32, bool),
}

fn boundary() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7f),
        Just(0xff),
        Just(0xffff),
        Just(0x7fff_ffff),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (at, any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        at.prop_map(Mutation::Truncate),
        (at, prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (at, 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (at, at, 1usize..64).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
        (at, boundary(), any::<bool>()).prop_map(|(i, v, be)| Mutation::Integer(i, v, be)),
    ]
}

impl Mutation {
    fn apply(&self, input: &mut Vec<u8>) {
        let len = input.len();
        let at = |i: usize| if len == 0 { 0 } else { i % len };
        match self {
            Mutation::Flip(i, bit) if len > 0 => input[at(*i)] ^= 1 << bit,
            Mutation::Set(i, v) if len > 0 => input[at(*i)] = *v,
            Mutation::Truncate(i) => input.truncate(at(*i)),
            Mutation::Insert(i, v) => {
                let i = at(*i);
                input.splice(i..i, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = at(*i);
                input.drain(i..(i + n).min(len));
            }
            Mutation::Splice(from, to, n) if len > 0 => {
                let (from, to) = (at(*from), at(*to));
                let run: Vec<u8> = input[from..(from + n).min(len)].to_vec();
                let end = (to + run.len()).min(len);
                input[to..end].copy_from_slice(&run[..end - to]);
            }
            Mutation::Integer(i, v, be) if len >= 4 => {
                let i = at(*i).min(len - 4);
                let bytes = if *be {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                input[i..i + 4].copy_from_slice(&bytes);
            }
            _ => {}
        }
    }
}

/// Inputs for a byte parser: one in eight wholly random, the rest a seed with one to eight
/// mutations.
pub fn bytes(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let random = prop::collection::vec(any::<u8>(), 0..512);
    if seeds.is_empty() {
        return random.boxed();
    }
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 1..8),
    )
        .prop_map(|(seed, ms)| {
            let mut input = seed;
            ms.iter().for_each(|m| m.apply(&mut input));
            input
        });
    prop_oneof![1 => random, 7 => mutated].boxed()
}

/// Inputs for a text parser: [`bytes`] of the seeds, read as UTF-8 with bad sequences
/// replaced.
pub fn text(seeds: Vec<String>) -> BoxedStrategy<String> {
    let seeds = seeds.into_iter().map(String::into_bytes).collect();
    bytes(seeds)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutation_keeps_inputs_in_bounds() {
        for m in [
            Mutation::Splice(usize::MAX, 3, 63),
            Mutation::Integer(usize::MAX, 7, true),
            Mutation::Delete(5, 63),
            Mutation::Insert(usize::MAX, vec![1]),
        ] {
            for len in 0..10 {
                let mut input = vec![0u8; len];
                m.apply(&mut input);
            }
        }
    }
}
