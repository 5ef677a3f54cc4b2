//! Every parser of bytes a registry (or a user) controls: any input parses or gets a typed
//! error, never a panic; what parses writes back to itself.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use std::collections::BTreeMap;

use anneal_registry::auth::Challenge;
use anneal_registry::{Artifact, Digest, Reference};
use proptest::prelude::*;

fn manifest() -> Vec<u8> {
    let a = Artifact {
        config: Digest::of(b"c"),
        config_size: 1,
        weights: Digest::of(b"w"),
        weights_size: 1,
    };
    a.manifest(
        "p-0.1.0.safetensors",
        BTreeMap::from([("k".to_string(), "v".to_string())]),
    )
}

proptest! {
    #![proptest_config(anneal_fuzz::config())]

    /// Manifests from a registry: a package's, or a typed refusal.
    #[test]
    fn fuzz_artifact_manifest(input in anneal_fuzz::bytes(vec![manifest()])) {
        if let Ok(a) = Artifact::parse("r", &input) {
            let again = Artifact::parse("r", &a.manifest("f", BTreeMap::new()));
            prop_assert_eq!(again.unwrap(), a);
        }
    }

    /// `WWW-Authenticate` headers.
    #[test]
    fn fuzz_challenge(input in anneal_fuzz::text(vec![
        r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#.into(),
        r#"Basic realm="anneal-test""#.into(),
    ])) {
        let _ = Challenge::parse(&input);
    }

    /// References, as users and lock files write them.
    #[test]
    fn fuzz_reference(input in anneal_fuzz::text(vec![
        "127.0.0.1:5000/team/digits:0.1.0".into(),
        format!("oci://ghcr.io/a/b@{}", Digest::of(b"x")),
    ])) {
        if let Ok(r) = Reference::parse(&input) {
            prop_assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        }
    }
}
