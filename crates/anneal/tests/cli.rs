//! End-to-end tests of the `anneal` binary: every verb on small synthetic programs, and the
//! exact text of its errors (snapshots, with temporary paths masked).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

#[path = "cli/audio.rs"]
mod audio;
#[path = "cli/gates.rs"]
mod gates;
#[path = "cli/hostile.rs"]
mod hostile;
#[path = "cli/registry.rs"]
mod registry;
#[path = "cli/robust.rs"]
mod robust;
#[path = "cli/slices.rs"]
mod slices;
#[path = "cli/table.rs"]
mod table;
#[path = "cli/torch.rs"]
mod torch;
#[path = "cli/tune.rs"]
mod tune;

fn anneal(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anneal"))
        .args(args)
        .current_dir(cwd)
        .env("ANNEAL_AUTHOR", "test")
        .env("SOURCE_DATE_EPOCH", "1764000000")
        .output()
        .expect("run anneal")
}

/// Run anneal, assert it succeeded, and return its stdout.
fn ok(cwd: &Path, args: &[&str]) -> String {
    let o = anneal(cwd, args);
    assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Write an IDX images + labels pair `dir/NAME-{images-idx3,labels-idx1}-ubyte` of 8x8 images:
/// class 0 is bright in the top half, class 1 in the bottom half, with deterministic noise.
fn write_idx(dir: &Path, name: &str, n: usize, seed: u64) {
    let mut images = Vec::new();
    for x in [0x803u32, n as u32, 8, 8] {
        images.extend_from_slice(&x.to_be_bytes());
    }
    let mut labels = Vec::new();
    for x in [0x801u32, n as u32] {
        labels.extend_from_slice(&x.to_be_bytes());
    }
    let mut s = seed;
    for i in 0..n {
        let class = (i % 2) as u8;
        labels.push(class);
        for p in 0..64 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (s >> 58) as u8; // 0..63
            let bright = (p < 32) == (class == 0);
            images.push(if bright { 160 + noise } else { noise });
        }
    }
    std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), images).unwrap();
    std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), labels).unwrap();
}

const TINY: &str = r#"[program]
name = "tiny"
version = "0.1.0"

[data]
input = "image"
shape = [1, 8, 8]
classes = 2

[[data.source]]
path = "data/train"
split = "train"

[[data.source]]
path = "data/test"
split = "test"

[model]
layers = ["flatten", "dense 16", "relu", "dense 2", "softmax"]

[train]
epochs = 3
batch = 16
optimizer = "adam 1e-2"
seed = 7

[[check]]
metric = "accuracy"
at_least = 0.9

[[check]]
metric = "recall"
where = "label = 1"
at_least = 0.9
"#;

/// A temp folder holding `prog/` with the tiny program and its data.
fn tiny_program(manifest: &str) -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let prog = tmp.path().join("prog");
    std::fs::create_dir_all(prog.join("data")).unwrap();
    std::fs::write(prog.join("anneal.toml"), manifest).unwrap();
    write_idx(&prog.join("data"), "train", 400, 1);
    write_idx(&prog.join("data"), "test", 100, 2);
    (tmp, prog)
}

fn assert_nothing_written(prog: &Path) {
    assert!(!prog.join(".anneal").exists(), "a store was left behind");
    assert!(
        !prog.join("target").exists(),
        "build outputs were left behind"
    );
}

#[test]
fn check_prints_the_shape_table() {
    let (tmp, _) = tiny_program(TINY);
    let o = anneal(tmp.path(), &["check", "-C", "prog"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn check_of_the_digits_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let o = anneal(&root, &["check", "-C", "examples/digits"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

fn error_case(manifest: &str, args: &[&str]) -> String {
    let (tmp, prog) = tiny_program(manifest);
    let o = anneal(tmp.path(), args);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    assert_nothing_written(&prog);
    stderr(&o)
}

#[test]
fn misspelt_layer_suggests_the_fix() {
    let err = error_case(
        &TINY.replace("\"relu\"", "\"rleu\""),
        &["build", "-C", "prog"],
    );
    insta::assert_snapshot!(err);
}

#[test]
fn shape_mismatch_names_both_layers_and_shapes() {
    let err = error_case(&TINY.replace("\"flatten\", ", ""), &["check", "-C", "prog"]);
    insta::assert_snapshot!(err);
}

#[test]
fn manifest_that_is_not_toml() {
    let err = error_case("[program\nname = tiny\n", &["build", "-C", "prog"]);
    insta::assert_snapshot!(err);
}

#[test]
fn missing_dataset() {
    let manifest = TINY.replace("[[data.source]]\npath = \"data/train\"\nsplit = \"train\"\n\n[[data.source]]\npath = \"data/test\"\nsplit = \"test\"\n", "");
    let err = error_case(&manifest, &["build", "-C", "prog"]);
    insta::assert_snapshot!(err);
}

#[test]
fn truncated_idx_file_is_rejected_and_nothing_is_written() {
    let (tmp, prog) = tiny_program(TINY);
    let file = prog.join("data/train-images-idx3-ubyte");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let o = anneal(
        tmp.path(),
        &[
            "data",
            "import",
            "prog/data/train",
            "-C",
            "prog",
            "--split",
            "train",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_nothing_written(&prog);
    insta::assert_snapshot!(stderr(&o));
    // The declared-source path of `build` fails the same way, and leaves nothing either.
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("header says 400 images of 8x8 (25600 bytes) but 25590 bytes follow")
    );
    assert_nothing_written(&prog);
}

#[test]
fn the_whole_loop_on_a_tiny_program() {
    let (tmp, prog) = tiny_program(TINY);
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("built prog/target/tiny-0.1.0.anneal"),
        "{out}"
    );
    let package = prog.join("target/tiny-0.1.0.anneal");
    assert!(prog.join("target/tiny-0.1.0.report.json").exists());
    assert!(
        std::fs::read_to_string(prog.join("anneal.lock"))
            .unwrap()
            .contains("dataset-commit = \"")
    );

    // Unchanged key: fresh, no training.
    let o = anneal(tmp.path(), &["build", "-C", "prog", "--json"]);
    let done: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(done["fresh"], true);

    // The log has one import of both declared sources (all or none of them are imported).
    let o = anneal(tmp.path(), &["data", "log", "-C", "prog", "--json"]);
    let log: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["message"], "import 2 sources (500 examples)");

    // Checks pass, JUnit written.
    let o = anneal(tmp.path(), &["test", "-C", "prog", "--junit", "junit.xml"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let junit = std::fs::read_to_string(tmp.path().join("junit.xml")).unwrap();
    assert!(junit.contains("tests=\"2\" failures=\"0\""), "{junit}");

    // Predict on the test IDX: classes named, probabilities sum to 1.
    let o = anneal(
        tmp.path(),
        &[
            "predict",
            "prog/target/tiny-0.1.0.anneal",
            "prog/data/test",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let preds: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(preds.len(), 100);
    let right = preds
        .iter()
        .enumerate()
        .filter(|(i, p)| p["class"] == ["0", "1"][i % 2])
        .count();
    assert!(right >= 90, "{right} of 100 right");
    let sum: f64 = preds[0]["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-5);

    // Eval agrees with the build's own test metrics.
    let o = anneal(
        tmp.path(),
        &[
            "eval",
            "prog/target/tiny-0.1.0.anneal",
            "prog/data/test",
            "--json",
        ],
    );
    let m: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let header = anneal_pack::Header::read(&package).unwrap();
    assert!((m["accuracy"].as_f64().unwrap() - header.metrics.accuracy).abs() < 1e-12);
    assert_eq!(m["confusion"].as_array().unwrap().len(), 2);

    // Export to ONNX: the file lands beside the package by default, or where -o says; a file
    // that is not a package is an error naming it.
    let o = anneal(tmp.path(), &["export", "prog/target/tiny-0.1.0.anneal"]);
    assert!(
        stdout(&o).starts_with("wrote prog/target/tiny-0.1.0.onnx (ONNX opset 17, "),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let onnx = std::fs::read(prog.join("target/tiny-0.1.0.onnx")).unwrap();
    assert_eq!(onnx[..2], [0x08, 0x08], "ModelProto.ir_version = 8 first");
    let o = anneal(
        tmp.path(),
        &[
            "export",
            "prog/target/tiny-0.1.0.anneal",
            "--format",
            "onnx",
            "-o",
            "m.onnx",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (report["format"].as_str(), report["opset"].as_i64()),
        (Some("onnx"), Some(17))
    );
    assert_eq!(std::fs::read(tmp.path().join("m.onnx")).unwrap(), onnx);
    let o = anneal(tmp.path(), &["export", "junit.xml", "-o", "x.onnx"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: junit.xml: "),
        "{}",
        stderr(&o)
    );
    assert!(!tmp.path().join("x.onnx").exists());

    // A PNG input is greyscaled and resized: a bright-bottom 32x32 image is class "1".
    let img =
        image::GrayImage::from_fn(32, 32, |_, y| image::Luma([if y >= 16 { 220 } else { 10 }]));
    img.save(tmp.path().join("bottom.png")).unwrap();
    let o = anneal(
        tmp.path(),
        &["predict", "prog/target/tiny-0.1.0.anneal", "bottom.png"],
    );
    assert!(
        stdout(&o).starts_with("bottom.png: 1 ("),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );

    // Raising a floor above what was reached fails `anneal test` with exit 1, without a rebuild.
    let manifest = std::fs::read_to_string(prog.join("anneal.toml")).unwrap();
    std::fs::write(
        prog.join("anneal.toml"),
        manifest.replace("at_least = 0.9\n", "at_least = 1.0\n"),
    )
    .unwrap();
    let o = anneal(tmp.path(), &["test", "-C", "prog"]);
    let text = stdout(&o);
    if header.metrics.accuracy < 1.0 {
        assert_eq!(o.status.code(), Some(1), "{text}");
        assert!(text.contains("FAIL"), "{text}");
    }
}

#[test]
fn clean_builds_of_one_key_are_byte_identical() {
    // Batches of 200 are large enough that the engine splits its GEMMs and its first-layer
    // weight gradient between threads: the weights must not notice.
    let manifest = TINY
        .replace("[model]\nlayers = [\"flatten\", \"dense 16\", \"relu\", \"dense 2\", \"softmax\"]", "[model]\nlayers = [\"conv 16 3x3 pad 1\", \"relu\", \"maxpool 2\", \"flatten\", \"dropout 0.1\", \"dense 64\", \"relu\", \"dense 2\"]")
        .replace("batch = 16", "batch = 200");
    assert!(manifest.contains("batch = 200") && manifest.contains("conv 16"));
    let (a, pa) = tiny_program(&manifest);
    let (b, pb) = tiny_program(&manifest);
    for (tmp, threads) in [(&a, "1"), (&b, "2")] {
        let o = anneal(tmp.path(), &["build", "-C", "prog", "--threads", threads]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |p: &Path| anneal_pack::Package::read(&p.join("target/tiny-0.1.0.anneal")).unwrap();
    let (x, y) = (read(&pa), read(&pb));
    assert_eq!(x.lineage.build_key, y.lineage.build_key);
    assert_eq!(
        x.weights, y.weights,
        "weights differ between two builds of one key"
    );
}

#[test]
fn new_writes_a_valid_program() {
    let tmp = tempfile::tempdir().unwrap();
    for template in ["digits", "mlp"] {
        let o = anneal(tmp.path(), &["new", template, "--template", template]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = anneal(tmp.path(), &["check", "-C", template]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = anneal(tmp.path(), &["new", "digits"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"));
}

#[test]
fn ctrl_c_leaves_no_partial_package() {
    let (tmp, prog) = tiny_program(&TINY.replace("epochs = 3", "epochs = 500"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_anneal"))
        .args(["build", "-C", "prog", "--json"])
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    // Wait until training is under way, then interrupt it.
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("\"epoch_end\"") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted: no package was written"), "{err}");
    let target = prog.join("target");
    let left: Vec<_> = std::fs::read_dir(&target)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in target/: {left:?}");
    assert!(!prog.join("anneal.lock").exists());
}

#[test]
fn store_verbs_and_rebuild_after_a_label_edit() {
    let (tmp, prog) = tiny_program(TINY);
    let run = |args: &[&str]| ok(tmp.path(), args);
    run(&["build", "-C", "prog"]);
    let out = run(&["build", "-C", "prog"]);
    assert!(out.starts_with("fresh"), "{out}");

    // A label edit is a commit; the next build retrains.
    run(&["data", "label", "train:00003", "0", "-C", "prog"]);
    std::fs::write(
        prog.join("edits.csv"),
        "id,label\ntrain:00005,0\ntrain:00007,0\n",
    )
    .unwrap();
    run(&[
        "data",
        "label",
        "--from",
        "prog/edits.csv",
        "-C",
        "prog",
        "-m",
        "fix three labels",
    ]);
    let out = run(&["build", "-C", "prog"]);
    assert!(out.starts_with("built"), "{out}");

    let log: Vec<serde_json::Value> =
        serde_json::from_str(&run(&["data", "log", "-C", "prog", "--json"])).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["message"], "fix three labels");
    let first = log[2]["commit"].as_str().unwrap()[..12].to_string(); // the import
    let d: serde_json::Value =
        serde_json::from_str(&run(&["data", "diff", &first, "-C", "prog", "--json"])).unwrap();
    assert_eq!(d["relabeled"].as_array().unwrap().len(), 3);
    assert_eq!(
        d["relabeled"][0],
        serde_json::json!({"id": "train:00003", "before": "1", "after": "0"})
    );
    assert_eq!(d["class_counts"], serde_json::json!({"0": 3, "1": -3}));
    let text = run(&["data", "diff", &first, "HEAD", "-C", "prog", "--stat"]);
    assert!(
        text.contains("0 added, 0 removed, 3 relabeled, 0 metadata changed, 0 changed"),
        "{text}"
    );

    // Branches keep edits apart.
    run(&["data", "branch", "experiment", "-C", "prog"]);
    run(&["data", "checkout", "experiment", "-C", "prog"]);
    run(&["data", "remove", "test:00001", "-C", "prog"]);
    let status: serde_json::Value =
        serde_json::from_str(&run(&["data", "status", "-C", "prog", "--json"])).unwrap();
    assert_eq!(status["branch"], "experiment");
    assert_eq!(status["examples"], 499);
    run(&["data", "checkout", "main", "-C", "prog"]);
    let stats: serde_json::Value =
        serde_json::from_str(&run(&["data", "stats", "-C", "prog", "--json"])).unwrap();
    assert_eq!(
        stats["counts"]["test"]["0"].as_u64().unwrap()
            + stats["counts"]["test"]["1"].as_u64().unwrap(),
        100
    );

    // fsck: clean, then a damaged object is named and the exit code is 1.
    assert!(run(&["data", "fsck", "-C", "prog"]).contains(": 0 problems"));
    let objects = prog.join(".anneal/objects");
    let dir = std::fs::read_dir(&objects)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = std::fs::read(&file).unwrap();
    let mut bytes = good.clone();
    bytes[8] ^= 0x10;
    std::fs::write(&file, bytes).unwrap();
    let o = anneal(tmp.path(), &["data", "fsck", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(1));
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(stdout(&o).contains(&name), "{}", stdout(&o));
    std::fs::write(&file, good).unwrap();

    // Unknown ids and revisions are clear errors.
    let o = anneal(tmp.path(), &["data", "label", "nope:1", "0", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no example `nope:1` in the dataset"));
    let o = anneal(tmp.path(), &["data", "diff", "zzzz", "-C", "prog"]);
    assert!(
        stderr(&o).contains("unknown revision `zzzz`"),
        "{}",
        stderr(&o)
    );
}

/// Promise 1 under real process death: `anneal data label` killed with SIGKILL at random
/// moments leaves HEAD at the old or the new commit and a store that fsck finds clean.
/// 40 kills here; `ANNEAL_LONG=1` runs 200.
#[test]
fn sigkill_during_commits_never_leaves_a_mix() {
    let (tmp, _prog) = tiny_program(TINY);
    let o = anneal(
        tmp.path(),
        &[
            "data",
            "import",
            "prog/data/train",
            "-C",
            "prog",
            "--split",
            "train",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rounds = if std::env::var_os("ANNEAL_LONG").is_some() {
        200
    } else {
        40
    };
    let mut seed = 12345u64;
    let (mut killed, mut finished) = (0, 0);
    for round in 0..rounds {
        let log = |tmp: &TempDir| -> Vec<serde_json::Value> {
            serde_json::from_str(&stdout(&anneal(
                tmp.path(),
                &["data", "log", "-C", "prog", "--json"],
            )))
            .unwrap()
        };
        let before = log(&tmp).len();
        let label = if round % 2 == 0 { "0" } else { "1" };
        let mut child = Command::new(env!("CARGO_BIN_EXE_anneal"))
            .args(["data", "label", "train:00002", label, "-C", "prog"])
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(std::time::Duration::from_micros((seed >> 33) % 12_000));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            finished += 1
        } else {
            killed += 1
        }
        let o = anneal(tmp.path(), &["data", "fsck", "-C", "prog"]);
        assert!(o.status.success(), "round {round}: {}", stdout(&o));
        let after = log(&tmp).len();
        assert!(
            after == before || after == before + 1,
            "round {round}: {before} -> {after} commits"
        );
    }
    eprintln!("{killed} killed, {finished} finished");
    assert!(killed > 0, "no run was killed mid-way");
}

#[test]
fn merge_lists_conflicts_and_commits_nothing_until_told() {
    let (tmp, _prog) = tiny_program(TINY);
    let run = |args: &[&str]| anneal(tmp.path(), args);
    ok(
        tmp.path(),
        &[
            "data",
            "import",
            "prog/data/train",
            "-C",
            "prog",
            "--split",
            "train",
        ],
    );
    ok(tmp.path(), &["data", "branch", "other", "-C", "prog"]);
    ok(
        tmp.path(),
        &["data", "label", "train:00004", "1", "-C", "prog"],
    );
    ok(tmp.path(), &["data", "checkout", "other", "-C", "prog"]);
    ok(
        tmp.path(),
        &[
            "data",
            "label",
            "train:00004",
            "2",
            "-C",
            "prog",
            "-m",
            "a third class",
        ],
    );
    ok(
        tmp.path(),
        &["data", "label", "train:00006", "1", "-C", "prog"],
    );
    ok(tmp.path(), &["data", "checkout", "main", "-C", "prog"]);
    let head = stdout(&run(&["data", "status", "-C", "prog", "--json"]));
    let o = run(&["data", "merge", "other", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&o));
    assert_eq!(
        stdout(&run(&["data", "status", "-C", "prog", "--json"])),
        head,
        "nothing committed"
    );
    let o = run(&["data", "merge", "other", "--theirs", "-C", "prog"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("1 conflict resolved by --theirs"),
        "{}",
        stdout(&o)
    );
    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["data", "stats", "-C", "prog", "--json"]))).unwrap();
    // train:00004 is 2 (theirs), train:00006 moved from 0 to 1 (theirs, no conflict).
    assert_eq!(stats["counts"]["train"]["2"], 1);
    assert_eq!(stats["counts"]["train"]["1"], 201);
    let o = run(&[
        "data", "split", "--test", "0.25", "--seed", "3", "-C", "prog",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["data", "stats", "-C", "prog", "--json"]))).unwrap();
    assert_eq!(
        stats["counts"]["test"]["0"].as_u64().unwrap()
            + stats["counts"]["test"]["1"].as_u64().unwrap(),
        100
    );
    let o = run(&["data", "gc", "-C", "prog"]);
    assert!(
        o.status.success() && stdout(&o).starts_with("removed "),
        "{}",
        stdout(&o)
    );
    assert!(run(&["data", "fsck", "-C", "prog"]).status.success());
}

/// Write `FOLDER/LABEL/NAME.png` images: label 0 bright on top, 1 bright at the bottom, 16x16
/// (the program resizes to 8x8), every fifth one as a JPEG.
fn write_image_folder(dir: &Path, n: usize, seed: u32) {
    for i in 0..n {
        let class = i % 2;
        let folder = dir.join(class.to_string());
        std::fs::create_dir_all(&folder).unwrap();
        let img = image::GrayImage::from_fn(16, 16, |x, y| {
            let noise = ((x * 7 + y * 13 + i as u32 * 31 + seed) % 40) as u8;
            let bright = (y < 8) == (class == 0);
            image::Luma([if bright { 180 + noise } else { noise }])
        });
        let ext = if i % 5 == 0 { "jpg" } else { "png" };
        img.save(folder.join(format!("img{i:04}.{ext}"))).unwrap();
    }
}

#[test]
fn image_folders_import_build_and_reject_bad_files() {
    let manifest = TINY
        .replace(
            "path = \"data/train\"",
            "path = \"imgs/train\"\nformat = \"images\"",
        )
        .replace(
            "path = \"data/test\"",
            "path = \"imgs/test\"\nformat = \"images\"",
        );
    let (tmp, prog) = tiny_program(&manifest);
    write_image_folder(&prog.join("imgs/train"), 200, 1);
    write_image_folder(&prog.join("imgs/test"), 60, 2);
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let header = anneal_pack::Header::read(&prog.join("target/tiny-0.1.0.anneal")).unwrap();
    assert_eq!(header.metrics.examples, 60);
    assert!(header.metrics.accuracy > 0.9, "{}", header.metrics.accuracy);
    let o = anneal(tmp.path(), &["data", "stats", "-C", "prog", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(stats["counts"]["train"]["1"], 100);

    // A file that claims to be a PNG but is not: a clear error naming it, the store unchanged.
    let bad = tmp.path().join("more");
    write_image_folder(&bad, 4, 3);
    std::fs::write(bad.join("1/broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let before = stdout(&anneal(
        tmp.path(),
        &["data", "status", "-C", "prog", "--json"],
    ));
    let o = anneal(tmp.path(), &["data", "import", "more", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("more/1/broken.png: not a readable PNG or JPEG image"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stdout(&anneal(
            tmp.path(),
            &["data", "status", "-C", "prog", "--json"]
        )),
        before
    );
    // Without the broken file, the folder imports (auto-detected as images) with ids
    // FOLDER:LABEL/NAME.
    std::fs::remove_file(bad.join("1/broken.png")).unwrap();
    let o = anneal(
        tmp.path(),
        &["data", "import", "more", "-C", "prog", "--split", "extra"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = anneal(
        tmp.path(),
        &["data", "label", "more:0/img0002", "1", "-C", "prog"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn push_clone_and_pull_through_a_folder_remote() {
    let (tmp, _prog) = tiny_program(TINY);
    let run = |args: &[&str]| ok(tmp.path(), args);
    run(&[
        "data",
        "import",
        "prog/data/train",
        "-C",
        "prog",
        "--split",
        "train",
    ]);
    let remote = tmp.path().join("shared-remote");
    run(&[
        "data",
        "remote",
        "add",
        "origin",
        remote.to_str().unwrap(),
        "-C",
        "prog",
    ]);
    assert!(run(&["data", "push", "-C", "prog"]).starts_with("pushed main"));
    // A second program folder clones the dataset.
    std::fs::create_dir_all(tmp.path().join("copy")).unwrap();
    std::fs::copy(
        tmp.path().join("prog/anneal.toml"),
        tmp.path().join("copy/anneal.toml"),
    )
    .unwrap();
    assert!(run(&["data", "clone", remote.to_str().unwrap(), "-C", "copy"]).starts_with("cloned "));
    // An edit pushed from the first arrives by pull (fast-forward).
    run(&["data", "label", "train:00000", "1", "-C", "prog"]);
    run(&["data", "push", "-C", "prog"]);
    let out = run(&["data", "pull", "-C", "copy"]);
    assert!(out.contains("fast-forward"), "{out}");
    let a = run(&["data", "status", "-C", "prog", "--json"]);
    let b = run(&["data", "status", "-C", "copy", "--json"]);
    let commit = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["commit"].clone();
    assert_eq!(commit(&a), commit(&b));
    assert!(run(&["data", "fsck", "-C", "copy"]).contains(": 0 problems"));
    let o = anneal(tmp.path(), &["data", "push", "nowhere", "-C", "prog"]);
    assert!(
        stderr(&o).contains("no remote named `nowhere`"),
        "{}",
        stderr(&o)
    );
}

/// `../shared/datasets/NAME` beside the repository, or None (with a message) when absent.
fn shared_dataset(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets")
        .join(name);
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A 44-byte-header mono 16-bit WAV of `n` samples.
fn wav_bytes(n: usize) -> Vec<u8> {
    let data = (n * 2) as u32;
    let mut b = b"RIFF".to_vec();
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    for x in [1u16, 1] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    for x in [8000u32, 16000] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    for x in [2u16, 16] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    b.resize(b.len() + n * 2, 7);
    b
}

#[test]
fn csv_jsonl_and_wav_imports_name_the_bad_line_or_file_and_write_nothing() {
    let (tmp, prog) = tiny_program(TINY);
    let import_err = |source: &str, extra: &[&str]| {
        let mut args = vec!["data", "import", source, "-C", "prog"];
        args.extend_from_slice(extra);
        let o = anneal(tmp.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        assert!(!prog.join(".anneal").exists(), "a store was left behind");
        stderr(&o)
    };
    std::fs::write(
        tmp.path().join("rows.csv"),
        "a,b,label\n1,2,x\n3,4,y\n5,6\n",
    )
    .unwrap();
    let err = import_err("rows.csv", &[]);
    assert_eq!(
        err,
        "error: rows.csv: line 4: 2 fields where the header has 3\n"
    );
    std::fs::write(tmp.path().join("rows.csv"), "a,b,label\n1,2,x\n3,?,y\n").unwrap();
    let err = import_err("rows.csv", &["--features", "a,b"]);
    assert_eq!(
        err,
        "error: rows.csv: line 3, column `b`: expected a number, found `?`\n"
    );
    std::fs::write(
        tmp.path().join("rows.jsonl"),
        "{\"label\": \"x\", \"features\": [1]}\n{\"label\": \"y\", \"features\": 5}\n",
    )
    .unwrap();
    let err = import_err("rows.jsonl", &[]);
    assert_eq!(
        err,
        "error: rows.jsonl: line 2: `features` must be an array of numbers\n"
    );
    std::fs::create_dir_all(tmp.path().join("wavs")).unwrap();
    let mut bad = wav_bytes(10);
    bad[..4].copy_from_slice(b"RIFX");
    std::fs::write(tmp.path().join("wavs/1_ann_0.wav"), bad).unwrap();
    let err = import_err("wavs", &["--pattern", "{label}_{speaker}_{take}.wav"]);
    assert!(
        err.starts_with("error: wavs/1_ann_0.wav: not a readable WAV file"),
        "{err}"
    );
    let err = import_err("wavs", &["--pattern", "{label}{speaker}.wav"]);
    assert!(err.contains("need literal text between them"), "{err}");
    let err = import_err("rows.csv", &["--format", "parquet"]);
    assert!(err.contains("unsupported import format `parquet`"), "{err}");
}

#[test]
fn csv_import_stats_staging_and_json_on_every_verb() {
    let (tmp, _prog) = tiny_program(TINY);
    let run = |args: &[&str]| json_of(&ok(tmp.path(), args));
    std::fs::write(
        tmp.path().join("people.csv"),
        "height, weight, city, label\n1.8, 80, Oslo, a\n1.6, 55, Rome, b\n1.7, 70, Oslo, a\n",
    )
    .unwrap();
    let s = run(&["data", "import", "people.csv", "-C", "prog", "--json"]);
    assert_eq!(s["added"], 3);
    assert_eq!(s["features"], serde_json::json!(["height", "weight"]));
    assert_eq!(s["metadata"], serde_json::json!(["city"]));
    let text = ok(tmp.path(), &["data", "stats", "-C", "prog"]);
    assert!(text.contains("city: 2 values\n  Oslo"), "{text}");
    let stats = run(&["data", "stats", "-C", "prog", "--json"]);
    assert_eq!(stats["meta"]["city"]["Oslo"], 2);

    // Staging: nothing is committed until `commit`.
    let head = run(&["data", "status", "-C", "prog", "--json"])["commit"].clone();
    let staged = run(&[
        "data",
        "label",
        "people:00001",
        "a",
        "--no-commit",
        "-C",
        "prog",
        "--json",
    ]);
    assert_eq!(staged["staged_total"], 1);
    run(&[
        "data",
        "remove",
        "people:00002",
        "--no-commit",
        "-C",
        "prog",
        "--json",
    ]);
    let status = run(&["data", "status", "-C", "prog", "--json"]);
    assert_eq!(status["commit"], head);
    assert_eq!(
        status["staged"],
        serde_json::json!([{"op": "label", "id": "people:00001", "label": "a"},
                           {"op": "remove", "id": "people:00002"}])
    );
    let text = ok(tmp.path(), &["data", "status", "-C", "prog"]);
    assert!(text.contains("2 staged changes"), "{text}");
    let o = anneal(tmp.path(), &["data", "checkout", "main", "-C", "prog"]);
    assert!(stderr(&o).contains("changes are staged"), "{}", stderr(&o));
    let c = run(&["data", "commit", "-m", "fix two", "-C", "prog", "--json"]);
    assert_eq!(c["changes"], 2);
    let stats = run(&["data", "stats", "-C", "prog", "--json"]);
    assert_eq!(stats["counts"]["train"], serde_json::json!({"a": 2}));
    let o = anneal(tmp.path(), &["data", "commit", "-m", "again", "-C", "prog"]);
    assert!(stderr(&o).contains("nothing staged"), "{}", stderr(&o));

    // --json on the other verbs.
    assert_eq!(
        run(&["data", "branch", "side", "-C", "prog", "--json"])["branch"],
        "side"
    );
    let list = run(&["data", "branch", "-C", "prog", "--json"]);
    assert_eq!(list["current"], "main");
    assert_eq!(list["branches"].as_array().unwrap().len(), 2);
    assert_eq!(
        run(&["data", "tag", "v1", "-C", "prog", "--json"])["tag"],
        "v1"
    );
    assert_eq!(
        run(&["data", "tag", "-C", "prog", "--json"])[0]["name"],
        "v1"
    );
    assert_eq!(
        run(&["data", "checkout", "side", "-C", "prog", "--json"])["branch"],
        "side"
    );
    let l = run(&["data", "label", "people:00000", "b", "-C", "prog", "--json"]);
    assert!(l["commit"].is_string(), "{l}");
    run(&["data", "checkout", "main", "-C", "prog", "--json"]);
    let m = run(&["data", "merge", "side", "-C", "prog", "--json"]);
    assert_eq!(m["outcome"], "fast-forward");
    let r = run(&["data", "remove", "people:00000", "-C", "prog", "--json"]);
    assert_eq!(r["changes"], 1);
    let sp = run(&["data", "split", "--test", "0.5", "-C", "prog", "--json"]);
    assert!(sp["moved"].is_u64(), "{sp}");
    let remote = tmp.path().join("remote");
    let remote = remote.to_str().unwrap();
    run(&[
        "data", "remote", "add", "origin", remote, "-C", "prog", "--json",
    ]);
    assert_eq!(
        run(&["data", "remote", "-C", "prog", "--json"])[0]["url"],
        remote
    );
    let p = run(&["data", "push", "-C", "prog", "--json"]);
    assert!(p["pushed"]["objects"].as_u64().unwrap() > 0, "{p}");
    std::fs::create_dir_all(tmp.path().join("copy")).unwrap();
    let c = run(&["data", "clone", remote, "-C", "copy", "--json"]);
    assert_eq!(c["fetched"]["commit"], p["pushed"]["commit"]);
    let pl = run(&["data", "pull", "-C", "copy", "--json"]);
    assert_eq!(pl["merge"]["outcome"], "up-to-date");
    let g = run(&["data", "gc", "-C", "prog", "--json"]);
    assert!(g["kept"].as_u64().unwrap() > 0, "{g}");
}

#[test]
fn import_guesses_the_format_from_the_source() {
    let (tmp, prog) = tiny_program(TINY);
    let import = |source: &str| {
        json_of(&ok(
            tmp.path(),
            &["data", "import", source, "-C", "prog", "--json"],
        ))
    };
    // A .csv file (any case) is CSV, .jsonl and .ndjson are JSONL: no --format needed.
    std::fs::write(tmp.path().join("Plain.CSV"), "a,b,label\n1,2,x\n3,4,y\n").unwrap();
    let s = import("Plain.CSV");
    assert_eq!(
        (s["format"].as_str(), s["added"].as_u64()),
        (Some("csv"), Some(2))
    );
    for name in ["lines.jsonl", "more.ndjson"] {
        std::fs::write(
            tmp.path().join(name),
            "{\"label\": \"x\", \"features\": [1, 2]}\n",
        )
        .unwrap();
        let s = import(name);
        assert_eq!(s["format"], "jsonl", "{name}: {s}");
    }
    // A folder holding .wav files (in label folders) is wav; a folder of images is images.
    std::fs::create_dir_all(tmp.path().join("sounds/7")).unwrap();
    std::fs::write(tmp.path().join("sounds/7/a.wav"), wav_bytes(16)).unwrap();
    assert_eq!(import("sounds")["format"], "wav");
    write_image_folder(&tmp.path().join("pictures"), 4, 0);
    assert_eq!(import("pictures")["format"], "images");
    // Anything else is idx; a file that is not one says how to name its format.
    std::fs::write(tmp.path().join("adult.data"), "a,b,label\n1,2,x\n").unwrap();
    let o = anneal(tmp.path(), &["data", "import", "adult.data", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("adult.data"), "{err}");
    assert!(
        err.contains("guessed as idx") && err.contains("--format csv"),
        "{err}"
    );
    let s = json_of(&ok(
        tmp.path(),
        &[
            "data",
            "import",
            "adult.data",
            "--format",
            "csv",
            "-C",
            "prog",
            "--json",
        ],
    ));
    assert_eq!(s["format"], "csv");
    let stats = json_of(&ok(tmp.path(), &["data", "stats", "-C", "prog", "--json"]));
    assert_eq!(stats["examples"], 2 + 1 + 1 + 1 + 4 + 1, "{stats}");
    assert!(prog.join(".anneal").exists());
}

#[test]
fn diff_and_show_report_metadata_changes() {
    let (tmp, prog) = tiny_program(TINY);
    std::fs::write(
        tmp.path().join("people.csv"),
        "height,city,label\n1.8,Oslo,a\n1.6,Rome,b\n",
    )
    .unwrap();
    let imported = json_of(&ok(
        tmp.path(),
        &["data", "import", "people.csv", "-C", "prog", "--json"],
    ));
    let first = imported["commit"].as_str().unwrap();
    // No verb edits metadata yet; edit it through the store.
    let store = anneal_data::Store::open(&prog).unwrap();
    store
        .update("move ann", |rows| {
            for r in rows.iter_mut().filter(|r| r.id == "people:00000") {
                r.meta = r#"{"city":"Bergen"}"#.into();
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    let d = json_of(&ok(
        tmp.path(),
        &["data", "diff", first, "HEAD", "-C", "prog", "--json"],
    ));
    assert_eq!(
        d["meta_changed"],
        serde_json::json!([{"id": "people:00000", "before": {"city": "Oslo"}, "after": {"city": "Bergen"}}])
    );
    assert_eq!(d["relabeled"], serde_json::json!([]));
    assert_eq!(d["changed"], serde_json::json!([]));
    let text = ok(
        tmp.path(),
        &["data", "diff", first, "HEAD", "-C", "prog", "--stat"],
    );
    assert!(
        text.contains("0 added, 0 removed, 0 relabeled, 1 metadata changed, 0 changed"),
        "{text}"
    );
    let text = ok(tmp.path(), &["data", "show", "-C", "prog"]);
    assert!(
        text.contains("m people:00000 city: Oslo -> Bergen"),
        "{text}"
    );
    let s = json_of(&ok(tmp.path(), &["data", "show", "-C", "prog", "--json"]));
    assert_eq!(s["diff"]["meta_changed"][0]["after"]["city"], "Bergen");
}

#[test]
fn fsdd_import_by_pattern_with_speakers_then_stats_per_speaker_and_gender() {
    let Some(fsdd) = shared_dataset("fsdd") else {
        return;
    };
    let (tmp, _prog) = tiny_program(TINY);
    let rec = fsdd.join("recordings");
    let meta = fsdd.join("speakers.csv");
    let s = json_of(&ok(
        tmp.path(),
        &[
            "data",
            "import",
            rec.to_str().unwrap(),
            "--pattern",
            "{label}_{speaker}_{take}.wav",
            "--meta",
            meta.to_str().unwrap(),
            "-C",
            "prog",
            "--json",
        ],
    ));
    assert_eq!(s["format"], "wav");
    assert_eq!(s["added"], 3000);
    let stats = json_of(&ok(tmp.path(), &["data", "stats", "-C", "prog", "--json"]));
    let speakers = stats["meta"]["speaker"].as_object().unwrap();
    assert_eq!(speakers.len(), 6);
    assert!(speakers.values().all(|n| n == 500), "{speakers:?}");
    assert_eq!(stats["meta"]["gender"]["male"], 3000);
    assert_eq!(stats["meta"]["accent"]["USA/neutral"], 1000);
    assert_eq!(stats["counts"]["train"]["7"], 300);
}

#[test]
fn adult_csv_import_keeps_categorical_columns_as_metadata() {
    let Some(adult) = shared_dataset("adult") else {
        return;
    };
    let (tmp, _prog) = tiny_program(TINY);
    let data = adult.join("adult.data");
    let text = ok(
        tmp.path(),
        &[
            "data",
            "import",
            data.to_str().unwrap(),
            "--format",
            "csv",
            "--label-column",
            "Y",
            "-C",
            "prog",
        ],
    );
    assert!(
        text.contains("imported 32561 examples (6 features, split train)"),
        "{text}"
    );
    assert!(
        text.contains(
            "features: age, fnlwgt, education-num, capital-gain, capital-loss, hours-per-week"
        ),
        "{text}"
    );
    let stats = json_of(&ok(tmp.path(), &["data", "stats", "-C", "prog", "--json"]));
    let sex = &stats["meta"]["sex"];
    assert_eq!(
        sex["Female"].as_u64().unwrap() + sex["Male"].as_u64().unwrap(),
        32561
    );
    assert!(stats["counts"]["train"]["<=50K"].as_u64().unwrap() > 20000);
}

/// RELIABILITY.md 12a: a client holding a half-sent body cannot keep the server from exiting
/// after SIGTERM; past `--shutdown-timeout-ms` its connection is dropped.
#[test]
fn serve_exits_by_the_shutdown_deadline_while_a_client_holds_half_a_body() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let (tmp, prog) = tiny_program(TINY);
    ok(tmp.path(), &["build", "-C", "prog"]);
    let package = prog.join("target/tiny-0.1.0.anneal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_anneal"))
        .args(["serve", package.to_str().unwrap(), "--port", "0"])
        .args(["--shutdown-timeout-ms", "500", "--body-timeout-ms", "60000"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("serving") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "exited before serving"
        );
    }
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    let mut client = std::net::TcpStream::connect(&addr).unwrap();
    client
        .write_all(b"POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inputs\": [")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the request reaches its handler
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("still running 10 s after SIGTERM with a 500 ms shutdown deadline");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("stopped"), "{rest}");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = client.read_to_end(&mut buf);
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
}

#[test]
fn serve_refuses_limits_it_cannot_work_with() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, message) in [
        (
            &["--reserved-connections", "8", "--max-connections", "8"][..],
            "--reserved-connections (8) must be below --max-connections (8)",
        ),
        (
            &["--body-memory", "1000", "--max-body", "2000"][..],
            "--body-memory (1000) is below --max-body (2000)",
        ),
        (&["--header-timeout-ms", "0"][..], "must be at least 1"),
    ] {
        let o = anneal(tmp.path(), &[&["serve", "x.anneal"][..], args].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn queue_verbs_rank_the_last_build_and_keep_reviewed_labels() {
    let (tmp, prog) = tiny_program(TINY);
    let o = anneal(tmp.path(), &["queue", "mislabeled", "-C", "prog"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no build report at prog/target/tiny-0.1.0.report.json"));
    assert!(
        stderr(&o).contains("hint: run `anneal build` first"),
        "{}",
        stderr(&o)
    );
    ok(
        tmp.path(),
        &[
            "data",
            "import",
            "prog/data/train",
            "--split",
            "train",
            "-C",
            "prog",
        ],
    );
    ok(
        tmp.path(),
        &[
            "data",
            "import",
            "prog/data/test",
            "--split",
            "test",
            "-C",
            "prog",
        ],
    );
    ok(
        tmp.path(),
        &["data", "label", "train:00003", "0", "-C", "prog"],
    );
    write_idx(&prog.join("data"), "pool", 100, 3);
    ok(
        tmp.path(),
        &[
            "data",
            "import",
            "prog/data/pool",
            "--unlabeled",
            "-C",
            "prog",
        ],
    );
    ok(tmp.path(), &["build", "-C", "prog"]);
    let q = json_of(&ok(
        tmp.path(),
        &["queue", "mislabeled", "-C", "prog", "--top", "3", "--json"],
    ));
    assert_eq!(q["examples"], 400);
    assert_eq!(q["suspects"][0]["id"], "train:00003", "{q}");
    assert_eq!(q["suspects"][0]["suggested"], "1");
    let out = ok(tmp.path(), &["queue", "keep", "train:00003", "-C", "prog"]);
    assert_eq!(out.trim(), "kept 1 labels (1 kept in all)");
    let q = json_of(&ok(
        tmp.path(),
        &["queue", "mislabeled", "-C", "prog", "--json"],
    ));
    assert!(
        !q["suspects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "train:00003")
    );
    let u = json_of(&ok(
        tmp.path(),
        &["queue", "uncertain", "-C", "prog", "--top", "10", "--json"],
    ));
    assert_eq!(
        (
            u["pool"].as_u64(),
            u["candidates"].as_array().unwrap().len()
        ),
        (Some(100), 10)
    );
    let o = anneal(tmp.path(), &["queue", "keep", "nope", "-C", "prog"]);
    assert!(
        stderr(&o).contains("no example \"nope\" at HEAD"),
        "{}",
        stderr(&o)
    );
}
