//! Hostile and careless input: one regression test per hole found by the probe of issue 10,
//! each shown to fail before its fix.

use std::io::Write;

use anneal_data::import::{Format, NoProgress, import};
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
    let table = store
        .table(&store.commit_object(&head).unwrap(), &head)
        .unwrap();
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
    let table = store
        .table_hash(&store.commit_object(&second).unwrap(), &second)
        .unwrap();
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
    assert!(err.contains("at most 8589934592 are read"), "{err}");
}
