//! Package round trips and malformed files: typed errors, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::path::Path;

use anneal_pack::{Header, Lineage, Metrics, Normalization, PackError, Package, Signature};
use anneal_spec::{NamedTensor, Program};

const MANIFEST: &str = r#"[program]
name = "p"
version = "1.2.3"
[data]
input = "image"
shape = [1, 2, 2]
classes = 2
[model]
layers = ["flatten", "dense 2"]
"#;

fn package() -> Package {
    let program = Program::parse("anneal.toml", MANIFEST).unwrap();
    Package {
        signature: Signature {
            inputs: vec![],
            outputs: vec![],
            classes: program.classes.clone(),
            image: anneal_pack::ImageSpec {
                channels: 1,
                height: 2,
                width: 2,
            },
            normalization: Normalization {
                scale: 1.0 / 255.0,
                mean: 0.0,
                std: 1.0,
            },
        },
        lineage: Lineage {
            dataset_commit: "0".repeat(64),
            build_key: "1".repeat(64),
            engine: "burn-flex".into(),
            engine_version: "0.22.1".into(),
            seed: 1,
            threads: 2,
            anneal_version: "0.1.0".into(),
            parents: vec![],
        },
        metrics: Metrics::compute(&[0.9, 0.1], &[0], &program.classes),
        cost: program.cost.clone(),
        weights: vec![
            NamedTensor {
                name: "layers.1.bias".into(),
                shape: vec![2],
                data: vec![0.5, -0.5],
            },
            NamedTensor {
                name: "layers.1.weight".into(),
                shape: vec![4, 2],
                data: (0..8).map(|i| i as f32 / 8.0).collect(),
            },
        ],
        program,
    }
}

#[test]
fn round_trip() {
    let p = package();
    let bytes = p.to_bytes().unwrap();
    let back = Package::from_bytes(Path::new("p.anneal"), &bytes).unwrap();
    assert_eq!(back, p);
    assert_eq!(
        Header::from_bytes(Path::new("p.anneal"), &bytes)
            .unwrap()
            .lineage,
        p.lineage
    );
    // Serialization is deterministic.
    assert_eq!(p.to_bytes().unwrap(), bytes);
}

#[test]
fn malformed_files_get_typed_errors() {
    let good = package().to_bytes().unwrap();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short", vec![1, 2, 3]),
        ("huge header length", u64::MAX.to_le_bytes().to_vec()),
        ("header past the end", {
            let mut b = good.clone();
            b.truncate(8 + header_len / 2);
            b
        }),
        ("truncated data", good[..good.len() - 4].to_vec()),
        ("trailing bytes", {
            let mut b = good.clone();
            b.extend_from_slice(&[0; 4]);
            b
        }),
        ("not json", {
            let mut b = good.clone();
            b[8] = b'!';
            b
        }),
        (
            "pickle",
            b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00}".to_vec(),
        ),
    ];
    for (i, b) in good.iter().enumerate().skip(8).take(header_len) {
        if *b == b'1' && good[i..].starts_with(b"1\",\"anneal") {
            let mut v = good.clone();
            v[i] = b'9';
            cases.push(("format 9", v));
            break;
        }
    }
    // A valid safetensors file without anneal metadata.
    let plain = safetensors::serialize(
        vec![(
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0, 0, 0, 0])
                .unwrap(),
        )],
        None,
    )
    .unwrap();
    cases.push(("plain safetensors", plain));
    for (name, bytes) in cases {
        match Package::from_bytes(Path::new("bad.anneal"), &bytes) {
            Err(PackError::Safetensors { .. } | PackError::Metadata { .. }) => {}
            other => panic!("{name}: expected a typed error, got {other:?}"),
        }
    }
}
