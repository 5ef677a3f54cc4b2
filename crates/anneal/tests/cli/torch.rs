//! `anneal build --engine torch` when the PyTorch job goes wrong: a torchrun that fails and a
//! job killed mid-run are errors naming the job's log, and no package is written. (Skipped
//! without a `python3` that imports torch; the happy path is tests/peer/check_torch.py.)

use std::os::unix::fs::PermissionsExt;

use super::*;

fn torch() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import torch, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 cannot import torch and safetensors");
    }
    ok
}

/// A Python that answers anneal's version probe and is killed (SIGKILL) when it trains.
fn killed_python(dir: &Path) -> PathBuf {
    let path = dir.join("python-killed");
    let script = "#!/bin/sh\nif [ \"$1\" = -c ]; then exec python3 \"$@\"; fi\nkill -9 $$\n";
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_failing_or_killed_torch_job_writes_no_package() {
    if !torch() {
        return;
    }
    let (tmp, prog) = tiny_program(TINY);
    let args = [
        "build", "-C", "prog", "--engine", "torch", "--nproc", "2", "--device", "cpu",
    ];
    let o = anneal(tmp.path(), &[&args[..], &["--", "--no-such-flag"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the PyTorch job failed") && stderr(&o).contains("train.log"),
        "{}",
        stderr(&o)
    );
    let package = prog.join("target/tiny-0.1.0.anneal");
    assert!(!package.exists() && !prog.join("anneal.lock").exists());
    let python = killed_python(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_anneal"))
        .args([
            "build", "-C", "prog", "--engine", "torch", "--device", "cpu",
        ])
        .current_dir(tmp.path())
        .env("ANNEAL_PYTHON", &python)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("signal: 9"), "{}", stderr(&o));
    assert!(!package.exists());
    // --nproc and torchrun flags belong to --engine torch.
    let o = anneal(tmp.path(), &["build", "-C", "prog", "--nproc", "2"]);
    assert!(
        stderr(&o).contains("--nproc, --device and torchrun flags are for --engine torch"),
        "{}",
        stderr(&o)
    );
}
