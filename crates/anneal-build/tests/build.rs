//! The build as a library: a tiny program built, cached, and refused when its data is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::path::Path;

use anneal_build::{BuildError, Project, Report, build};
use anneal_engine::NoObserver;

const TINY: &str = r#"[program]
name = "tiny"
version = "0.1.0"
[data]
input = "image"
shape = [1, 4, 4]
classes = 2
[[data.source]]
path = "train"
split = "train"
[[data.source]]
path = "test"
split = "test"
[model]
layers = ["flatten", "dense 2"]
[train]
epochs = 3
batch = 8
"#;

/// `NAME-{images-idx3,labels-idx1}-ubyte` of 4x4 images: class 0 bright on top, 1 below.
fn write_idx(dir: &Path, name: &str, n: usize) {
    let mut images: Vec<u8> = [0x803u32, n as u32, 4, 4]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    let mut labels: Vec<u8> = [0x801u32, n as u32]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    for i in 0..n {
        labels.push((i % 2) as u8);
        images.extend((0..16).map(|p| {
            if (p < 8) == (i % 2 == 0) {
                200
            } else {
                (i * 7 % 40) as u8
            }
        }));
    }
    std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), images).unwrap();
    std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), labels).unwrap();
}

fn program(manifest: &str) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("anneal.toml"), manifest).unwrap();
    write_idx(dir.path(), "train", 64);
    write_idx(dir.path(), "test", 16);
    let project = Project::load(dir.path()).unwrap();
    (dir, project)
}

#[test]
fn a_build_writes_package_report_and_lock_and_is_then_fresh() {
    let (dir, project) = program(TINY);
    let mut notes = Vec::new();
    let built = build(&project, &mut NoObserver, &mut |n| notes.push(n)).unwrap();
    assert!(!built.fresh && built.test_examples == 16, "{built:?}");
    assert!(
        notes.iter().any(|n| n.starts_with("importing")),
        "{notes:?}"
    );
    let report = Report::read(&built.package.with_extension("report.json")).unwrap();
    assert_eq!((report.train.loss.len(), report.train.ids.len()), (3, 64));
    assert_eq!(report.test.probs.len(), 16);
    assert_eq!(report.build_key, built.build_key);
    let lock = std::fs::read_to_string(dir.path().join("anneal.lock")).unwrap();
    assert!(lock.contains(&built.build_key));
    let again = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    assert!(again.fresh && again.build_key == built.build_key);
}

#[test]
fn errors_name_the_input_and_carry_a_hint() {
    let (_dir, project) = program(&TINY.replace("classes = 2", "classes = [\"a\", \"b\"]"));
    let e = build(&project, &mut NoObserver, &mut |_| {}).unwrap_err();
    assert!(matches!(e, BuildError::UnknownLabel { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("example `train:00000` has label `0`"),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("classes"));
    let e = Project::load(Path::new("/nonexistent/anneal")).unwrap_err();
    assert!(matches!(e, BuildError::NoManifest { .. }), "{e}");
}
