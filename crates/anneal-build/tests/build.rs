//! The build as a library: a tiny program built, cached, and refused when its data is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::path::Path;

use anneal_build::queue::{self, Inputs, Kept};
use anneal_build::{BuildError, Engine, Project, Report, build, build_with};
use anneal_data::tables::Change;
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

/// The embedded MNIST sets, `n` images each from `train10k` and `t10k`, as the program
/// `digits` with fewer epochs.
fn mnist_subset(train: usize, test: usize) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits");
    let manifest = std::fs::read_to_string(data.join("anneal.toml")).unwrap();
    let manifest = manifest.replace("epochs = 12", "epochs = 6");
    std::fs::write(dir.path().join("anneal.toml"), manifest).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for (name, n) in [("train10k", train), ("t10k", test)] {
        copy_idx(&data.join("data"), &dir.path().join("data"), name, n);
    }
    let project = Project::load(dir.path()).unwrap();
    (dir, project)
}

/// The first `n` examples of the gzipped IDX pair `name` in `from`, written to `to`.
fn copy_idx(from: &Path, to: &Path, name: &str, n: usize) {
    for (kind, header, size) in [("images-idx3", 16, 784), ("labels-idx1", 8, 1)] {
        let file = format!("{name}-{kind}-ubyte");
        let gz = std::fs::File::open(from.join(format!("{file}.gz"))).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut bytes).unwrap();
        bytes[4..8].copy_from_slice(&(n as u32).to_be_bytes());
        bytes.truncate(header + n * size);
        std::fs::write(to.join(file), bytes).unwrap();
    }
}

/// Every `step`-th training example's label moved to the next class: the true wrong ids.
fn flip_labels(store: &anneal_data::Store, n: usize, step: usize) -> Vec<String> {
    let rows = store.commit_rows(&store.head().unwrap().unwrap()).unwrap();
    let train: Vec<_> = rows.iter().filter(|r| r.split == "train").take(n).collect();
    let flipped: Vec<_> = train.iter().step_by(step).collect();
    let changes: Vec<Change> = flipped
        .iter()
        .map(|r| {
            let label: u32 = r.label.as_deref().unwrap().parse().unwrap();
            let label = Some(((label + 1 + (r.id.len() as u32 % 8)) % 10).to_string());
            Change::Label {
                id: r.id.clone(),
                label,
            }
        })
        .collect();
    store.apply("flip labels", &changes).unwrap();
    flipped.iter().map(|r| r.id.as_str().to_string()).collect()
}

#[test]
fn the_mislabel_queue_finds_flipped_labels_and_estimates_their_number() {
    let (_dir, project) = mnist_subset(2000, 500);
    anneal_build::sources::resolve_commit(&project, &mut |_| {}).unwrap();
    build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let clean = Inputs::load(&project).unwrap();
    let review = queue::mislabeled(&clean.report, &Kept::default(), &clean.current);
    eprintln!("clean: {}", review.headline());
    assert!(
        !review.separated && review.estimated < 100,
        "{}",
        review.headline()
    );
    let store = anneal_data::Store::open(&project.dir).unwrap();
    let flipped = flip_labels(&store, 2000, 10);
    build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let inputs = Inputs::load(&project).unwrap();
    let review = queue::mislabeled(&inputs.report, &Kept::default(), &inputs.current);
    assert!(review.separated, "{}", review.headline());
    let (truth, n) = (flipped.len(), review.estimated);
    let cut = &review.suspects[..n.min(review.suspects.len())];
    let hits = cut
        .iter()
        .filter(|s| flipped.contains(&s.id.as_str().to_string()))
        .count();
    let (precision, recall) = (hits as f64 / n as f64, hits as f64 / truth as f64);
    eprintln!("mislabel queue: P {precision:.3} R {recall:.3}, estimated {n} of {truth}");
    // Chance is 0.1; the bench measures the full figures on 10,000 examples.
    assert!(
        precision > 0.8 && recall > 0.8,
        "P {precision} R {recall} at {n} of {truth}"
    );
    assert!(n.abs_diff(truth) * 4 < truth, "estimated {n}, true {truth}");
    let kept = Kept::keep(&project.dir, &[(cut[0].id.clone(), cut[0].label.clone())]).unwrap();
    let again = queue::mislabeled(&inputs.report, &kept, &inputs.current);
    assert_eq!(again.suspects.len(), review.suspects.len() - 1);
    assert!(!again.suspects.iter().any(|s| s.id == cut[0].id));
}

#[test]
fn the_uncertain_queue_ranks_the_pool_least_sure_first() {
    let (_dir, project) = program(TINY);
    anneal_build::sources::resolve_commit(&project, &mut |_| {}).unwrap();
    let store = anneal_data::Store::open(&project.dir).unwrap();
    let pool: Vec<Change> = (40..64)
        .map(|i| Change::Label {
            id: format!("train:{i:05}").as_str().into(),
            label: None,
        })
        .collect();
    store.apply("unlabel", &pool).unwrap();
    build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let inputs = Inputs::load(&project).unwrap();
    assert_eq!(inputs.report.pool.ids.len(), 24);
    let queue = queue::uncertain(&inputs.report, 5, &inputs.current);
    assert_eq!((queue.pool, queue.candidates.len()), (24, 5));
    let least = inputs.report.pool.probs.iter().map(|p| (p[0] - p[1]).abs());
    let least = least.fold(f32::INFINITY, f32::min);
    assert!((queue.candidates[0].margin - least).abs() < 1e-6, "{queue}");
}

#[test]
fn a_report_whose_lists_disagree_is_refused() {
    let (_dir, project) = program(TINY);
    let built = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let path = built.package.with_extension("report.json");
    let mut report = Report::read(&path).unwrap();
    report.train.labels.pop();
    report.write(&path).unwrap();
    let e = Report::read(&path).unwrap_err().to_string();
    assert!(
        e.contains("train.labels has 63 entries, expected 64"),
        "{e}"
    );
}

#[test]
fn a_report_of_an_older_format_is_built_again() {
    let (_dir, project) = program(TINY);
    build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let path = project.report_path();
    let mut report = Report::read(&path).unwrap();
    report.format = 1;
    report.write(&path).unwrap();
    assert!(!Report::is_current(&path));
    let again = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    assert!(!again.fresh);
    assert!(Report::is_current(&path) && Report::read(&path).unwrap().format == 2);
}

/// The tiny program, built once so its data is imported, then its test examples given
/// metadata: `group` a for the first ten, b for the other six; `rare` on four (every fifth).
fn with_metadata() -> (tempfile::TempDir, Project) {
    let (dir, project) = program(TINY);
    build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let store = anneal_data::Store::open(&project.dir).unwrap();
    let mut rows = store.commit_rows(&store.head().unwrap().unwrap()).unwrap();
    let test = rows.iter_mut().filter(|r| r.split == "test");
    for (i, row) in test.enumerate() {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            "group".to_string(),
            if i < 10 { "a" } else { "b" }.to_string(),
        );
        if i % 5 == 0 {
            fields.insert("rare".to_string(), "yes".to_string());
        }
        row.meta = anneal_data::row::Meta::from_fields(&fields);
    }
    store.commit(rows, &[], "add metadata").unwrap();
    (dir, project)
}

#[test]
fn the_package_metrics_hold_each_metadata_value_of_the_test_split() {
    let (_dir, project) = with_metadata();
    let built = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    assert!(!built.fresh, "new metadata is a new dataset commit");
    let metrics = anneal_pack::Header::read(&built.package).unwrap().metrics;
    let fields: Vec<_> = metrics.slices.iter().flatten().map(|f| &f.field).collect();
    assert_eq!(fields, ["group", "rare"]);
    let group = metrics.field("group").unwrap();
    assert_eq!((group.distinct, group.missing), (2, 0));
    let rare = metrics.field("rare").unwrap();
    assert_eq!(
        (rare.distinct, rare.missing, rare.values[0].examples),
        (1, 12, 4)
    );
    // Each slice's correct count is the report's: the same predictions, counted by group.
    let report = Report::read(&project.report_path()).unwrap();
    let mut correct = [0usize; 2];
    for (i, (p, &y)) in report
        .test
        .probs
        .iter()
        .zip(&report.test.labels)
        .enumerate()
    {
        let right = anneal_pack::argmax(p) == y as usize;
        correct[usize::from(i >= 10)] += usize::from(right);
    }
    let (a, b) = (group.value("a").unwrap(), group.value("b").unwrap());
    assert_eq!((a.examples, b.examples), (10, 6));
    assert_eq!([a.correct, b.correct], correct);
    assert!((a.accuracy - correct[0] as f64 / 10.0).abs() < 1e-12);
}

#[test]
fn a_package_whose_slices_lack_the_per_class_counts_is_built_again() {
    let (_dir, project) = with_metadata();
    let built = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let mut package = anneal_pack::Package::read(&built.package).unwrap();
    assert!(package.metrics.slices_current());
    for field in package.metrics.slices.iter_mut().flatten() {
        for v in &mut field.values {
            (v.labelled, v.predicted, v.hits) = (vec![], vec![], vec![]);
        }
    }
    assert!(!package.metrics.slices_current());
    let bytes = package.to_bytes().unwrap();
    anneal_data::fs::write_atomic(&built.package, &bytes).unwrap();
    let again = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    assert!(
        !again.fresh,
        "a gate on the old package could not be measured"
    );
    let header = anneal_pack::Header::read(&again.package).unwrap();
    let a = header.metrics.field("group").unwrap().value("a").unwrap();
    assert_eq!(a.labelled.iter().sum::<usize>(), 10);
}

#[test]
fn a_package_without_slice_metrics_is_built_again() {
    let (_dir, project) = program(TINY);
    let built = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    let mut package = anneal_pack::Package::read(&built.package).unwrap();
    assert_eq!(
        package.metrics.slices,
        Some(Vec::new()),
        "no metadata, no fields"
    );
    package.metrics.slices = None;
    let bytes = package.to_bytes().unwrap();
    anneal_data::fs::write_atomic(&built.package, &bytes).unwrap();
    let again = build(&project, &mut NoObserver, &mut |_| {}).unwrap();
    assert!(!again.fresh);
    let header = anneal_pack::Header::read(&again.package).unwrap();
    assert!(header.metrics.slices.is_some());
}

/// With a validation split, the build fits a temperature on it, records it in the package's
/// signature, and the report's probabilities are the scaled ones `predict` gives; a
/// validation split without examples is an error naming it.
#[test]
fn a_validation_split_fits_the_temperature_predict_uses() {
    let manifest = TINY.replace("classes = 2", "classes = 2\nvalidation-split = \"val\"");
    let manifest = manifest.replace(
        "[model]",
        "[[data.source]]\npath = \"val\"\nsplit = \"val\"\n[model]",
    );
    let (dir, project) = program(&manifest);
    write_idx(dir.path(), "val", 24);
    let mut notes = Vec::new();
    let built = build(&project, &mut NoObserver, &mut |n| notes.push(n)).unwrap();
    let note = notes
        .iter()
        .find(|n| n.starts_with("temperature "))
        .expect("a note");
    assert!(note.contains("fitted on 24 examples (val)"), "{note}");
    let package = anneal_pack::Package::read(&built.package).unwrap();
    let t = package.signature.temperature.expect("a temperature");
    assert!(t.is_finite() && t > 0.0 && (t - 1.0).abs() > 1e-3, "{t}");
    let report = Report::read(&built.package.with_extension("report.json")).unwrap();
    let test = anneal_build::split::collect(
        &package.program,
        &anneal_data::Store::open(dir.path()).unwrap(),
        &report.dataset_commit.parse().unwrap(),
        "test",
    )
    .unwrap();
    let x = anneal_engine::preprocess(&test.features, &package.signature.normalization);
    let model = anneal_engine::Model::new(&package.program, &package.weights).unwrap();
    let raw = model.predict(&x).unwrap();
    let scaled = model.with_temperature(Some(t)).predict(&x).unwrap();
    assert_eq!(
        scaled,
        report.test.probs.concat(),
        "the report holds the scaled probabilities"
    );
    assert_ne!(raw, scaled);
    let argmax = |p: &[f32]| p.chunks(2).map(anneal_pack::argmax).collect::<Vec<_>>();
    assert_eq!(
        argmax(&raw),
        argmax(&scaled),
        "scaling changes no prediction"
    );

    let empty = TINY.replace(
        "classes = 2",
        "classes = 2\nvalidation-split = \"held-out\"",
    );
    let (_dir, project) = program(&empty);
    let e = build(&project, &mut NoObserver, &mut |_| {}).unwrap_err();
    assert!(matches!(e, BuildError::NoValidation { .. }), "{e}");
    assert!(e.to_string().contains("`held-out`"), "{e}");
    assert!(e.hint().unwrap().contains("validation-split"));
}

#[test]
fn a_program_built_on_a_frozen_dependency_keeps_its_weights_and_names_it() {
    let dep_manifest = TINY.replace(
        r#"layers = ["flatten", "dense 2"]"#,
        r#"layers = ["conv 4 3x3 pad 1", "batchnorm", "relu", "flatten", "dense 8", "relu", "dense 2"]"#,
    );
    let (_d, dep) = program(&dep_manifest);
    let dep_built = build(&dep, &mut NoObserver, &mut |_| {}).unwrap();
    let dep_package = anneal_pack::Package::read(&dep_built.package).unwrap();
    let manifest = TINY.replace(
        r#"layers = ["flatten", "dense 2"]"#,
        r#"layers = ["use tiny frozen upto 6", "dense 2"]
[dependencies]
tiny = { oci = "127.0.0.1:5000/x/tiny", version = "^0.1" }"#,
    );
    let (_c, project) = program(&manifest);
    // Without the dependency's package the build says which one it needs.
    let e = build(&project, &mut NoObserver, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("not locked in anneal.lock"), "{e}");
    let dependency = Some((dep_built.package.as_path(), "sha256:00"));
    let built = build_with(
        &project,
        dependency,
        &Engine::Native,
        &mut NoObserver,
        &mut |_| {},
    )
    .unwrap();
    let package = anneal_pack::Package::read(&built.package).unwrap();
    assert_eq!(package.lineage.parents, ["tiny=sha256:00"]);
    assert_eq!(package.program.layers.len(), 7);
    assert_eq!(package.program.base.as_ref().unwrap().layers, 6);
    for t in dep_package
        .weights
        .iter()
        .filter(|t| !t.name.starts_with("layers.6."))
    {
        let ours = package.weights.iter().find(|w| w.name == t.name).unwrap();
        assert_eq!(ours.data, t.data, "{}", t.name);
    }
    assert!(built.accuracy > 0.9, "{}", built.accuracy);
    // Another dependency digest is another build.
    let other = Some((dep_built.package.as_path(), "sha256:01"));
    let again = build_with(
        &project,
        other,
        &Engine::Native,
        &mut NoObserver,
        &mut |_| {},
    )
    .unwrap();
    assert!(!again.fresh && again.build_key != built.build_key);
    let same = build_with(
        &project,
        other,
        &Engine::Native,
        &mut NoObserver,
        &mut |_| {},
    )
    .unwrap();
    assert!(same.fresh);
    // A dependency whose input does not fit is refused, naming it.
    let wide = program(&dep_manifest.replace(
        "shape = [1, 4, 4]",
        "shape = [1, 4, 4]\nnormalize = \"none\"",
    ));
    let wide_built = build(&wide.1, &mut NoObserver, &mut |_| {}).unwrap();
    let e = build_with(
        &project,
        Some((wide_built.package.as_path(), "sha256:02")),
        &Engine::Native,
        &mut NoObserver,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, BuildError::Composition { .. }), "{e}");
    assert!(e.to_string().contains("normalised \"none\""), "{e}");
}
