//! Hostile and careless use of the binary (issue 10): each test failed before its fix.

use super::*;

/// A program folder with its data imported (one commit per source).
fn imported() -> (TempDir, PathBuf) {
    let (tmp, prog) = tiny_program(TINY);
    for (src, split) in [("prog/data/train", "train"), ("prog/data/test", "test")] {
        ok(
            tmp.path(),
            &["data", "import", src, "--split", split, "-C", "prog"],
        );
    }
    (tmp, prog)
}

/// Wait for `child`, failing the test if it has not ended within a minute (it used to block).
fn wait_briefly(mut child: std::process::Child) -> Output {
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("anneal blocked for a minute");
}

/// Run anneal in `cwd`, failing the test if it has not ended within a minute.
fn run_briefly(cwd: &Path, args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_anneal"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_briefly(child)
}

#[cfg(unix)]
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (tmp, _) = imported();
    let log = json_of(&ok(tmp.path(), &["data", "log", "-C", "prog", "--json"]));
    let first = log[1]["commit"].as_str().unwrap().to_string();
    for verb in [
        &["data", "log"][..],
        &["data", "show"],
        &["data", "diff", &first],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_anneal"))
            .args(verb)
            .args(["-C", "prog"])
            .current_dir(tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // `| head -0`: the reader is gone before anything is written
        let o = wait_briefly(child);
        assert_ne!(
            o.status.code(),
            Some(101),
            "{verb:?} panicked: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{verb:?}: {}", stderr(&o));
        let quiet = o.status.signal() == Some(13) || o.status.success();
        assert!(quiet, "{verb:?}: {:?} {}", o.status, stderr(&o));
    }
}

#[test]
fn reset_hard_moves_the_branch_back_and_says_how_to_undo() {
    let (tmp, _) = imported();
    let run = |args: &[&str]| ok(tmp.path(), args);
    let log = json_of(&run(&["data", "log", "-C", "prog", "--json"]));
    let first = log[0]["commit"].as_str().unwrap().to_string();
    run(&["data", "label", "train:00003", "0", "-C", "prog"]);
    run(&[
        "data",
        "label",
        "train:00004",
        "1",
        "--no-commit",
        "-C",
        "prog",
    ]);
    let out = run(&["data", "reset", "--hard", &first[..12], "-C", "prog"]);
    assert!(
        out.starts_with("dropped 1 staged change\nbranch main is now at "),
        "{out}"
    );
    let undo = out
        .split("undo with `")
        .nth(1)
        .unwrap()
        .trim_end()
        .trim_end_matches("`)");
    let status = json_of(&run(&["data", "status", "-C", "prog", "--json"]));
    assert_eq!(status["commit"], first.as_str());
    let args: Vec<&str> = undo
        .split(' ')
        .skip(1)
        .chain(["-C", "prog", "--json"])
        .collect();
    let back = json_of(&run(&args));
    assert_eq!(back["moved"]["from"], first.as_str());
    assert_eq!(back["dropped"], serde_json::json!({"changes": 0}));
    let log = json_of(&run(&["data", "log", "-C", "prog", "--json"]));
    assert_eq!(log.as_array().unwrap().len(), 3);
}

#[test]
fn a_corrupt_index_is_dropped_by_reset() {
    let (tmp, prog) = imported();
    std::fs::write(prog.join(".anneal/index"), "not json").unwrap();
    let o = anneal(tmp.path(), &["data", "status", "-C", "prog"]);
    assert!(!o.status.success());
    let out = ok(tmp.path(), &["data", "reset", "-C", "prog"]);
    assert_eq!(out, "dropped an index that could not be read\n");
    ok(tmp.path(), &["data", "status", "-C", "prog"]);
}

#[cfg(unix)]
#[test]
fn a_manifest_that_is_a_fifo_is_refused_not_read() {
    let (tmp, prog) = tiny_program(TINY);
    std::fs::remove_file(prog.join("anneal.toml")).unwrap();
    let made = Command::new("mkfifo")
        .arg(prog.join("anneal.toml"))
        .status();
    assert!(made.unwrap().success());
    let o = run_briefly(tmp.path(), &["check", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
}

#[test]
fn a_manifest_of_megabytes_is_refused() {
    let (tmp, prog) = tiny_program(TINY);
    let padding = format!("{TINY}\n{}", "# padding\n".repeat(200_000));
    std::fs::write(prog.join("anneal.toml"), padding).unwrap();
    let o = anneal(tmp.path(), &["check", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("larger than 1048576 bytes"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_declared_source_that_fails_imports_none_of_them() {
    let (tmp, prog) = tiny_program(TINY);
    let test_images = prog.join("data/test-images-idx3-ubyte");
    let saved = std::fs::read(&test_images).unwrap();
    std::fs::remove_file(&test_images).unwrap();
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("declared sources"), "{}", stderr(&o));
    assert_nothing_written(&prog);
    std::fs::write(&test_images, saved).unwrap();
    let out = ok(tmp.path(), &["build", "-C", "prog"]);
    assert!(out.contains("on 100 examples"), "{out}");
}

#[test]
fn an_empty_test_split_is_an_error_not_a_zero_accuracy() {
    let (tmp, _) = imported();
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = std::fs::read_to_string(tmp.path().join("prog/anneal.toml")).unwrap();
    let edited = manifest.replace("[data]\n", "[data]\ntest-split = \"nothing\"\n");
    std::fs::write(tmp.path().join("prog/anneal.toml"), edited).unwrap();
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no labelled examples in split `nothing`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_fresh_build_restores_a_lost_lock_and_rebuilds_a_lost_report() {
    let (tmp, prog) = tiny_program(TINY);
    ok(tmp.path(), &["build", "-C", "prog"]);
    let lock = std::fs::read_to_string(prog.join("anneal.lock")).unwrap();
    std::fs::remove_file(prog.join("anneal.lock")).unwrap();
    assert!(ok(tmp.path(), &["build", "-C", "prog"]).starts_with("fresh"));
    assert_eq!(
        std::fs::read_to_string(prog.join("anneal.lock")).unwrap(),
        lock
    );
    let report = prog.join("target/tiny-0.1.0.report.json");
    std::fs::remove_file(&report).unwrap();
    assert!(ok(tmp.path(), &["build", "-C", "prog"]).starts_with("built"));
    assert!(report.is_file());
}

#[cfg(unix)]
#[test]
fn predict_refuses_fifos_for_the_package_and_the_inputs() {
    let (tmp, prog) = tiny_program(TINY);
    ok(tmp.path(), &["build", "-C", "prog"]);
    for name in ["f.png", "f.anneal"] {
        let made = Command::new("mkfifo").arg(prog.join(name)).status();
        assert!(made.unwrap().success());
    }
    for args in [
        ["predict", "prog/target/tiny-0.1.0.anneal", "prog/f.png"],
        ["predict", "prog/f.anneal", "prog/f.png"],
    ] {
        let o = run_briefly(tmp.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    }
}
