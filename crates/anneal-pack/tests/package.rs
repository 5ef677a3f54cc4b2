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
[[check]]
metric = "demographic_parity_difference"
by = "sex"
at_most = 0.1
"#;

fn package() -> Package {
    let program = Program::parse("anneal.toml", MANIFEST).unwrap();
    Package {
        signature: Signature::for_program(
            &program,
            Normalization {
                scale: 1.0 / 255.0,
                mean: 0.0,
                std: 1.0,
            },
        ),
        lineage: Lineage {
            dataset_commit: "0".repeat(64),
            build_key: "1".repeat(64),
            engine: "burn-flex".into(),
            engine_version: "0.22.1".into(),
            seed: 1,
            threads: 2,
            anneal_version: "0.1.0".into(),
            parents: vec![],
            device: None,
            world_size: None,
            engine_key: None,
        },
        metrics: Metrics::compute(&[0.9, 0.1], &[0], &program.classes).with_slices(
            &[0.9, 0.1],
            &[0],
            &[[("sex".to_string(), "F".to_string())].into()],
        ),
        cost: program.cost.clone(),
        audit: None,
        quantization: None,
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
    let f = back.metrics.field("sex").unwrap().value("F").unwrap();
    assert_eq!(
        (&f.labelled, &f.predicted, &f.hits),
        (&vec![1, 0], &vec![1, 0], &vec![1, 0])
    );
    assert_eq!(
        Header::from_bytes(Path::new("p.anneal"), &bytes)
            .unwrap()
            .lineage,
        p.lineage
    );
    // Serialization is deterministic.
    assert_eq!(p.to_bytes().unwrap(), bytes);
    // A temperature travels in the signature; a package without one has no key for it.
    assert!(!String::from_utf8_lossy(&bytes).contains("temperature"));
    let mut scaled = p.clone();
    scaled.signature.temperature = Some(1.25);
    let bytes = scaled.to_bytes().unwrap();
    let back = Package::from_bytes(Path::new("p.anneal"), &bytes).unwrap();
    assert_eq!(back.signature.temperature, Some(1.25));
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

/// Hand-made packages whose metadata lies: each is refused with a typed error naming what is
/// wrong, before anything is allocated from it (these panicked predict, eval or serve, or
/// made them allocate gigabytes, before).
#[test]
fn packages_whose_metadata_lies_are_refused() {
    type Edit = fn(&mut Package);
    let cases: &[(&str, Edit, &str)] = &[
        (
            "stride 0",
            |p| {
                p.program.layers.insert(
                    0,
                    anneal_spec::Layer::MaxPool {
                        kernel: 1,
                        stride: 0,
                    },
                )
            },
            "stride value must be at least 1",
        ),
        (
            "65536x65536 input",
            |p| p.program.input.shape = anneal_spec::Shape::Image([1, 65536, 65536]),
            "at most 67108864",
        ),
        (
            "no classes",
            |p| p.signature.classes.clear(),
            "does not match the package's program",
        ),
        (
            "negative temperature",
            |p| p.signature.temperature = Some(-1.0),
            "temperature Some(-1.0) is unusable",
        ),
        (
            "classes differ",
            |p| p.signature.classes.push("2".into()),
            "does not match",
        ),
        (
            "program with 1 class",
            |p| {
                p.program.classes.truncate(1);
            },
            "at least 2 classes",
        ),
        (
            "image size differs",
            |p| p.signature.image.height = 4096,
            "does not match",
        ),
        (
            "input shape differs",
            |p| p.signature.inputs[0].shape = vec![-1, 1, 65536, 65536],
            "does not match",
        ),
        (
            "zero std",
            |p| p.signature.normalization.std = 0.0,
            "unusable",
        ),
        (
            "NaN mean",
            |p| p.signature.normalization.mean = f32::NAN,
            "`anneal.signature`",
        ),
        (
            "infinite scale",
            |p| p.signature.normalization.scale = f32::INFINITY,
            "`anneal.signature`",
        ),
        (
            "negative scale",
            |p| p.signature.normalization.scale = -1.0,
            "unusable",
        ),
        ("cost differs", |p| p.cost.params = 1, "anneal.cost"),
        (
            "program cost differs",
            |p| p.program.cost.flops = 1,
            "`cost` differ",
        ),
        (
            "NaN weight",
            |p| p.weights[0].data[1] = f32::NAN,
            "non-finite weight (NaN at index 1)",
        ),
        (
            "infinite weight",
            |p| p.weights[1].data[0] = f32::NEG_INFINITY,
            "non-finite weight",
        ),
        (
            "absurd epochs",
            |p| p.program.train.epochs = usize::MAX,
            "cannot be written as a manifest",
        ),
        (
            "dense of 2^40",
            |p| p.program.layers[1] = anneal_spec::Layer::Dense { units: 1 << 40 },
            "at most 16777216",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut p = package();
        edit(&mut p);
        let bytes = p.to_bytes().unwrap();
        match Package::from_bytes(Path::new("bad.anneal"), &bytes) {
            Err(e @ PackError::Metadata { .. }) => {
                assert!(e.to_string().contains(expected), "{name}: {e}")
            }
            other => panic!("{name}: expected a metadata error, got {other:?}"),
        }
    }
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(anneal_fuzz::config())]

        /// Config blobs (a registry's copy of a package's metadata): any bytes read or get a
        /// typed error, and whatever reads writes back to the same bytes.
        #[test]
        fn fuzz_config(input in anneal_fuzz::bytes(vec![package().header().to_config_json().unwrap()])) {
            if let Ok(h) = Header::from_config_json(Path::new("config"), &input) {
                let again = Header::from_config_json(Path::new("again"), &h.to_config_json().unwrap());
                prop_assert_eq!(again.unwrap(), h);
            }
        }

        /// Package files: any bytes load or get a typed error, and whatever loads writes back
        /// to a package that loads as the same.
        #[test]
        fn fuzz_package(input in anneal_fuzz::bytes(vec![package().to_bytes().unwrap()])) {
            let _ = Header::from_bytes(Path::new("f.anneal"), &input);
            if let Ok(p) = Package::from_bytes(Path::new("f.anneal"), &input) {
                let again = Package::from_bytes(Path::new("g.anneal"), &p.to_bytes().unwrap());
                prop_assert_eq!(again.unwrap(), p);
            }
        }
    }
}

/// Found by `fuzz_package` (its minimal input, kept as a fixture): a metrics float with more
/// digits than an f64 holds (`2.10536054214877988`) was read to a neighbouring f64 by
/// serde_json's fast float parser, so the package did not write back to itself; floats are now
/// parsed exactly (`float_roundtrip`).
#[test]
fn metadata_floats_are_read_exactly() {
    let bytes = include_bytes!("fixtures/long-float.anneal");
    let loaded = Package::from_bytes(Path::new("long-float.anneal"), bytes).unwrap();
    let again = Package::from_bytes(Path::new("g"), &loaded.to_bytes().unwrap()).unwrap();
    assert_eq!(again, loaded);
}

/// A package as a registry holds it: its metadata as config JSON and its tensors as a plain
/// safetensors file, which assemble into the very bytes of the package; a config that lies
/// is refused as the package's metadata would be.
#[test]
fn a_package_splits_into_config_and_weights_and_assembles_byte_for_byte() {
    let p = package();
    let config = p.header().to_config_json().unwrap();
    let weights = p.weights_file().unwrap();
    assert!(
        Header::from_bytes(Path::new("w"), &weights).is_err(),
        "the weights alone are no package"
    );
    let header = Header::from_config_json(Path::new("config"), &config).unwrap();
    let again = Package::assemble(header, Path::new("weights"), &weights).unwrap();
    assert_eq!(again.to_bytes().unwrap(), p.to_bytes().unwrap());
    let mut lying = p.clone();
    lying.signature.classes.reverse();
    let e = Header::from_config_json(
        Path::new("config"),
        &lying.header().to_config_json().unwrap(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("does not match the package's program"),
        "{e}"
    );
    let e = Header::from_config_json(Path::new("config"), b"{\"format\":1}").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("config: not an anneal package config: missing field"),
        "{e}"
    );
}

/// An int8 package: the program says so, the quantized weight is stored as I8 with its
/// per-channel scales in `anneal.quantization`, read back as the values it stands for, and
/// written again to the same bytes; metadata that does not fit the program is refused.
#[test]
fn an_int8_package_stores_its_weights_as_i8_and_round_trips() {
    use anneal_spec::quant::{round_weight, weight_scales};
    use anneal_spec::{QuantLayer, Quantization, Scheme};
    let mut p = package();
    p.program.quantize = Some(Scheme::Int8);
    let w = &p.weights[1];
    let scales = weight_scales(w);
    p.weights[1] = round_weight(w, &scales);
    p.quantization = Some(Quantization {
        scheme: Scheme::Int8,
        calibration_examples: 10,
        f32_accuracy: 0.5,
        layers: vec![QuantLayer::calibrated(1, 0.0, 1.0, scales)],
    });
    let bytes = p.to_bytes().unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["layers.1.weight"]["dtype"], "I8");
    assert_eq!(header["layers.1.bias"]["dtype"], "F32");
    let back = Package::from_bytes(Path::new("q.anneal"), &bytes).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.to_bytes().unwrap(), bytes);
    let (config, weights) = (
        p.header().to_config_json().unwrap(),
        p.weights_file().unwrap(),
    );
    let header = Header::from_config_json(Path::new("c.json"), &config).unwrap();
    let assembled = Package::assemble(header, Path::new("w"), &weights).unwrap();
    assert_eq!(assembled.to_bytes().unwrap(), bytes);
    let refused = |q: &Package, want: &str| {
        let e = Package::from_bytes(Path::new("q.anneal"), &q.to_bytes().unwrap()).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    };
    let mut lost = p.clone();
    lost.quantization = None;
    refused(&lost, "has no `anneal.quantization`");
    let mut wrong = p.clone();
    if let Some(q) = &mut wrong.quantization {
        q.layers[0].weight_scales.push(1.0);
    }
    refused(&wrong, "3 weight scales for 2 output channels");
    // A scale whose multiples overflow would read back as infinite weights.
    let mut huge = p.clone();
    if let Some(q) = &mut huge.quantization {
        q.layers[0].weight_scales[0] = 1e38;
    }
    refused(
        &huge,
        "a weight scale, 100000000000000000000000000000000000000, is not a positive",
    );
    let mut unasked = p.clone();
    unasked.program.quantize = None;
    refused(&unasked, "the program is not quantized");
}
