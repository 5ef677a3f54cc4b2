//! The store's promises at this stage: commits move HEAD atomically, reads verify hashes, a bad
//! source leaves the store unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::path::{Path, PathBuf};

use anneal_data::import::{ImportError, import_idx};
use anneal_data::object::Row;
use anneal_data::{CommitId, ContentHash, Store, StoreError};

#[path = "store/fuzz.rs"]
mod fuzz;
#[path = "store/hostile.rs"]
mod hostile;

fn write_idx(dir: &Path, name: &str, n: usize) -> PathBuf {
    let mut images = Vec::new();
    for x in [0x803u32, n as u32, 2, 2] {
        images.extend_from_slice(&x.to_be_bytes());
    }
    let mut labels = Vec::new();
    for x in [0x801u32, n as u32] {
        labels.extend_from_slice(&x.to_be_bytes());
    }
    for i in 0..n {
        images.extend_from_slice(&[i as u8, (i >> 8) as u8, 3, 4]);
        labels.push((i % 10) as u8);
    }
    std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), images).unwrap();
    std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), labels).unwrap();
    dir.join(name)
}

fn one_commit(n: usize) -> (tempfile::TempDir, Store, CommitId) {
    let dir = tempfile::tempdir().unwrap();
    let src = write_idx(dir.path(), "digits", n);
    let summary = import_idx(dir.path(), &src, "train", false).unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store, summary.commit)
}

fn objects(store: &Store) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(store.root().join("objects")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

#[test]
fn import_makes_one_commit_with_every_example() {
    let (_dir, store, commit) = one_commit(3000);
    assert_eq!(store.head().unwrap(), Some(commit));
    let log = store.log().unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].1.message.contains("3000 examples, split train"));
    let snap = store.snapshot(&commit).unwrap();
    assert_eq!(snap.rows.len(), 3000);
    assert_eq!(snap.rows[7].id, "digits:00007");
    assert_eq!(snap.rows[7].label.as_deref(), Some("7"));
    let image = anneal_data::payload::decode_raw(snap.payload(&snap.rows[7]).unwrap()).unwrap();
    assert_eq!(image.pixels, vec![7, 0, 3, 4]);
    // 3,000 rows are cut into several content-defined chunks.
    let c = store.commit_object(&commit).unwrap();
    match store.table(&c).unwrap() {
        anneal_data::object::Table::Full(t) => assert!(t.chunks.len() > 1),
        other => panic!("an import writes a full table, got {other:?}"),
    }
}

#[test]
fn a_second_import_is_a_child_commit_and_payloads_are_stored_once() {
    let (dir, store, first) = one_commit(100);
    // Same pixels under another name: new ids, no new blobs.
    let src = write_idx(dir.path(), "again", 100);
    let s = import_idx(dir.path(), &src, "test", false).unwrap();
    assert_eq!(s.added, 100);
    assert_eq!(s.new_blobs, 0);
    let log = store.log().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].1.parents, vec![first]);
    assert_eq!(store.snapshot(&s.commit).unwrap().rows.len(), 200);
}

#[test]
fn importing_the_same_source_twice_is_refused_and_head_stays() {
    let (dir, store, first) = one_commit(10);
    let err = import_idx(dir.path(), &dir.path().join("digits"), "train", false).unwrap_err();
    assert!(matches!(err, ImportError::Exists { .. }), "{err}");
    assert_eq!(store.head().unwrap(), Some(first));
}

#[test]
fn a_bad_first_import_leaves_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_idx(dir.path(), "bad", 10);
    let labels = dir.path().join("bad-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&labels).unwrap();
    bytes.pop();
    std::fs::write(&labels, bytes).unwrap();
    let err = import_idx(dir.path(), &src, "train", false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad-labels-idx1-ubyte: at byte 8: header says 10 labels but 9 bytes follow"),
        "{err}"
    );
    assert!(!dir.path().join(".anneal").exists());
}

#[test]
fn every_corrupted_object_is_detected_on_read() {
    let (_dir, store, commit) = one_commit(2000);
    let files = objects(&store);
    assert!(files.len() >= 4, "pack, chunks, table, commit");
    for file in &files {
        let good = std::fs::read(file).unwrap();
        for at in [0, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(file, &bad).unwrap();
            match store.snapshot(&commit) {
                Err(StoreError::Corrupt { path, .. }) => assert_eq!(&path, file),
                other => panic!("flipping byte {at} of {} gave {other:?}", file.display()),
            }
        }
        std::fs::write(file, &good[..good.len() / 2]).unwrap();
        assert!(matches!(
            store.snapshot(&commit),
            Err(StoreError::Corrupt { .. })
        ));
        std::fs::remove_file(file).unwrap();
        assert!(matches!(
            store.snapshot(&commit),
            Err(StoreError::Missing { .. })
        ));
        std::fs::write(file, &good).unwrap();
    }
    assert!(store.snapshot(&commit).is_ok());
}

#[test]
fn a_commit_with_duplicate_ids_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let row = Row {
        id: "a".into(),
        payload: ContentHash::of(b"x"),
        label: None,
        split: String::new(),
        meta: Default::default(),
    };
    let err = store
        .commit(vec![row.clone(), row], &[b"x"], "dup")
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }));
    assert_eq!(store.head().unwrap(), None);
}

#[test]
fn a_store_from_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path()).unwrap();
    std::fs::write(dir.path().join(".anneal/format"), "anneal-store 9\n").unwrap();
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("unsupported store format `anneal-store 9`"),
        "{err}"
    );
}

fn relabel(store: &Store, ids: &[&str], label: &str) -> CommitId {
    store
        .update("relabel", |rows| {
            for r in rows.iter_mut().filter(|r| ids.contains(&r.id.as_str())) {
                r.label = Some(label.to_string());
            }
            Ok(())
        })
        .unwrap()
        .unwrap()
}

#[test]
fn a_label_edit_is_a_small_commit_and_diff_reports_it() {
    let (_dir, store, first) = one_commit(3000);
    let second = relabel(&store, &["digits:00017", "digits:02001"], "3");
    assert_eq!(store.head().unwrap(), Some(second));
    let d = anneal_data::diff::diff(&store, &first, &second).unwrap();
    assert!(d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty());
    let edits: Vec<(anneal_data::ExampleId, Option<String>, Option<String>)> = d
        .relabeled
        .iter()
        .map(|(a, b)| (a.id.clone(), a.label.clone(), b.label.clone()))
        .collect();
    assert_eq!(
        edits,
        vec![
            ("digits:00017".into(), Some("7".into()), Some("3".into())),
            ("digits:02001".into(), Some("1".into()), Some("3".into())),
        ]
    );
    assert_eq!(d.class_counts.get("3"), Some(&2));
    assert_eq!(d.class_counts.get("7"), Some(&-1));
    assert_eq!(d.class_counts.get("1"), Some(&-1));
    let table = |h: &CommitId| store.table(&store.commit_object(h).unwrap()).unwrap();
    // The edit is a patch of the import's table holding just the two rows.
    match table(&second) {
        anneal_data::object::Table::Patch(p) => {
            assert_eq!(p.edits.len(), 2);
            assert_eq!(p.depth, 1);
            assert_eq!(p.rows, 3000);
        }
        other => panic!("expected a patch, got {other:?}"),
    }
    assert_eq!(table(&first).packs(), table(&second).packs());
    // An edit that changes nothing makes no commit.
    assert_eq!(store.update("noop", |_| Ok(())).unwrap(), None);
    // Removing examples.
    let third = store.update("remove", |rows| {
        rows.retain(|r| r.id != "digits:00005");
        Ok(())
    });
    let third = third.unwrap().unwrap();
    let d = anneal_data::diff::diff(&store, &second, &third).unwrap();
    assert_eq!(d.removed.len(), 1);
    assert_eq!(d.removed[0].id, "digits:00005");
    assert!(
        anneal_data::diff::diff(&store, &third, &third)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_metadata_edit_is_reported_apart_from_labels_in_patches_and_full_tables() {
    let (_dir, store, first) = one_commit(3000);
    let set_meta = |ids: &[&str], meta: &str| {
        store
            .update("meta", |rows| {
                for r in rows.iter_mut().filter(|r| ids.contains(&r.id.as_str())) {
                    r.meta = meta.into();
                }
                Ok(())
            })
            .unwrap()
            .unwrap()
    };
    let second = set_meta(&["digits:00017", "digits:02001"], r#"{"speaker":"ann"}"#);
    // Through the patch: two metadata changes, nothing relabeled, class counts untouched.
    let d = anneal_data::diff::diff(&store, &first, &second).unwrap();
    assert!(d.added.is_empty() && d.removed.is_empty());
    assert!(d.relabeled.is_empty() && d.changed.is_empty(), "{d:?}");
    assert!(d.class_counts.is_empty(), "{:?}", d.class_counts);
    assert!(!d.is_empty());
    let got: Vec<(&str, &str, &str)> = d
        .meta_changed
        .iter()
        .map(|(a, b)| (a.id.as_str(), a.meta.as_str(), b.meta.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("digits:00017", "", r#"{"speaker":"ann"}"#),
            ("digits:02001", "", r#"{"speaker":"ann"}"#),
        ]
    );
    // Backwards, before and after swap.
    let back = anneal_data::diff::diff(&store, &second, &first).unwrap();
    assert_eq!(back.meta_changed.len(), 2);
    assert_eq!(back.meta_changed[0].1.meta, "");
    // A label and a metadata change on one example counts as a relabel only.
    let third = store
        .update("both", |rows| {
            for r in rows.iter_mut().filter(|r| r.id == "digits:00017") {
                r.label = Some("3".into());
                r.meta = r#"{"speaker":"bob"}"#.into();
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    let d = anneal_data::diff::diff(&store, &second, &third).unwrap();
    assert_eq!((d.relabeled.len(), d.meta_changed.len()), (1, 0));
    // Between two full tables (chunks compared by hash, differing ones decoded).
    let rows = store.snapshot(&third).unwrap().rows;
    let mut edited = rows.clone();
    edited[2500].meta = r#"{"speaker":"cy"}"#.into();
    edited[2999].split = "test".into();
    let full_a = store.commit(rows, &[], "full a").unwrap();
    let full_b = store.commit(edited, &[], "full b").unwrap();
    let d = anneal_data::diff::diff(&store, &full_a, &full_b).unwrap();
    assert!(d.chunks_skipped > 0, "{d:?}");
    assert_eq!(d.meta_changed.len(), 1);
    assert_eq!(d.meta_changed[0].0.id, "digits:02500");
    assert_eq!(d.meta_changed[0].1.meta, r#"{"speaker":"cy"}"#);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(d.changed[0].1.split, "test");
    assert!(d.relabeled.is_empty() && d.class_counts.is_empty());
}

#[test]
fn branches_tags_and_revisions() {
    let (_dir, store, first) = one_commit(50);
    assert_eq!(store.branch().unwrap(), "main");
    store.create_tag("v1", None).unwrap();
    store.create_branch("fix", None).unwrap();
    assert!(matches!(
        store.create_branch("fix", None),
        Err(StoreError::RefExists { .. })
    ));
    assert!(matches!(
        store.create_branch("../evil", None),
        Err(StoreError::BadRefName(_))
    ));
    store.checkout("fix").unwrap();
    let on_fix = relabel(&store, &["digits:00001"], "9");
    assert_eq!(store.resolve("fix").unwrap(), on_fix);
    assert_eq!(store.resolve("main").unwrap(), first);
    assert_eq!(store.resolve("v1").unwrap(), first);
    assert_eq!(store.resolve("HEAD").unwrap(), on_fix);
    assert_eq!(store.resolve(&first.to_hex()[..10]).unwrap(), first);
    assert!(matches!(
        store.resolve("nope"),
        Err(StoreError::UnknownRevision(_))
    ));
    store.checkout("main").unwrap();
    assert_eq!(store.head().unwrap(), Some(first));
    let names: Vec<String> = store
        .branches()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["fix", "main"]);
}

#[test]
fn fsck_is_clean_on_a_good_store_and_names_every_damaged_object() {
    let (_dir, store, first) = one_commit(2000);
    relabel(&store, &["digits:00003"], "0");
    store.create_tag("v1", Some(first)).unwrap();
    let clean = anneal_data::fsck::fsck(&store).unwrap();
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!(clean.commits, 2);
    for file in objects(&store) {
        let good = std::fs::read(&file).unwrap();
        // A flipped bit.
        let mut bad = good.clone();
        bad[good.len() / 3] ^= 1;
        std::fs::write(&file, &bad).unwrap();
        let r = anneal_data::fsck::fsck(&store).unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| p.path == file && p.message.starts_with("corrupt")),
            "{file:?}: {:?}",
            r.problems
        );
        // A deleted object: every reachable one is reported missing.
        std::fs::remove_file(&file).unwrap();
        let r = anneal_data::fsck::fsck(&store).unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| p.message.contains("missing object")),
            "{file:?}: {:?}",
            r.problems
        );
        std::fs::write(&file, &good).unwrap();
    }
    assert!(anneal_data::fsck::fsck(&store).unwrap().problems.is_empty());
}

/// Promise 1: a commit interrupted at any durable step leaves HEAD at the old commit or the
/// new one, and a store that fsck finds clean.
#[test]
fn a_crash_at_every_step_of_a_commit_leaves_old_or_new() {
    use anneal_data::fs::failpoint;
    let mut crashes = 0;
    for k in 0.. {
        let (_dir, store, first) = one_commit(1500);
        failpoint::arm(k);
        let result = store.update("edit", |rows| {
            rows[10].label = Some("edited".into());
            rows.retain(|r| r.id != "digits:00020");
            Ok(())
        });
        let steps = failpoint::disarm();
        let head = store.head().unwrap();
        let report = anneal_data::fsck::fsck(&store).unwrap();
        assert!(
            report.problems.is_empty(),
            "crash at step {k}: {:?}",
            report.problems
        );
        match result {
            Err(_) => {
                crashes += 1;
                // Old, or (a crash after the atomic ref rename) exactly the new commit.
                let head = head.unwrap();
                if head != first {
                    let c = store.commit_object(&head).unwrap();
                    assert_eq!(
                        (c.parents, c.message.as_str()),
                        (vec![first], "edit"),
                        "crash at step {k}"
                    );
                    let d = anneal_data::diff::diff(&store, &first, &head).unwrap();
                    assert_eq!(
                        (d.relabeled.len(), d.removed.len()),
                        (1, 1),
                        "crash at step {k} left a mix"
                    );
                }
                // The store is usable again: the same edit now commits.
                let again = relabel(&store, &["digits:00010"], "again");
                assert_eq!(store.head().unwrap(), Some(again));
            }
            Ok(new) => {
                assert_eq!(head, new, "a finished commit is HEAD");
                assert!(steps <= k, "step {k} was never reached");
                break;
            }
        }
    }
    assert!(crashes >= 10, "only {crashes} crash points");
    eprintln!("crash points tested: {crashes}");
}

#[test]
fn chains_of_patches_compact_and_diff_both_ways() {
    use anneal_data::object::{MAX_PATCH_DEPTH, Table};
    use anneal_data::tables::Change;
    let (_dir, store, first) = one_commit(500);
    let mut heads = vec![first];
    for i in 0..MAX_PATCH_DEPTH + 3 {
        let id = format!("digits:{:05}", i % 50);
        let h = store
            .apply(
                "edit",
                &[Change::Label {
                    id: id.into(),
                    label: Some(format!("v{i}")),
                }],
            )
            .unwrap()
            .unwrap();
        heads.push(h);
    }
    let kind = |h: &CommitId| match store.table(&store.commit_object(h).unwrap()).unwrap() {
        Table::Full(_) => 0,
        Table::Patch(p) => p.depth,
    };
    let depths: Vec<u32> = heads.iter().map(kind).collect();
    assert_eq!(depths[..3], [0, 1, 2]);
    assert!(depths.contains(&MAX_PATCH_DEPTH));
    assert_eq!(
        depths[MAX_PATCH_DEPTH as usize + 1],
        0,
        "the chain was compacted: {depths:?}"
    );
    // Reading through a chain equals applying every edit.
    let rows = store.snapshot(heads.last().unwrap()).unwrap().rows;
    assert_eq!(rows.len(), 500);
    assert_eq!(
        rows[34].label.as_deref(),
        Some(format!("v{}", MAX_PATCH_DEPTH + 2).as_str())
    );
    // Diffs along a chain, forwards and backwards, and across a compaction.
    let fwd = anneal_data::diff::diff(&store, &heads[2], &heads[10]).unwrap();
    assert_eq!(fwd.relabeled.len(), 8);
    let back = anneal_data::diff::diff(&store, &heads[10], &heads[2]).unwrap();
    assert_eq!(back.relabeled.len(), 8);
    assert_eq!(back.relabeled[0].0.label, fwd.relabeled[0].1.label);
    let across = anneal_data::diff::diff(&store, &heads[1], heads.last().unwrap()).unwrap();
    assert_eq!(across.relabeled.len(), 35 - 1);
    // Removal through apply; unknown ids are refused without a commit.
    let before = store.head().unwrap();
    assert!(matches!(
        store.apply("x", &[Change::Remove { id: "nope".into() }]),
        Err(StoreError::UnknownExample { .. })
    ));
    assert_eq!(store.head().unwrap(), before);
    let h = store
        .apply(
            "rm",
            &[Change::Remove {
                id: "digits:00499".into(),
            }],
        )
        .unwrap()
        .unwrap();
    assert_eq!(store.snapshot(&h).unwrap().rows.len(), 499);
    assert!(anneal_data::fsck::fsck(&store).unwrap().problems.is_empty());
}

/// Promise 4: conflicting label edits are reported, never resolved silently.
#[test]
fn merges_apply_both_sides_and_report_every_conflict() {
    use anneal_data::merge::{Outcome, Side, merge};
    let (_dir, store, base) = one_commit(300);
    store.create_branch("theirs", None).unwrap();
    // Ours: relabel 1 and 2, remove 5.
    relabel(&store, &["digits:00001", "digits:00002"], "ours");
    store
        .update("rm", |rows| {
            rows.retain(|r| r.id != "digits:00005");
            Ok(())
        })
        .unwrap();
    let ours = store.head().unwrap().unwrap();
    // Theirs: relabel 2 differently, 3, and 5 (removed on our side).
    store.checkout("theirs").unwrap();
    relabel(
        &store,
        &["digits:00002", "digits:00003", "digits:00005"],
        "theirs",
    );
    let theirs = store.head().unwrap().unwrap();
    store.checkout("main").unwrap();
    assert_eq!(
        anneal_data::merge::merge_base(&store, ours, theirs).unwrap(),
        Some(base)
    );

    match merge(&store, theirs, "theirs", None).unwrap() {
        Outcome::Conflicts(c) => {
            let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["digits:00002", "digits:00005"]);
            assert_eq!(c[0].ours.as_ref().unwrap().label.as_deref(), Some("ours"));
            assert_eq!(
                c[0].theirs.as_ref().unwrap().label.as_deref(),
                Some("theirs")
            );
            assert_eq!(c[0].base.as_ref().unwrap().label.as_deref(), Some("2"));
            assert!(c[1].ours.is_none(), "removed on our side");
        }
        other => panic!("expected conflicts, got {other:?}"),
    }
    assert_eq!(
        store.head().unwrap(),
        Some(ours),
        "a conflicted merge commits nothing"
    );

    let Outcome::Merged { commit, resolved } =
        merge(&store, theirs, "theirs", Some(Side::Theirs)).unwrap()
    else {
        panic!("expected a merge");
    };
    assert_eq!(resolved, 2);
    let c = store.commit_object(&commit).unwrap();
    assert_eq!(c.parents, vec![ours, theirs]);
    let rows = store.snapshot(&commit).unwrap().rows;
    let label = |id: &str| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|r| r.label.clone().unwrap_or_default())
    };
    assert_eq!(label("digits:00001").as_deref(), Some("ours"));
    assert_eq!(label("digits:00002").as_deref(), Some("theirs"));
    assert_eq!(label("digits:00003").as_deref(), Some("theirs"));
    assert_eq!(label("digits:00005").as_deref(), Some("theirs"));
    assert!(anneal_data::fsck::fsck(&store).unwrap().problems.is_empty());

    // Merging again: up to date. A branch behind us fast-forwards.
    assert_eq!(
        merge(&store, theirs, "theirs", None).unwrap(),
        Outcome::UpToDate
    );
    store.checkout("theirs").unwrap();
    assert_eq!(
        merge(&store, commit, "main", None).unwrap(),
        Outcome::FastForward(commit)
    );
    assert_eq!(store.head().unwrap(), Some(commit));
}

#[test]
fn gc_removes_only_what_no_ref_reaches() {
    use anneal_data::fs::failpoint;
    let (_dir, store, first) = one_commit(400);
    // An interrupted commit leaves orphans (objects written before the crash, a temp file).
    failpoint::arm(4);
    assert!(
        store
            .update("crash", |rows| {
                rows[0].label = Some("x".into());
                Ok(())
            })
            .is_err()
    );
    failpoint::disarm();
    let kept_before = objects(&store).len();
    let tagged = relabel(&store, &["digits:00001"], "t");
    store.create_tag("keep", Some(tagged)).unwrap();
    let r = anneal_data::gc::gc(&store).unwrap();
    assert!(r.removed >= 1, "{r:?}");
    assert!(anneal_data::fsck::fsck(&store).unwrap().problems.is_empty());
    assert!(store.snapshot(&first).is_ok() && store.snapshot(&tagged).is_ok());
    assert!(objects(&store).len() >= kept_before - r.removed);
    // Nothing left to collect.
    assert_eq!(anneal_data::gc::gc(&store).unwrap().removed, 0);
}

#[test]
fn stratified_splits_are_seeded_and_keep_label_proportions() {
    use anneal_data::split::stratified;
    let (_dir, store, first) = one_commit(1000);
    let rows = store.snapshot(&first).unwrap().rows;
    let fractions = vec![("test".to_string(), 0.2), ("validation".to_string(), 0.1)];
    let changes = stratified(&rows, Some("train"), &fractions, "train", 7);
    assert_eq!(
        changes,
        stratified(&rows, Some("train"), &fractions, "train", 7),
        "same seed, same split"
    );
    assert_ne!(
        changes,
        stratified(&rows, Some("train"), &fractions, "train", 8)
    );
    let h = store.apply("split", &changes).unwrap().unwrap();
    let rows = store.snapshot(&h).unwrap().rows;
    for label in 0..10 {
        let of = |split: &str| {
            rows.iter()
                .filter(|r| r.split == split && r.label.as_deref() == Some(&label.to_string()))
                .count()
        };
        assert_eq!(
            (of("test"), of("validation"), of("train")),
            (20, 10, 70),
            "label {label}"
        );
    }
}

/// Promise 3: a push or fetch cut short at any object never leaves a ref naming missing objects.
#[test]
fn push_fetch_and_clone_through_a_folder_remote_survive_interruption() {
    use anneal_data::fs::failpoint;
    use anneal_data::remote::{fetch, fetch_url, push};
    let (dir, store, _first) = one_commit(800);
    let remote_dir = dir.path().join("remote");
    let url = remote_dir.to_string_lossy().into_owned();
    store.add_remote("origin", &url).unwrap();

    // A push cut at every upload: the remote ref never appears before all objects are there.
    let mut k = 0;
    let full = loop {
        failpoint::arm(k);
        let r = push(&store, "origin", "main");
        failpoint::disarm();
        match r {
            Ok(t) => break t,
            Err(_) => {
                assert!(
                    !remote_dir.join("refs/heads/main").exists(),
                    "ref written by a push cut at {k}"
                );
                k += 1;
            }
        }
    };
    assert!(k >= 4, "only {k} interruption points");

    // An edit pushes only what is new.
    let second = relabel(&store, &["digits:00004"], "pushed");
    let t = push(&store, "origin", "main").unwrap();
    assert_eq!(t.commit, second);
    assert!(t.objects <= 2, "{t:?} vs first push {full:?}");

    // A clone's fetch cut at every download moves no ref; then it completes and fsck is clean.
    let clone_dir = tempfile::tempdir().unwrap();
    let clone = Store::init(clone_dir.path()).unwrap();
    let mut k = 0;
    loop {
        failpoint::arm(k);
        let r = fetch_url(&clone, "origin", &url, "main");
        failpoint::disarm();
        assert!(
            anneal_data::fsck::fsck(&clone).unwrap().problems.is_empty(),
            "fetch cut at {k}"
        );
        match r {
            Ok(t) => {
                assert_eq!(t.commit, second);
                break;
            }
            Err(_) => {
                assert_eq!(
                    clone.remote_ref("origin", "main").unwrap(),
                    None,
                    "remote ref moved by a fetch cut at {k}"
                );
                k += 1;
            }
        }
    }
    clone.reset_branch(second, "clone").unwrap();
    assert_eq!(
        clone.snapshot(&second).unwrap().rows,
        store.snapshot(&second).unwrap().rows
    );

    // A corrupted object on the remote is refused, not written.
    let third = relabel(&store, &["digits:00005"], "again");
    push(&store, "origin", "main").unwrap();
    let table = store.commit_object(&third).unwrap().table;
    let hex = table.to_hex();
    let remote_obj = remote_dir.join("objects").join(&hex[..2]).join(&hex[2..]);
    let mut bytes = std::fs::read(&remote_obj).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&remote_obj, bytes).unwrap();
    clone.add_remote("origin", &url).unwrap();
    let err = fetch(&clone, "origin", "main").unwrap_err();
    assert!(
        matches!(err, anneal_data::remote::RemoteError::Corrupt { .. }),
        "{err}"
    );
    assert!(!clone.object_path(&table).exists());
    assert_eq!(clone.remote_ref("origin", "main").unwrap(), Some(second));
}

/// The same through a real S3-compatible server. `.ci/run` starts moto and sets
/// `ANNEAL_TEST_S3_URL=s3://BUCKET` and `AWS_ENDPOINT_URL`; elsewhere this test says it skipped.
#[test]
fn push_and_clone_through_s3() {
    use anneal_data::fs::failpoint;
    use anneal_data::remote::{fetch_url, push};
    let Ok(base) = std::env::var("ANNEAL_TEST_S3_URL") else {
        eprintln!(
            "skipped: set ANNEAL_TEST_S3_URL=s3://BUCKET and AWS_ENDPOINT_URL to run against an S3 server (.ci/run starts moto)"
        );
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let url = format!("{base}/test-{}-{nanos}", std::process::id());
    let (_dir, store, first) = one_commit(600);
    store.add_remote("s3", &url).unwrap();
    // Cut the first push after two objects: no ref on the remote yet.
    failpoint::arm(2);
    assert!(push(&store, "s3", "main").is_err());
    failpoint::disarm();
    let probe = tempfile::tempdir().unwrap();
    let probe_store = Store::init(probe.path()).unwrap();
    assert!(
        fetch_url(&probe_store, "s3", &url, "main").is_err(),
        "a ref appeared after a cut push"
    );
    assert!(
        anneal_data::fsck::fsck(&probe_store)
            .unwrap()
            .problems
            .is_empty()
    );
    // Then the whole push, an edit, and a clone that matches.
    push(&store, "s3", "main").unwrap();
    let second = relabel(&store, &["digits:00009"], "s3");
    let t = push(&store, "s3", "main").unwrap();
    assert!(t.objects <= 2);
    let clone_dir = tempfile::tempdir().unwrap();
    let clone = Store::init(clone_dir.path()).unwrap();
    let got = fetch_url(&clone, "s3", &url, "main").unwrap();
    assert_eq!(got.commit, second);
    clone.reset_branch(second, "clone").unwrap();
    assert_eq!(
        clone.snapshot(&second).unwrap().rows,
        store.snapshot(&second).unwrap().rows
    );
    assert!(clone.snapshot(&first).is_ok(), "history came along");
    assert!(anneal_data::fsck::fsck(&clone).unwrap().problems.is_empty());
}

// ---- importers: CSV, image folders with a labels CSV, WAV folders, JSONL, metadata ----

use anneal_data::import::{Format, ImportOptions, NoProgress, import};
use anneal_data::stats::Stats;

/// `../shared/datasets`, beside the repository, or None (with a message) when absent.
fn shared_datasets(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    let dir = dir.join(name);
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} is absent (the shared datasets sit beside the repository)",
            dir.display()
        );
        None
    }
}

/// A mono 16-bit PCM WAV of `n` samples, written by hand (44-byte header).
fn wav_bytes(rate: u32, n: usize) -> Vec<u8> {
    let data = (n * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for i in 0..n {
        b.extend_from_slice(&((i as i16).wrapping_mul(97)).to_le_bytes());
    }
    b
}

fn opts(format: Format) -> ImportOptions {
    ImportOptions::new(format)
}

/// The store's HEAD and object files, to check that a failed import changed nothing.
fn store_state(dir: &Path) -> Option<(Option<CommitId>, Vec<PathBuf>)> {
    Store::open(dir)
        .ok()
        .map(|s| (s.head().unwrap(), objects(&s)))
}

/// Import expecting failure; returns the error text after checking the store is as it was.
fn failed_import(dir: &Path, source: &Path, o: &ImportOptions) -> String {
    let before = store_state(dir);
    let err = import(dir, source, o, &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert_eq!(
        store_state(dir),
        before,
        "a failed import changed the store"
    );
    err
}

#[test]
fn csv_features_labels_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("points.csv");
    std::fs::write(
        &csv,
        "x, y, colour, label\n1.5, 2, red, a\n-3, 4e2, blue, b\n0, 0, , \n",
    )
    .unwrap();
    let s = import(dir.path(), &csv, &opts(Format::Csv), &mut NoProgress).unwrap();
    assert_eq!(
        (s.added, s.features.clone()),
        (3, vec!["x".to_string(), "y".into()])
    );
    assert_eq!(s.meta_fields, vec!["colour".to_string()]);
    let store = Store::open(dir.path()).unwrap();
    let snap = store.snapshot(&s.commit).unwrap();
    let row = &snap.rows[1];
    assert_eq!(row.id, "points:00001");
    assert_eq!(row.label.as_deref(), Some("b"));
    assert_eq!(row.meta, r#"{"colour":"blue"}"#);
    let values = anneal_data::payload::decode_f32(snap.payload(row).unwrap()).unwrap();
    assert_eq!(values, vec![-3.0, 400.0]);
    // An empty label is the unlabeled pool; an empty metadata value is left out.
    assert_eq!(
        (snap.rows[2].label.clone(), snap.rows[2].meta.clone()),
        (None, Default::default())
    );
}

#[test]
fn csv_errors_name_the_file_line_and_column_and_change_nothing() {
    let (dir, _store, _) = one_commit(20);
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "a,b,label\n1,2,x\n3,4\n").unwrap();
    let err = failed_import(dir.path(), &csv, &opts(Format::Csv));
    assert!(
        err.ends_with("bad.csv: line 3: 2 fields where the header has 3"),
        "{err}"
    );
    std::fs::write(&csv, "a,b,label\n1,2,x\n3,four,y\n").unwrap();
    let explicit = ImportOptions {
        features: Some(vec!["a".into(), "b".into()]),
        ..opts(Format::Csv)
    };
    let err = failed_import(dir.path(), &csv, &explicit);
    assert!(
        err.ends_with("bad.csv: line 3, column `b`: expected a number, found `four`"),
        "{err}"
    );
    // Without --features the column of words is metadata, not an error.
    let err = failed_import(
        dir.path(),
        &csv,
        &ImportOptions {
            label_column: "class".into(),
            ..opts(Format::Csv)
        },
    );
    assert!(
        err.ends_with("no column `class` (named by --label-column); the header has: a, b, label"),
        "{err}"
    );
}

#[test]
fn image_folder_with_a_labels_csv_and_a_png_that_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("pics");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    for (i, name) in ["a.png", "b.png", "sub/c.jpg"].iter().enumerate() {
        let img =
            image::GrayImage::from_fn(4, 3, |x, y| image::Luma([(x + y) as u8 * 20 + i as u8]));
        img.save(folder.join(name)).unwrap();
    }
    let labels = dir.path().join("labels.csv");
    std::fs::write(
        &labels,
        "filename,label\na.png,cat\nb.png,dog\nsub/c.jpg,cat\n",
    )
    .unwrap();
    let o = ImportOptions {
        labels: Some(labels.clone()),
        ..opts(Format::Images)
    };
    let s = import(dir.path(), &folder, &o, &mut NoProgress).unwrap();
    assert_eq!((s.added, s.image), (3, [3, 4]));
    let store = Store::open(dir.path()).unwrap();
    let rows = store.snapshot(&s.commit).unwrap().rows;
    let ids: Vec<_> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.label.as_deref()))
        .collect();
    assert_eq!(
        ids,
        [
            ("pics:a", Some("cat")),
            ("pics:b", Some("dog")),
            ("pics:sub/c", Some("cat"))
        ]
    );

    // A second folder: a .png that is not a PNG, an unlisted image, a listed file missing.
    let more = dir.path().join("more");
    std::fs::create_dir_all(&more).unwrap();
    std::fs::copy(folder.join("a.png"), more.join("ok.png")).unwrap();
    std::fs::write(more.join("fake.png"), b"GIF89a not a png").unwrap();
    std::fs::write(&labels, "fake.png,cat\nok.png,dog\n").unwrap();
    let err = failed_import(dir.path(), &more, &o);
    assert!(
        err.contains("more/fake.png: not a readable PNG or JPEG image"),
        "{err}"
    );
    std::fs::remove_file(more.join("fake.png")).unwrap();
    let err = failed_import(dir.path(), &more, &o);
    assert!(
        err.ends_with(&format!(
            "labels.csv: line 1: `fake.png` is not a file in {}",
            more.display()
        )),
        "{err}"
    );
    std::fs::write(&labels, "other.png,cat\n").unwrap();
    let err = failed_import(dir.path(), &more, &o);
    assert!(err.contains("more/ok.png: not listed in"), "{err}");
}

#[test]
fn wav_folder_by_pattern_with_joined_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("rec");
    std::fs::create_dir_all(&folder).unwrap();
    for (digit, speaker, take) in [(0, "ann", 0), (1, "ann", 1), (1, "bob", 0)] {
        std::fs::write(
            folder.join(format!("{digit}_{speaker}_{take}.wav")),
            wav_bytes(8000, 100 + take),
        )
        .unwrap();
    }
    let speakers = dir.path().join("speakers.csv");
    std::fs::write(
        &speakers,
        "speaker,gender,accent\nann,female,x\nbob,male,y\n",
    )
    .unwrap();
    let o = ImportOptions {
        pattern: Some("{label}_{speaker}_{take}.wav".parse().unwrap()),
        meta: Some(speakers.clone()),
        ..opts(Format::Wav)
    };
    assert_eq!(Format::detect(&folder), Format::Wav);
    let s = import(dir.path(), &folder, &o, &mut NoProgress).unwrap();
    assert_eq!(s.detail, "WAV 8000 Hz, 1 channel");
    assert_eq!(s.meta_fields, ["accent", "gender", "speaker", "take"]);
    let store = Store::open(dir.path()).unwrap();
    let snap = store.snapshot(&s.commit).unwrap();
    assert_eq!(snap.rows[2].id, "rec:1_bob_0");
    assert_eq!(
        snap.rows[2].meta,
        r#"{"accent":"y","gender":"male","speaker":"bob","take":"0"}"#
    );
    assert!(anneal_data::payload::is_wav(
        snap.payload(&snap.rows[2]).unwrap()
    ));
    let stats = Stats::of(&snap.rows);
    assert_eq!(stats.meta["gender"]["female"], 2);
    assert_eq!(stats.counts["train"]["1"], 2);

    // Errors: a WAV with a wrong header, a name off the pattern, a speaker not in the file.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let mut broken = wav_bytes(8000, 10);
    broken[8..12].copy_from_slice(b"WAVX");
    std::fs::write(bad.join("2_ann_0.wav"), broken).unwrap();
    let err = failed_import(dir.path(), &bad, &o);
    assert!(
        err.contains("bad/2_ann_0.wav: not a readable WAV file"),
        "{err}"
    );
    std::fs::write(bad.join("2_ann_0.wav"), wav_bytes(8000, 10)).unwrap();
    std::fs::write(bad.join("2-cid.wav"), wav_bytes(8000, 10)).unwrap();
    let err = failed_import(dir.path(), &bad, &o);
    assert!(
        err.ends_with(
            "bad/2-cid.wav: the file name does not match --pattern `{label}_{speaker}_{take}.wav`"
        ),
        "{err}"
    );
    std::fs::rename(bad.join("2-cid.wav"), bad.join("2_cid_0.wav")).unwrap();
    let err = failed_import(dir.path(), &bad, &o);
    assert!(
        err.ends_with(&format!(
            "example `bad:2_cid_0`: speaker `cid` is not in {}",
            speakers.display()
        )),
        "{err}"
    );
    // A truncated data chunk is caught at import, not at build.
    let mut short = wav_bytes(8000, 10);
    short.truncate(short.len() - 7);
    std::fs::write(bad.join("2_cid_0.wav"), short).unwrap();
    let err = failed_import(
        dir.path(),
        &bad,
        &ImportOptions {
            meta: None,
            ..o.clone()
        },
    );
    assert!(
        err.contains("bad/2_cid_0.wav: not a readable WAV file"),
        "{err}"
    );
}

#[test]
fn jsonl_features_paths_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clip.wav"), wav_bytes(16000, 50)).unwrap();
    let src = dir.path().join("items.jsonl");
    std::fs::write(
        &src,
        concat!(
            "{\"label\": \"up\", \"features\": [1, 2.5], \"source\": \"web\"}\n",
            "\n",
            "{\"id\": \"x7\", \"label\": 3, \"path\": \"clip.wav\"}\n",
            "{\"features\": [0, 0], \"label\": null}\n",
        ),
    )
    .unwrap();
    let s = import(dir.path(), &src, &opts(Format::Jsonl), &mut NoProgress).unwrap();
    assert_eq!(s.added, 3);
    let rows = Store::open(dir.path())
        .unwrap()
        .snapshot(&s.commit)
        .unwrap()
        .rows;
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.label.as_deref(), r.meta.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("items:00000", Some("up"), r#"{"source":"web"}"#),
            ("items:00002", None, ""),
            ("items:x7", Some("3"), ""),
        ]
    );
    for (text, want) in [
        (
            "{\"label\": 1, \"features\": [1]}\n{\"label\": 2, \"features\": [1, \"two\"]}\n",
            "items.jsonl: line 2: `features[1]`: expected a number, found `\"two\"`",
        ),
        (
            "{\"label\": 1, \"features\": [1]}\n\n{\"label\": 1, \"features\": [1, 2]}\n",
            "items.jsonl: line 3: 2 features where line 1 has 1",
        ),
        (
            "{\"label\": 1, \"features\": [1]}\n{\"label\": 1, \"features\": [1]\n",
            "items.jsonl: line 2: not valid JSON",
        ),
        (
            "[1, 2]\n",
            "items.jsonl: line 1: expected a JSON object, found `[1,2]`",
        ),
        (
            "{\"label\": 1}\n",
            "items.jsonl: line 1: no `features` (an array of numbers) or `path` (a file)",
        ),
    ] {
        std::fs::write(&src, text).unwrap();
        let err = failed_import(dir.path(), &src, &opts(Format::Jsonl));
        assert!(err.contains(want), "{err}\nwanted: {want}");
    }
}

#[test]
fn options_a_format_does_not_use_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("x.csv");
    std::fs::write(&src, "a,label\n1,x\n").unwrap();
    let o = ImportOptions {
        pattern: Some("{label}.wav".parse().unwrap()),
        ..opts(Format::Csv)
    };
    let err = failed_import(dir.path(), &src, &o);
    assert_eq!(err, "--pattern does not apply to --format csv");
    let long = ImportOptions {
        split: "s".repeat(300),
        ..opts(Format::Csv)
    };
    let err = failed_import(dir.path(), &src, &long);
    assert!(
        err.ends_with("is 300 bytes long; at most 255 are stored"),
        "{err}"
    );
    assert!(!dir.path().join(".anneal").exists());
}

#[test]
fn staged_edits_commit_together_and_go_stale_when_the_branch_moves() {
    use anneal_data::tables::Change;
    let (_dir, store, first) = one_commit(50);
    let label = |id: &str, l: &str| Change::Label {
        id: id.into(),
        label: Some(l.into()),
    };
    store.stage(vec![label("digits:00001", "9")]).unwrap();
    let staged = store
        .stage(vec![Change::Remove {
            id: "digits:00002".into(),
        }])
        .unwrap();
    assert_eq!(staged.changes.len(), 2);
    assert_eq!(
        store.head().unwrap(),
        Some(first),
        "staging commits nothing"
    );
    assert!(matches!(
        store.stage(vec![label("nope", "1")]),
        Err(StoreError::UnknownExample { .. })
    ));
    assert!(matches!(
        store.checkout("main"),
        Err(StoreError::Staged { .. })
    ));
    let c = store.commit_staged("two edits").unwrap().unwrap();
    assert_eq!(store.log().unwrap().len(), 2);
    assert_eq!(store.staged().unwrap(), None);
    let rows = store.snapshot(&c).unwrap().rows;
    assert_eq!(rows.len(), 49);
    assert_eq!(rows[1].label.as_deref(), Some("9"));
    assert!(matches!(
        store.commit_staged("again"),
        Err(StoreError::NothingStaged)
    ));
    // Staged on one commit, the branch moves: committing is refused until reset.
    store.stage(vec![label("digits:00003", "9")]).unwrap();
    store
        .apply("elsewhere", &[label("digits:00004", "9")])
        .unwrap();
    assert!(matches!(
        store.commit_staged("late"),
        Err(StoreError::StaleIndex { .. })
    ));
    assert_eq!(
        store.reset_staged().unwrap(),
        anneal_data::stage::Dropped::Changes(1)
    );
    assert_eq!(store.staged().unwrap(), None);
}

#[test]
fn fsdd_with_pattern_and_speakers_metadata() {
    let Some(fsdd) = shared_datasets("fsdd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = ImportOptions {
        pattern: Some("{label}_{speaker}_{take}.wav".parse().unwrap()),
        meta: Some(fsdd.join("speakers.csv")),
        ..opts(Format::Wav)
    };
    let s = import(dir.path(), &fsdd.join("recordings"), &o, &mut NoProgress).unwrap();
    assert_eq!(s.added, 3000);
    let rows = Store::open(dir.path())
        .unwrap()
        .snapshot(&s.commit)
        .unwrap()
        .rows;
    let stats = Stats::of(&rows);
    assert_eq!(stats.meta["speaker"].len(), 6);
    assert!(stats.meta["speaker"].values().all(|&n| n == 500));
    assert_eq!(stats.meta["gender"]["male"], 3000);
    assert_eq!(stats.counts["train"].len(), 10);
    assert!(stats.counts["train"].values().all(|&n| n == 300));
}

#[test]
fn adult_csv_numeric_features_and_categorical_metadata() {
    let Some(adult) = shared_datasets("adult") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = ImportOptions {
        label_column: "Y".into(),
        ..opts(Format::Csv)
    };
    let s = import(dir.path(), &adult.join("adult.data"), &o, &mut NoProgress).unwrap();
    assert_eq!(s.added, 32561);
    assert_eq!(
        s.features,
        [
            "age",
            "fnlwgt",
            "education-num",
            "capital-gain",
            "capital-loss",
            "hours-per-week"
        ]
    );
    assert!(s.meta_fields.contains(&"sex".to_string()));
    let rows = Store::open(dir.path())
        .unwrap()
        .snapshot(&s.commit)
        .unwrap()
        .rows;
    let stats = Stats::of(&rows);
    let sex = &stats.meta["sex"];
    assert_eq!(sex.keys().collect::<Vec<_>>(), ["Female", "Male"]);
    assert_eq!(sex["Female"] + sex["Male"], 32561);
    assert_eq!(
        stats.counts["train"].keys().collect::<Vec<_>>(),
        ["<=50K", ">50K"]
    );
}
