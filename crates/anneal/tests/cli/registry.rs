//! Sharing through real OCI registries: Debian's Distribution 2.8 (`docker-registry`), which
//! `.ci/run` starts on loopback, one anonymous (`ANNEAL_TEST_REGISTRY`) and one with htpasswd
//! auth (`ANNEAL_TEST_REGISTRY_AUTH`, `ANNEAL_TEST_REGISTRY_USER`,
//! `ANNEAL_TEST_REGISTRY_PASSWORD`). Without them these tests say they skipped.
//!
//! Each test has its own cache, config and home folders, and its own repository.

use std::io::Write;

use anneal_registry::{Access, Client, Digest, Reference};

use super::*;

/// The folders a test runs anneal with: cache, config, home, Docker config.
struct Home {
    tmp: TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_anneal"));
        c.args(args).current_dir(cwd);
        c.env("ANNEAL_CACHE_DIR", self.path("cache"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("HOME", self.path("home"))
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("SOURCE_DATE_EPOCH", "1764000000");
        for k in [
            "ANNEAL_REGISTRY_USER",
            "ANNEAL_REGISTRY_PASSWORD",
            "ANNEAL_REGISTRY_TOKEN",
            "XDG_CACHE_HOME",
        ] {
            c.env_remove(k);
        }
        c
    }

    fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        self.command(cwd, args).output().unwrap()
    }

    fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let o = self.run(cwd, args);
        assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
        stdout(&o)
    }

    fn fails(&self, cwd: &Path, args: &[&str]) -> String {
        let o = self.run(cwd, args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        stderr(&o)
    }
}

/// The registry in `var`, or `None` after saying the test skipped.
fn registry(var: &str) -> Option<String> {
    let found = std::env::var(var).ok().filter(|v| !v.is_empty());
    if found.is_none() {
        eprintln!(
            "skipped: set {var}=127.0.0.1:PORT to run against a registry (.ci/run starts Debian's docker-registry)"
        );
    }
    found
}

/// A repository no other test or run uses.
fn fresh_repository(registry: &str, what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{registry}/anneal-test/{what}-{nanos}-{}",
        std::process::id()
    )
}

/// The tiny program built in `tmp/NAME` at `version`.
fn built(home: &Home, tmp: &Path, name: &str, version: &str) -> PathBuf {
    let prog = tmp.join(name);
    std::fs::create_dir_all(prog.join("data")).unwrap();
    let manifest = TINY
        .replace("name = \"tiny\"", &format!("name = \"{name}\""))
        .replace("0.1.0", version);
    std::fs::write(prog.join("anneal.toml"), manifest).unwrap();
    write_idx(&prog.join("data"), "train", 400, 1);
    write_idx(&prog.join("data"), "test", 100, 2);
    home.ok(tmp, &["build", "-C", name]);
    prog
}

fn set_version(prog: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(prog.join("anneal.toml")).unwrap();
    std::fs::write(
        prog.join("anneal.toml"),
        text.replace(
            &format!("version = \"{from}\""),
            &format!("version = \"{to}\""),
        ),
    )
    .unwrap();
}

fn lock_value(prog: &Path, key: &str) -> String {
    let lock = std::fs::read_to_string(prog.join("anneal.lock")).unwrap();
    let line = lock
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap();
    line.split('"').nth(1).unwrap().to_string()
}

#[test]
fn publish_add_fetch_and_a_new_version_that_sends_no_weights() {
    let Some(reg) = registry("ANNEAL_TEST_REGISTRY") else {
        return;
    };
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let repo = fresh_repository(&reg, "digits");
    let prog = built(&home, tmp.path(), "feat", "0.1.0");
    let first = home.ok(tmp.path(), &["publish", "-C", "feat", &repo]);
    assert!(
        first.contains("  weights ") && !first.contains("skipped"),
        "{first}"
    );
    let again = home.ok(
        tmp.path(),
        &["publish", "-C", "feat", &format!("{repo}:0.1.0")],
    );
    assert!(again.starts_with("already published"), "{again}");
    set_version(&prog, "0.1.0", "0.1.1");
    home.ok(tmp.path(), &["build", "-C", "feat"]);
    let bumped: serde_json::Value =
        json_of(&home.ok(tmp.path(), &["publish", "-C", "feat", &repo, "--json"]));
    assert_eq!(bumped["blobs"][1]["what"], "weights");
    assert_eq!(bumped["blobs"][1]["sent"], false, "{bumped}");
    assert_eq!(
        bumped["bytes_sent"].as_u64().unwrap(),
        bumped["blobs"][0]["size"].as_u64().unwrap() + manifest_size(&repo, "0.1.1")
    );

    let user = built(&home, tmp.path(), "user", "0.1.0");
    let added = home.ok(
        tmp.path(),
        &[
            "add",
            "-C",
            "user",
            &format!("{repo}@^0.1"),
            "--name",
            "feat",
            "--json",
        ],
    );
    let added = json_of(&added);
    assert_eq!(added["version"], "0.1.1");
    let manifest = std::fs::read_to_string(user.join("anneal.toml")).unwrap();
    assert!(
        manifest.ends_with(&format!(
            "[dependencies]\nfeat = {{ oci = \"{}\", version = \"^0.1\" }}\n",
            repo
        )),
        "{manifest}"
    );
    let package = PathBuf::from(added["package"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&package).unwrap(),
        std::fs::read(prog.join("target/feat-0.1.1.anneal")).unwrap()
    );
    assert_eq!(
        lock_value(&user, "manifest"),
        added["manifest"].as_str().unwrap()
    );
    // A build keeps the dependency in the lock.
    home.ok(tmp.path(), &["build", "-C", "user"]);
    assert_eq!(
        lock_value(&user, "weights"),
        added["weights"].as_str().unwrap()
    );
    assert!(
        home.ok(tmp.path(), &["fetch", "-C", "user"])
            .ends_with(": cached, verified\n")
    );
    // A dependency no longer declared leaves the lock at the next fetch.
    let declared = std::fs::read_to_string(user.join("anneal.toml")).unwrap();
    let undeclared = declared.split("\n[dependencies]").next().unwrap();
    std::fs::write(user.join("anneal.toml"), undeclared).unwrap();
    assert_eq!(
        home.ok(tmp.path(), &["fetch", "-C", "user"]),
        "no dependencies\n"
    );
    let lock = std::fs::read_to_string(user.join("anneal.lock")).unwrap();
    assert!(!lock.contains("[[dependency]]"), "{lock}");
    std::fs::write(user.join("anneal.toml"), &declared).unwrap();
    assert!(
        home.ok(tmp.path(), &["fetch", "-C", "user"])
            .contains(": locked, ")
    );

    // A corrupt cached blob is dropped and fetched again by digest.
    let weights = Digest::parse(added["weights"].as_str().unwrap()).unwrap();
    let blob = home
        .path("cache")
        .join("oci/blobs/sha256")
        .join(weights.hex());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&blob)
        .unwrap()
        .write_all(b"x")
        .unwrap();
    let fetched = home.ok(tmp.path(), &["fetch", "-C", "user"]);
    assert!(fetched.contains("bytes downloaded, verified"), "{fetched}");
    assert_eq!(Digest::of_file(&blob).unwrap(), weights);

    // The tag of 0.1.1 moved (the registry lets it; anneal never does): `add` refuses,
    // naming both manifests; `fetch` goes by digest and does not care.
    let old = Reference::parse(&repo).unwrap();
    let client = Client::new(&old, Access::Push, None, false).unwrap();
    let (bytes, moved_to) = client.manifest("0.1.0").unwrap().unwrap();
    client.put_manifest("0.1.1", &bytes).unwrap();
    let e = home.fails(
        tmp.path(),
        &[
            "add",
            "-C",
            "user",
            &format!("{repo}@^0.1"),
            "--name",
            "feat",
        ],
    );
    assert!(e.contains(&format!("tag `{}:0.1.1` moved: anneal.lock pins manifest {} for version 0.1.1, the registry now has {moved_to}", old, added["manifest"].as_str().unwrap())), "{e}");
    assert!(
        home.ok(tmp.path(), &["fetch", "-C", "user"])
            .ends_with(": cached, verified\n")
    );
    // And publishing 0.1.1 again is refused: the tag names other content now.
    let e = home.fails(tmp.path(), &["publish", "-C", "feat", &repo]);
    assert!(
        e.contains(&format!(
            "`{old}:0.1.1` already exists with manifest {moved_to}"
        )),
        "{e}"
    );
    assert!(e.contains("versions are never overwritten"), "{e}");
}

/// The size of the manifest at `tag`.
fn manifest_size(repo: &str, tag: &str) -> u64 {
    let client = Client::new(&Reference::parse(repo).unwrap(), Access::Pull, None, false).unwrap();
    client.manifest(tag).unwrap().unwrap().0.len() as u64
}

#[test]
fn a_lock_edited_by_hand_is_refused_and_nothing_is_cached() {
    let Some(reg) = registry("ANNEAL_TEST_REGISTRY") else {
        return;
    };
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let repo = fresh_repository(&reg, "locked");
    built(&home, tmp.path(), "feat", "0.2.0");
    home.ok(tmp.path(), &["publish", "-C", "feat", &repo]);
    let user = built(&home, tmp.path(), "user", "0.1.0");
    home.ok(tmp.path(), &["add", "-C", "user", &format!("{repo}@0.2")]);
    let name = lock_value(&user, "name");
    let lock = std::fs::read_to_string(user.join("anneal.lock")).unwrap();
    let weights = lock_value(&user, "weights");
    let other = Digest::of(b"other weights");
    std::fs::write(
        user.join("anneal.lock"),
        lock.replace(&weights, other.as_str()),
    )
    .unwrap();
    std::fs::remove_dir_all(home.path("cache")).unwrap();
    let e = home.fails(tmp.path(), &["fetch", "-C", "user"]);
    assert!(
        e.contains(&format!("dependency `{name}`: manifest ")),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "has weights {weights}, but anneal.lock says {other}"
        )),
        "{e}"
    );
    assert!(e.contains("hint: anneal.lock was edited by hand"), "{e}");
    assert!(
        !home
            .path("cache")
            .join("oci/blobs/sha256")
            .join(other.hex())
            .exists()
    );
    std::fs::write(
        user.join("anneal.lock"),
        lock.replace("version = \"0.2.0\"", "version = \"two\""),
    )
    .unwrap();
    let e = home.fails(tmp.path(), &["fetch", "-C", "user"]);
    assert!(
        e.contains("anneal.lock:11: `version = \"two\"`: not a version"),
        "{e}"
    );
    let e = home.fails(tmp.path(), &["build", "-C", "user"]);
    assert!(e.contains("anneal.lock:11: `version = \"two\"`"), "{e}");
}

#[test]
fn foreign_artifacts_and_unreachable_registries_are_named() {
    let Some(reg) = registry("ANNEAL_TEST_REGISTRY") else {
        return;
    };
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let user = built(&home, tmp.path(), "user", "0.1.0");
    let before = std::fs::read_to_string(user.join("anneal.toml")).unwrap();
    let repo = fresh_repository(&reg, "foreign");
    let client = Client::new(&Reference::parse(&repo).unwrap(), Access::Push, None, false).unwrap();
    let (config, layer) = (b"{}".to_vec(), b"hello".to_vec());
    client.push_bytes(&config, &Digest::of(&config)).unwrap();
    client.push_bytes(&layer, &Digest::of(&layer)).unwrap();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.unknown.config.v1+json", "digest": Digest::of(&config).to_string(), "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": Digest::of(&layer).to_string(), "size": 5}]});
    client
        .put_manifest("1.0.0", manifest.to_string().as_bytes())
        .unwrap();
    let e = home.fails(tmp.path(), &["add", "-C", "user", &repo]);
    assert!(e.contains(&format!("`{repo}:1.0.0` is not an anneal package: it has no artifact type and its config type is `application/vnd.unknown.config.v1+json`")), "{e}");
    let e = home.fails(tmp.path(), &["add", "-C", "user", "127.0.0.1:1/team/x@^1"]);
    assert!(
        e.contains("cannot reach registry `127.0.0.1:1`") && e.contains("Connection refused"),
        "{e}"
    );
    let e = home.fails(tmp.path(), &["add", "-C", "user", &format!("{repo}@^2")]);
    assert!(
        e.contains("has no version matching `^2` (versions: 1.0.0)"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(user.join("anneal.toml")).unwrap(),
        before
    );
    assert!(
        !std::fs::read_to_string(user.join("anneal.lock"))
            .unwrap()
            .contains("[[dependency]]")
    );
}

#[test]
fn an_htpasswd_registry_takes_logged_in_or_environment_credentials() {
    let Some(reg) = registry("ANNEAL_TEST_REGISTRY_AUTH") else {
        return;
    };
    let user = std::env::var("ANNEAL_TEST_REGISTRY_USER").unwrap();
    let password = std::env::var("ANNEAL_TEST_REGISTRY_PASSWORD").unwrap();
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let repo = fresh_repository(&reg, "private");
    let prog = built(&home, tmp.path(), "feat", "0.1.0");
    let e = home.fails(tmp.path(), &["publish", "-C", "feat", &repo]);
    assert!(e.contains(&format!("registry `{reg}` refused access to `{}` (401 unauthorized): no credentials were found for it", &repo[reg.len() + 1..])), "{e}");
    assert!(
        e.contains(&format!("hint: run `anneal login {reg}`")),
        "{e}"
    );
    let login = |pw: &str| {
        let mut c = home.command(
            tmp.path(),
            &["login", &reg, "--username", &user, "--password-stdin"],
        );
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{pw}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let bad = login("wrong");
    assert!(
        stderr(&bad).contains(&format!(
            "registry `{reg}` rejected the credentials of `{user}`; nothing was stored"
        )),
        "{}",
        stderr(&bad)
    );
    let good = login(&password);
    assert!(good.status.success(), "{}", stderr(&good));
    let file = home.path("config").join("anneal/credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !std::fs::read_to_string(&file).unwrap().contains(&password),
        "kept in clear"
    );
    home.ok(tmp.path(), &["publish", "-C", "feat", &repo]);
    for entry in walk(tmp.path()) {
        let text = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(&password),
            "{} holds the password",
            entry.display()
        );
    }
    // Another user, with the credentials in the environment only.
    let other = Home::new();
    built(&other, tmp.path(), "user", "0.1.0");
    let mut add = other.command(tmp.path(), &["add", "-C", "user", &repo]);
    let o = add
        .env("ANNEAL_REGISTRY_USER", &user)
        .env("ANNEAL_REGISTRY_PASSWORD", &password)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let added = std::fs::read(
        other
            .path("cache")
            .join("oci/packages")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert_eq!(
        added,
        std::fs::read(prog.join("target/feat-0.1.0.anneal")).unwrap()
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

/// A Docker credential helper `docker-credential-annealtest` in `dir`: `get` answers for
/// `registry` only ("credentials not found" otherwise), `store` keeps its input in `dir/stored`.
fn credential_helper(dir: &Path, registry: &str, user: &str, password: &str) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        "#!/bin/sh\nread line\ncase \"$1\" in\nget) if [ \"$line\" = \"{registry}\" ]; then printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$line\"; else echo 'credentials not found in native keychain'; exit 1; fi;;\nstore) echo \"$line\" > \"{}\";;\nesac\n",
        dir.join("stored").display()
    );
    let path = dir.join("docker-credential-annealtest");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn docker_credential_helpers_give_and_keep_credentials() {
    let Some(reg) = registry("ANNEAL_TEST_REGISTRY_AUTH") else {
        return;
    };
    let user = std::env::var("ANNEAL_TEST_REGISTRY_USER").unwrap();
    let password = std::env::var("ANNEAL_TEST_REGISTRY_PASSWORD").unwrap();
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let bin = home.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(home.path("docker")).unwrap();
    credential_helper(&bin, &reg, &user, &password);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let config = |c: serde_json::Value| {
        std::fs::write(home.path("docker/config.json"), c.to_string()).unwrap()
    };
    built(&home, tmp.path(), "feat", "0.1.0");
    let repo = fresh_repository(&reg, "helper");
    config(serde_json::json!({"credHelpers": {reg.clone(): "annealtest"}}));
    let o = home
        .command(tmp.path(), &["publish", "-C", "feat", &repo])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // `credsStore` for every registry; the helper has none for this one: no credentials.
    config(serde_json::json!({"credsStore": "annealtest"}));
    credential_helper(&bin, "elsewhere:1", &user, &password);
    let o = home
        .command(tmp.path(), &["add", "-C", "feat", &repo])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("(401 unauthorized): no credentials were found for it"),
        "{}",
        stderr(&o)
    );
    // `login` stores through the configured helper, not in a file.
    let mut login = home.command(
        tmp.path(),
        &["login", &reg, "-u", &user, "--password-stdin"],
    );
    let mut child = login
        .env("PATH", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        stdout(&o).contains("credentials kept in docker-credential-annealtest"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let stored: serde_json::Value = json_of(&std::fs::read_to_string(bin.join("stored")).unwrap());
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": reg, "Username": user, "Secret": password})
    );
    assert!(!home.path("config/anneal/credentials.json").exists());
}

#[test]
fn a_bearer_registry_is_spoken_to_through_its_token_service() {
    let Some(reg) = registry("ANNEAL_TEST_REGISTRY_BEARER") else {
        return;
    };
    let user = std::env::var("ANNEAL_TEST_REGISTRY_USER").unwrap();
    let password = std::env::var("ANNEAL_TEST_REGISTRY_PASSWORD").unwrap();
    let log = PathBuf::from(std::env::var("ANNEAL_TEST_TOKEN_LOG").unwrap());
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let repo = fresh_repository(&reg, "bearer");
    let path = &repo[reg.len() + 1..];
    built(&home, tmp.path(), "feat", "0.1.0");
    let e = home.fails(tmp.path(), &["publish", "-C", "feat", &repo]);
    assert!(e.contains(&format!("registry `{reg}` refused access to `{path}` (401 unauthorized): no credentials were found for it")), "{e}");
    let with_credentials = |args: &[&str]| {
        let o = home
            .command(tmp.path(), args)
            .env("ANNEAL_REGISTRY_USER", &user)
            .env("ANNEAL_REGISTRY_PASSWORD", &password)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    with_credentials(&["publish", "-C", "feat", &repo]);
    built(&home, tmp.path(), "user", "0.1.0");
    with_credentials(&["add", "-C", "user", &repo]);
    let asked: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(json_of)
        .filter(|l| l["scope"].to_string().contains(path))
        .collect();
    let push = serde_json::json!(format!("repository:{path}:pull,push"));
    let pull = serde_json::json!([format!("repository:{path}:pull")]);
    let asks_push = |l: &serde_json::Value| l["scope"].as_array().unwrap().contains(&push);
    assert!(
        asked.iter().any(|l| l["ok"] == true
            && asks_push(l)
            && l["service"] == serde_json::json!(["anneal-test"])),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|l| l["ok"] == true && l["scope"] == pull),
        "add asks for pull only: {asked:?}"
    );
}

/// The tensors of a package file, by name.
fn tensors(package: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    let p = anneal_pack::Package::read(package).unwrap();
    p.weights.into_iter().map(|t| (t.name, t.data)).collect()
}

#[test]
fn a_published_package_reused_frozen_keeps_its_weights_and_is_named_in_the_lineage() {
    let Some(reg) = registry("ANNEAL_TEST_REGISTRY") else {
        return;
    };
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let feats = built(&home, tmp.path(), "feats", "0.1.0");
    let repo = fresh_repository(&reg, "feats");
    home.ok(
        tmp.path(),
        &["publish", "-C", "feats", &format!("{repo}:0.1.0")],
    );
    let user = tmp.path().join("user");
    std::fs::create_dir_all(user.join("data")).unwrap();
    let manifest = TINY.replace("name = \"tiny\"", "name = \"user\"").replace(
        r#"["flatten", "dense 16", "relu", "dense 2", "softmax"]"#,
        r#"["use feats frozen upto 3", "dense 2"]"#,
    );
    std::fs::write(user.join("anneal.toml"), manifest).unwrap();
    write_idx(&user.join("data"), "train", 400, 3);
    write_idx(&user.join("data"), "test", 100, 4);
    // Before `anneal add`, the use line names an undeclared dependency.
    let e = home.fails(tmp.path(), &["check", "-C", "user"]);
    assert!(
        e.contains("`use feats` names no dependency declared in [dependencies]"),
        "{e}"
    );
    assert!(
        e.contains("anneal add HOST/REPOSITORY@VERSION --name feats"),
        "{e}"
    );
    let add = ["add", "-C", "user", "--name", "feats"];
    home.ok(tmp.path(), &[&add[..], &[&format!("{repo}@^0.1")]].concat());
    let check = home.ok(tmp.path(), &["check", "-C", "user"]);
    assert!(
        check.contains("layers 0-2 are `use feats frozen upto 3`"),
        "{check}"
    );
    let built = json_of(
        home.ok(tmp.path(), &["build", "-C", "user", "--json"])
            .lines()
            .last()
            .unwrap(),
    );
    let package = tmp.path().join(built["package"].as_str().unwrap());
    let header = anneal_pack::Header::read(&package).unwrap();
    let parent = &header.lineage.parents[0];
    assert!(
        parent.starts_with(&format!("feats=oci://{repo}:0.1.0@sha256:")),
        "{parent}"
    );
    assert_eq!(
        parent.rsplit('@').next(),
        Some(lock_value(&user, "manifest").as_str())
    );
    let (ours, theirs) = (
        tensors(&package),
        tensors(&feats.join("target/feats-0.1.0.anneal")),
    );
    for name in ["layers.1.weight", "layers.1.bias"] {
        assert_eq!(ours[name], theirs[name], "{name}");
    }
    let o = home.run(tmp.path(), &["test", "-C", "user"]);
    assert!(
        o.status.success() && !stderr(&o).contains("stale"),
        "{}",
        stderr(&o)
    );
    let again = json_of(
        home.ok(tmp.path(), &["build", "-C", "user", "--json"])
            .lines()
            .last()
            .unwrap(),
    );
    assert_eq!(again["fresh"], true);
    // A cut past the dependency's layers is refused, naming it.
    let text = std::fs::read_to_string(user.join("anneal.toml")).unwrap();
    std::fs::write(user.join("anneal.toml"), text.replace("upto 3", "upto 7")).unwrap();
    let e = home.fails(tmp.path(), &["build", "-C", "user"]);
    assert!(
        e.contains("dependency `feats`") && e.contains("has 4 layers"),
        "{e}"
    );
}
