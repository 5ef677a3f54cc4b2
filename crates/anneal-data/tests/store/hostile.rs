//! Hostile and careless input: one regression test per hole found by the probe of issue 10,
//! each shown to fail before its fix.

use std::io::Write;

use anneal_data::import::{Format, NoProgress, import};
use anneal_data::object::Table;
use anneal_data::stage::Dropped;
use anneal_data::tables::Change;

use super::*;

fn label(id: &str, l: &str) -> Change {
    Change::Label {
        id: id.into(),
        label: Some(l.into()),
    }
}

fn label_at_head(store: &Store, id: &str) -> Option<String> {
    let head = store.head().unwrap().unwrap();
    let table = store.table(&store.commit_object(&head).unwrap()).unwrap();
    store.lookup(&table, &[id]).unwrap()[id].label.clone()
}

#[test]
fn labels_committed_while_an_import_runs_are_all_kept() {
    let (dir, store, _) = one_commit(50);
    let big = write_idx(dir.path(), "big", 60_000);
    let importer = {
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || import_idx(&dir, &big, "train", false).unwrap())
    };
    let mut last = std::collections::HashMap::new();
    let mut during = 0;
    for i in 0.. {
        let id = format!("digits:{:05}", i % 50);
        let l = format!("edit{i}");
        store.apply("relabel", &[label(&id, &l)]).unwrap();
        last.insert(id, l);
        if importer.is_finished() {
            break;
        }
        during += 1;
    }
    let imported = importer.join().unwrap();
    assert!(during > 0, "no label was committed while the import ran");
    assert_eq!(store.snapshot(&imported.commit).unwrap().rows.len(), 60_050);
    for (id, l) in &last {
        assert_eq!(
            label_at_head(&store, id).as_deref(),
            Some(l.as_str()),
            "{id}"
        );
    }
}

#[test]
fn a_label_the_rows_cannot_hold_is_refused_on_every_write_path() {
    let (dir, store, head) = one_commit(20);
    let before = objects(&store);
    let long = "x".repeat(65_535);
    let refused = |e: StoreError| {
        let text = e.to_string();
        assert!(text.contains("65535 bytes long; at most 65534"), "{text}");
    };
    refused(
        store
            .apply("long", &[label("digits:00001", &long)])
            .unwrap_err(),
    );
    refused(store.stage(vec![label("digits:00001", &long)]).unwrap_err());
    let mut rows = store.snapshot(&head).unwrap().rows;
    rows[3].label = Some(long.clone());
    refused(store.commit(rows, &[], "full").unwrap_err());
    refused(
        store
            .update("closure", |rows| {
                rows[0].label = Some(long.clone());
                Ok(())
            })
            .unwrap_err(),
    );
    assert_eq!(store.head().unwrap(), Some(head));
    assert_eq!(objects(&store), before, "a refused edit wrote objects");
    // The longest label that fits is stored and read back.
    let fits = "y".repeat(65_534);
    store
        .apply("fits", &[label("digits:00002", &fits)])
        .unwrap();
    assert_eq!(label_at_head(&store, "digits:00002"), Some(fits));
    // An importer refuses it too, naming the example.
    let csv = dir.path().join("long.csv");
    std::fs::write(&csv, format!("a,label\n1,{long}\n")).unwrap();
    let err = failed_import(dir.path(), &csv, &opts(Format::Csv));
    assert!(err.contains("label is 65535 bytes long"), "{err}");
}

#[test]
fn ids_labels_and_splits_that_would_not_print_as_themselves_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("items.jsonl");
    for (line, what) in [
        (
            r#"{"id": "a\u0000b", "label": 1, "features": [1]}"#,
            "U+0000",
        ),
        (r#"{"id": "a\nb", "label": 1, "features": [1]}"#, "U+000A"),
        (
            r#"{"id": "ab", "label": "c\td", "features": [1]}"#,
            "U+0009",
        ),
        (
            r#"{"id": "gpj.exe", "label": "\u202e", "features": [1]}"#,
            "U+202E",
        ),
    ] {
        std::fs::write(&src, format!("{line}\n")).unwrap();
        let err = failed_import(dir.path(), &src, &opts(Format::Jsonl));
        assert!(err.contains(what) && err.contains("printable"), "{err}");
    }
    let (_dir, store, _) = one_commit(5);
    let err = store.apply("tab", &[label("digits:00001", "a\tb")]);
    assert!(err.unwrap_err().to_string().contains("U+0009"));
}

#[test]
fn reset_hard_recovers_a_branch_whose_head_cannot_be_read() {
    let (_dir, store, first) = one_commit(30);
    let second = store
        .apply("edit", &[label("digits:00001", "z")])
        .unwrap()
        .unwrap();
    // The newer commit's table is lost: nothing reads the branch any more.
    let table = store.commit_object(&second).unwrap().table;
    std::fs::remove_file(store.object_path(&table)).unwrap();
    assert!(store.snapshot(&second).is_err());
    store.stage(vec![label("digits:00002", "q")]).unwrap_err();
    let (from, dropped) = store.reset_hard(first).unwrap();
    assert_eq!((from, dropped), (Some(second), Dropped::Changes(0)));
    assert_eq!(store.head().unwrap(), Some(first));
    assert_eq!(store.snapshot(&first).unwrap().rows.len(), 30);
    // And back again: the old commit is still named in logs/HEAD and in the store.
    let log = std::fs::read_to_string(store.root().join("logs/HEAD")).unwrap();
    assert!(log.lines().last().unwrap().starts_with(&second.to_hex()));
}

#[test]
fn a_corrupt_index_can_be_dropped() {
    let (_dir, store, _) = one_commit(5);
    std::fs::write(store.root().join("index"), b"{\"format\": 1, \"ba").unwrap();
    assert!(store.staged().is_err());
    assert_eq!(store.reset_staged().unwrap(), Dropped::Unreadable);
    assert_eq!(store.staged().unwrap(), None);
    store.stage(vec![label("digits:00001", "a")]).unwrap();
}

#[cfg(unix)]
#[test]
fn gc_and_fsck_never_follow_links_out_of_the_store() {
    let (_dir, store, _) = one_commit(10);
    let outside = tempfile::tempdir().unwrap();
    let name = "ab".to_string() + &"c".repeat(62);
    let victim = outside.path().join(&name[2..]);
    std::fs::write(&victim, b"precious").unwrap();
    let loose = outside.path().join("loose");
    std::fs::write(&loose, b"precious too").unwrap();
    // A linked folder of "objects" and a linked "object" file, both pointing outside.
    std::os::unix::fs::symlink(outside.path(), store.root().join("objects/ab")).unwrap();
    let real = objects(&store)[0].parent().unwrap().to_path_buf();
    let link = real.join("d".repeat(62));
    std::os::unix::fs::symlink(&loose, &link).unwrap();
    let report = anneal_data::fsck::fsck(&store).unwrap();
    let named: Vec<_> = report.problems.iter().map(|p| p.path.clone()).collect();
    assert!(
        named.contains(&store.root().join("objects/ab")),
        "{report:?}"
    );
    assert!(named.contains(&link), "{report:?}");
    let r = anneal_data::gc::gc(&store).unwrap();
    assert_eq!(r.strays, 2, "{r:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(std::fs::read(&loose).unwrap(), b"precious too");
    assert!(
        link.symlink_metadata().is_ok(),
        "gc deleted a link it does not own"
    );
}

#[test]
fn gc_leaves_files_that_are_not_objects_alone() {
    let (_dir, store, _) = one_commit(10);
    let folder = objects(&store)[0].parent().unwrap().to_path_buf();
    let notes = folder.join("NOTES.txt");
    std::fs::write(&notes, b"mine").unwrap();
    anneal_data::gc::gc(&store).unwrap();
    assert!(notes.exists());
    let report = anneal_data::fsck::fsck(&store).unwrap();
    assert!(
        report.problems.iter().any(|p| p.path == notes),
        "{report:?}"
    );
}

#[test]
fn fsck_reports_an_empty_head_and_a_truncated_ref() {
    let (_dir, store, _) = one_commit(10);
    let head = store.root().join("HEAD");
    std::fs::write(&head, b"").unwrap();
    let report = anneal_data::fsck::fsck(&store).unwrap();
    assert!(report.problems.iter().any(|p| p.path == head), "{report:?}");
    std::fs::write(&head, b"ref: refs/heads/main\n").unwrap();
    let main = store.root().join("refs/heads/main");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, &text[..20]).unwrap();
    let report = anneal_data::fsck::fsck(&store).unwrap();
    assert!(report.problems.iter().any(|p| p.path == main), "{report:?}");
    std::fs::write(&main, b"").unwrap();
    let report = anneal_data::fsck::fsck(&store).unwrap();
    assert!(report.problems.iter().any(|p| p.path == main), "{report:?}");
}

fn png(path: &Path) {
    let img = image::GrayImage::from_pixel(2, 2, image::Luma([9]));
    img.save(path).unwrap();
}

#[test]
fn path_columns_stay_inside_the_source_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    png(&dir.path().join("secret.png"));
    png(&data.join("a.png"));
    let csv = data.join("list.csv");
    let mut o = opts(Format::Csv);
    o.path_column = Some("file".into());
    let abs = dir.path().join("secret.png").display().to_string();
    for (cell, expected) in [
        (abs.as_str(), "is absolute"),
        ("../secret.png", "leaves the source's folder"),
        ("a.png/../../secret.png", "leaves the source's folder"),
    ] {
        std::fs::write(&csv, format!("file,label\n{cell},1\n")).unwrap();
        let err = failed_import(dir.path(), &csv, &o);
        assert!(err.contains(expected) && err.contains("line 2"), "{err}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.png"), data.join("link.png")).unwrap();
        std::fs::write(&csv, "file,label\nlink.png,1\n").unwrap();
        let err = failed_import(dir.path(), &csv, &o);
        assert!(err.contains("through a link"), "{err}");
    }
    let jsonl = data.join("list.jsonl");
    std::fs::write(&jsonl, "{\"path\": \"../secret.png\", \"label\": 1}\n").unwrap();
    let err = failed_import(dir.path(), &jsonl, &opts(Format::Jsonl));
    assert!(err.contains("leaves the source's folder"), "{err}");
}

#[test]
fn one_file_under_two_spellings_is_one_example() {
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("a.png"));
    let csv = dir.path().join("list.csv");
    std::fs::write(&csv, "file,label\na.png,1\n./a.png,2\n").unwrap();
    let mut o = opts(Format::Csv);
    o.path_column = Some("file".into());
    let err = failed_import(dir.path(), &csv, &o);
    assert!(
        err.contains("line 3") && err.contains("same file as line 2"),
        "{err}"
    );
    let jsonl = dir.path().join("list.jsonl");
    std::fs::write(&jsonl, "{\"path\": \"a.png\"}\n{\"path\": \".//a.png\"}\n").unwrap();
    let err = failed_import(dir.path(), &jsonl, &opts(Format::Jsonl));
    assert!(err.contains("same file as line 1"), "{err}");
}

#[cfg(unix)]
fn fifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Each FIFO import runs on a thread: before the fix it blocked forever, so the test waits
/// for an answer with a deadline instead of hanging the suite.
#[cfg(unix)]
fn import_answers(dir: &Path, source: &Path, o: &ImportOptions) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let (dir, source, o) = (dir.to_path_buf(), source.to_path_buf(), o.clone());
    std::thread::spawn(move || {
        let r = import(&dir, &source, &o, &mut NoProgress);
        let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
    });
    let answer = rx.recv_timeout(std::time::Duration::from_secs(60));
    answer.expect("the import blocked on a FIFO").unwrap_err()
}

#[cfg(unix)]
#[test]
fn fifos_named_like_data_files_are_refused_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("pics");
    std::fs::create_dir_all(folder.join("1")).unwrap();
    png(&folder.join("1/a.png"));
    fifo(&folder.join("1/x.png"));
    let err = import_answers(dir.path(), &folder, &opts(Format::Images));
    assert!(
        err.contains("x.png") && err.contains("not a regular file"),
        "{err}"
    );
    std::fs::remove_file(folder.join("1/x.png")).unwrap();
    fifo(&folder.join("y.png"));
    let csv = folder.join("list.csv");
    std::fs::write(&csv, "file,label\ny.png,1\n").unwrap();
    let mut o = opts(Format::Csv);
    o.path_column = Some("file".into());
    let err = import_answers(dir.path(), &csv, &o);
    assert!(err.contains("not a regular file"), "{err}");
    let fifo_csv = dir.path().join("fifo.csv");
    fifo(&fifo_csv);
    let err = import_answers(dir.path(), &fifo_csv, &opts(Format::Csv));
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn a_wav_of_0_hz_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("clips");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("0_a_0.wav"), wav_bytes(0, 10)).unwrap();
    let mut o = opts(Format::Wav);
    o.unlabeled = true;
    let err = failed_import(dir.path(), &folder, &o);
    assert!(err.contains("0 Hz"), "{err}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_gzipped_idx_is_checked_before_it_is_inflated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb-images-idx3-ubyte.gz");
    // A wrong magic, then a stream damaged half-way: inflating it whole fails on the damage;
    // checking the header first names the magic.
    let mut body = b"NOPE\0\0\0\x01\0\0\0\x02\0\0\0\x02".to_vec();
    body.extend((0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let gz = gzip(&body);
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let err = anneal_data::idx::read(&path, true).unwrap_err().to_string();
    assert!(err.contains("expected 0x00000803"), "{err}");
    // A header declaring more than is ever read is refused before reading on.
    let mut huge = 0x803u32.to_be_bytes().to_vec();
    for x in [u32::MAX, 4096, 4096] {
        huge.extend_from_slice(&x.to_be_bytes());
    }
    std::fs::write(&path, gzip(&huge)).unwrap();
    let err = anneal_data::idx::read(&path, true).unwrap_err().to_string();
    assert!(
        err.contains("over 1024:1") && err.contains("decompression bomb"),
        "{err}"
    );
}

/// Every kind of writer at once, each in a loop (promise 4a): label edits, staged commits,
/// removals and imports. Whatever each one was told succeeded is at HEAD afterwards.
#[test]
fn concurrent_writers_never_lose_each_others_commits() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let (dir, store, _) = one_commit(200);
    let until = Instant::now() + Duration::from_millis(1500);
    let id = |i: usize| format!("digits:{i:05}");
    let labels = move |store: Store, base: usize| {
        let mut last = std::collections::HashMap::new();
        for k in 0.. {
            if Instant::now() > until {
                break;
            }
            let (i, l) = (id(base + k % 10), format!("w{base}-{k}"));
            store.apply("relabel", &[label(&i, &l)]).unwrap();
            last.insert(i, l);
        }
        last
    };
    let staged = move |store: Store| {
        let mut last = std::collections::HashMap::new();
        for k in 0.. {
            if Instant::now() > until {
                break;
            }
            let (i, l) = (id(10 + k % 10), format!("s{k}"));
            store.stage(vec![label(&i, &l)]).unwrap();
            match store.commit_staged("staged") {
                Ok(_) => drop(last.insert(i, l)),
                Err(StoreError::StaleIndex { .. }) => drop(store.reset_staged().unwrap()),
                Err(e) => panic!("{e}"),
            }
        }
        last
    };
    let removes = move |store: Store| {
        let mut gone = Vec::new();
        for i in 100..200 {
            if Instant::now() > until {
                break;
            }
            store
                .apply("remove", &[Change::Remove { id: id(i).into() }])
                .unwrap();
            gone.push(id(i));
        }
        gone
    };
    let root = Arc::new(dir.path().to_path_buf());
    let imports = move || {
        let mut added = Vec::new();
        for k in 0.. {
            if Instant::now() > until {
                break;
            }
            let src = write_idx(&root, &format!("imp{k}"), 5);
            import_idx(&root, &src, "train", false).unwrap();
            added.push(format!("imp{k}:00004"));
        }
        added
    };
    let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
    let t1 = std::thread::spawn(move || labels(s1, 0));
    let t2 = std::thread::spawn(move || staged(s2));
    let t3 = std::thread::spawn(move || removes(s3));
    let t4 = std::thread::spawn(imports);
    let (relabeled, staged, removed, imported) = (
        t1.join().unwrap(),
        t2.join().unwrap(),
        t3.join().unwrap(),
        t4.join().unwrap(),
    );
    assert!(!relabeled.is_empty() && !removed.is_empty() && !imported.is_empty());
    for (i, l) in relabeled.iter().chain(&staged) {
        assert_eq!(label_at_head(&store, i).as_deref(), Some(l.as_str()), "{i}");
    }
    let head = store.head().unwrap().unwrap();
    let rows = store.snapshot(&head).unwrap().rows;
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert!(
        removed.iter().all(|i| !ids.contains(i.as_str())),
        "a removed example is back"
    );
    assert!(
        imported.iter().all(|i| ids.contains(i.as_str())),
        "an import was lost"
    );
    assert!(anneal_data::fsck::fsck(&store).unwrap().problems.is_empty());
}

#[test]
fn branch_names_with_hidden_parts_are_refused_and_gc_keeps_heads_branch() {
    let (_dir, store, first) = one_commit(10);
    for name in ["exp/.wip", ".x", "a//b", "a/", "x.lock", "a/b.lock/c"] {
        let e = store.create_branch(name, None).unwrap_err();
        assert!(matches!(e, StoreError::BadRefName(_)), "{name}: {e}");
    }
    store.create_branch("exp/wip", None).unwrap();
    store.checkout("exp/wip").unwrap();
    let edited = store
        .apply("edit", &[label("digits:00001", "z")])
        .unwrap()
        .unwrap();
    anneal_data::gc::gc(&store).unwrap();
    assert!(store.snapshot(&edited).is_ok() && store.snapshot(&first).is_ok());
}

/// A remote with one branch at `store`'s HEAD, and a clone of it.
fn remote_and_clone(store: &Store, root: &Path) -> (String, tempfile::TempDir, Store) {
    use anneal_data::remote::{fetch_url, push};
    let url = root.join("remote").display().to_string();
    store.add_remote("origin", &url).unwrap();
    push(store, "origin", "main").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clone = Store::init(dir.path()).unwrap();
    let t = fetch_url(&clone, "origin", &url, "main").unwrap();
    clone.reset_branch(t.commit, "clone").unwrap();
    clone.add_remote("origin", &url).unwrap();
    (url, dir, clone)
}

#[test]
fn a_push_never_drops_commits_the_remote_has() {
    use anneal_data::remote::{RemoteError, push};
    let (dir, store, _) = one_commit(10);
    let (url, _clone_dir, clone) = remote_and_clone(&store, dir.path());
    let theirs = clone
        .apply("theirs", &[label("digits:00001", "t")])
        .unwrap()
        .unwrap();
    push(&clone, "origin", "main").unwrap();
    store.apply("ours", &[label("digits:00002", "o")]).unwrap();
    let e = push(&store, "origin", "main").unwrap_err();
    assert!(matches!(e, RemoteError::NotFastForward { .. }), "{e}");
    assert!(
        e.to_string().contains("pull (fetch and merge) first"),
        "{e}"
    );
    let at = std::fs::read_to_string(Path::new(&url).join("refs/heads/main")).unwrap();
    assert_eq!(at.trim(), theirs.to_hex(), "the remote branch moved");
}

#[test]
fn gc_keeps_what_a_fetch_brought_and_fsck_checks_it() {
    use anneal_data::remote::fetch;
    let (dir, store, _) = one_commit(10);
    let (_url, _clone_dir, clone) = remote_and_clone(&store, dir.path());
    let theirs = store
        .apply("theirs", &[label("digits:00001", "t")])
        .unwrap()
        .unwrap();
    anneal_data::remote::push(&store, "origin", "main").unwrap();
    clone.apply("ours", &[label("digits:00002", "o")]).unwrap();
    assert_eq!(fetch(&clone, "origin", "main").unwrap().commit, theirs);
    anneal_data::gc::gc(&clone).unwrap();
    assert!(
        clone.snapshot(&theirs).is_ok(),
        "gc removed a fetched commit"
    );
    let table = clone.commit_object(&theirs).unwrap().table;
    std::fs::remove_file(clone.object_path(&table)).unwrap();
    let report = anneal_data::fsck::fsck(&clone).unwrap();
    assert!(
        !report.problems.is_empty(),
        "fsck missed a remote-tracking ref's damage"
    );
}

#[test]
fn relative_remote_urls_are_stored_absolute() {
    let (_dir, store, _) = one_commit(5);
    store.add_remote("rel", "some/where").unwrap();
    let url = &store.remotes().unwrap()["rel"];
    assert!(Path::new(url).is_absolute(), "{url}");
}

/// Write a commit of `table` on the current branch, as a hostile remote could send it.
fn commit_table(store: &Store, table: &Table) -> anneal_data::CommitId {
    use anneal_data::object::{Kind, encode_table};
    let th = store
        .put(Kind::Table, &encode_table(table).unwrap())
        .unwrap();
    let commit = serde_json::json!({"format": 1, "table": th.to_hex(), "parents": [],
        "author": "x", "time": 0, "message": "hostile"});
    let body = serde_json::to_vec(&commit).unwrap();
    store
        .put(anneal_data::object::Kind::Commit, &body)
        .unwrap()
        .into()
}

#[test]
fn tables_that_lie_about_their_size_or_depth_are_errors_not_aborts() {
    use anneal_data::object::PatchTable;
    let (_dir, store, head) = one_commit(20);
    let c = store.commit_object(&head).unwrap();
    let Table::Full(mut full) = store.table(&c).unwrap() else {
        panic!()
    };
    let honest = full.clone();
    full.chunks.truncate(1);
    full.chunks[0].rows = u32::MAX;
    full.rows = u64::from(u32::MAX);
    let liar = commit_table(&store, &Table::Full(full));
    let e = store.snapshot(&liar).unwrap_err().to_string();
    assert!(e.contains("rows, the table says 4294967295"), "{e}");
    let full = honest;
    // 100 patches deep, each claiming depth 1 (20,000 overflowed the stack of the recursive
    // reader): read in a loop, refused past the bound.
    let mut base = store
        .put(
            anneal_data::object::Kind::Table,
            &anneal_data::object::encode_table(&Table::Full(full)).unwrap(),
        )
        .unwrap();
    for _ in 0..100 {
        let patch = Table::Patch(PatchTable {
            base: base.into(),
            depth: 1,
            rows: 20,
            packs: vec![],
            edits: vec![],
        });
        base = store
            .put(
                anneal_data::object::Kind::Table,
                &anneal_data::object::encode_table(&patch).unwrap(),
            )
            .unwrap();
    }
    let deep = commit_table(&store, &store.table_object(&base.into()).unwrap());
    let e = store.snapshot(&deep).unwrap_err().to_string();
    assert!(
        e.contains("patch chain longer than its depth allows"),
        "{e}"
    );
    let t = store.table_object(&base.into()).unwrap();
    assert!(store.lookup(&t, &["digits:00001"]).is_err());
}

#[test]
fn metadata_that_would_not_print_as_itself_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("m.csv");
    std::fs::write(&csv, "x,label,note\n1,a,\"\x1b[31mRED\x1b]0;pwned\x07\"\n").unwrap();
    let err = failed_import(dir.path(), &csv, &opts(Format::Csv));
    assert!(
        err.contains("metadata holds the control character U+001B"),
        "{err}"
    );
}

#[test]
fn payloads_larger_than_a_pack_entry_are_refused() {
    let e = anneal_data::limits::check_payload("big", u32::MAX as usize + 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "example `big`: payload is 4294967296 bytes long; at most 4294967295 are stored"
    );
}

/// A PNG whose header declares `side` x `side` grey pixels, with no pixel data.
fn png_header_only(side: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc.sum().to_be_bytes());
    png
}

#[test]
fn a_png_declaring_a_huge_image_is_refused_before_decoding() {
    let e = anneal_data::payload::load_image(&png_header_only(20_000)).unwrap_err();
    assert!(e.0.contains("limit"), "{}", e.0);
    let e = anneal_data::payload::decode_image(&png_header_only(100_000), 1, 28, 28).unwrap_err();
    assert!(e.0.contains("limit"), "{}", e.0);
}

#[test]
fn a_fetch_refuses_rows_a_local_verb_would_refuse() {
    use anneal_data::object::{ChunkRef, FullTable, Kind, encode_chunk};
    let (dir, store, head) = one_commit(3);
    let mut rows = store.snapshot(&head).unwrap().rows;
    rows[1].label = Some("\u{1b}]0;pwned\u{7}".into());
    let chunk = store
        .put(Kind::Chunk, &encode_chunk(&rows).unwrap())
        .unwrap();
    let c = store.commit_object(&head).unwrap();
    let packs = store.table(&c).unwrap().packs().to_vec();
    let chunks = vec![ChunkRef {
        hash: chunk,
        rows: 3,
        first: rows[0].id.clone(),
    }];
    let planted = commit_table(
        &store,
        &Table::Full(FullTable {
            rows: 3,
            chunks,
            packs,
        }),
    );
    store.create_branch("planted", Some(planted)).unwrap();
    let url = dir.path().join("remote").display().to_string();
    store.add_remote("origin", &url).unwrap();
    anneal_data::remote::push(&store, "origin", "planted").unwrap();
    let clone_dir = tempfile::tempdir().unwrap();
    let clone = Store::init(clone_dir.path()).unwrap();
    let e = anneal_data::remote::fetch_url(&clone, "origin", &url, "planted").unwrap_err();
    assert!(e.to_string().contains("U+001B"), "{e}");
    assert_eq!(clone.remote_ref("origin", "planted").unwrap(), None);
}
