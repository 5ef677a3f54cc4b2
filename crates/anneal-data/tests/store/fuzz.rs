//! Fuzz targets for every parser of untrusted bytes in the store and the importers (see
//! `anneal-fuzz`), and property tests of the row encodings.

use anneal_data::import::{Format, ImportOptions, NoProgress, read};
use anneal_data::object::{
    ChunkRef, Edit, FullTable, PatchTable, Row, Table, decode_chunk, decode_pack, decode_table,
    encode_chunk, encode_pack, encode_table, find_rows,
};
use proptest::prelude::*;

use super::*;

fn row_strategy() -> impl Strategy<Value = Row> {
    let text = prop_oneof![
        ".{0,12}",
        Just("x".repeat(65_534)),
        Just("y".repeat(65_536))
    ];
    let split = prop_oneof!["[a-z]{0,8}", Just("s".repeat(255)), Just("s".repeat(256))];
    (
        text.clone(),
        prop::option::of(text),
        split,
        "[a-z{}\":]{0,20}",
        any::<[u8; 32]>(),
    )
        .prop_map(|(id, label, split, meta, h)| Row {
            id: id.into(),
            payload: ContentHash(h),
            label,
            split,
            meta: meta.into(),
        })
}

fn fits(r: &Row) -> bool {
    r.id.len() <= 65_535
        && r.label.as_ref().is_none_or(|l| l.len() <= 65_534)
        && r.split.len() <= 255
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any rows (sorted, unique ids, as tables hold them) that encode decode to themselves; a
    /// row that does not fit is refused, never written with a wrapped length.
    #[test]
    fn rows_round_trip_or_are_refused(mut rows in prop::collection::vec(row_strategy(), 0..6)) {
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows.dedup_by(|a, b| a.id == b.id);
        let all_fit = rows.iter().all(fits);
        match encode_chunk(&rows) {
            Ok(body) => {
                prop_assert!(all_fit);
                prop_assert_eq!(decode_chunk(&body).unwrap(), rows.clone());
            }
            Err(_) => prop_assert!(!all_fit),
        }
        let edits: Vec<Edit> = rows.iter().cloned().map(Edit::Add).collect();
        let patch = Table::Patch(PatchTable { base: ContentHash([1; 32]).into(), depth: 1, rows: 3, packs: vec![ContentHash([2; 32])], edits });
        match encode_table(&patch) {
            Ok(body) => prop_assert_eq!(decode_table(&body).unwrap(), patch),
            Err(_) => prop_assert!(!all_fit),
        }
    }
}

fn seed_rows() -> Vec<Row> {
    (0..20)
        .map(|i| Row {
            id: format!("digits:{i:05}").into(),
            payload: ContentHash::of(&[i as u8]),
            label: (i % 3 != 0).then(|| (i % 10).to_string()),
            split: "train".into(),
            meta: if i % 2 == 0 {
                r#"{"speaker":"jo"}"#.into()
            } else {
                Default::default()
            },
        })
        .collect()
}

fn object_seeds() -> Vec<Vec<u8>> {
    let rows = seed_rows();
    let chunk = encode_chunk(&rows).unwrap();
    let full = Table::Full(FullTable {
        rows: 20,
        chunks: vec![ChunkRef {
            hash: ContentHash([3; 32]),
            rows: 20,
            first: rows[0].id.clone(),
        }],
        packs: vec![ContentHash([4; 32])],
    });
    let patch = Table::Patch(PatchTable {
        base: ContentHash([5; 32]).into(),
        depth: 2,
        rows: 20,
        packs: vec![],
        edits: vec![
            Edit::Change(rows[1].clone(), rows[2].clone()),
            Edit::Remove(rows[3].clone()),
        ],
    });
    let (pack, _) = encode_pack(&[b"one", b"two blobs", b""]);
    vec![
        chunk,
        encode_table(&full).unwrap(),
        encode_table(&patch).unwrap(),
        pack,
    ]
}

proptest! {
    #![proptest_config(anneal_fuzz::config())]

    /// Store objects: chunks, tables, packs and commits decode or fail with a typed error.
    #[test]
    fn fuzz_store_objects(input in anneal_fuzz::bytes(object_seeds())) {
        if let Ok(rows) = decode_chunk(&input) {
            prop_assert_eq!(decode_chunk(&encode_chunk(&rows).unwrap()).unwrap(), rows);
        }
        let _ = find_rows(&input, &["digits:00004", "digits:00017"]);
        if let Ok(t) = decode_table(&input) {
            prop_assert_eq!(decode_table(&encode_table(&t).unwrap()).unwrap(), t);
        }
        if let Ok(entries) = decode_pack(&input) {
            prop_assert!(entries.iter().all(|(_, r)| r.end <= input.len()));
        }
        let _ = serde_json::from_slice::<anneal_data::object::Commit>(&input);
    }
}

fn idx_seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let stem = write_idx(dir.path(), "s", 3);
    let images = std::fs::read(stem.with_file_name("s-images-idx3-ubyte")).unwrap();
    let labels = std::fs::read(stem.with_file_name("s-labels-idx1-ubyte")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &images).unwrap();
    vec![images, labels, gz.finish().unwrap()]
}

/// Writes each case to one file of a folder kept for the whole run.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(tempfile::tempdir().unwrap())
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

proptest! {
    #![proptest_config(anneal_fuzz::config())]

    /// IDX images and labels, gzipped or not.
    #[test]
    fn fuzz_idx(input in anneal_fuzz::bytes(idx_seeds())) {
        let _ = anneal_data::idx::parse_images(Path::new("f"), input.clone());
        let _ = anneal_data::idx::parse_labels(Path::new("f"), input.clone());
        let scratch = Scratch::new();
        let path = scratch.file("f-images-idx3-ubyte", &input);
        let _ = anneal_data::idx::read(&path, true);
    }

    /// CSV sources: features, labels and metadata.
    #[test]
    fn fuzz_csv(input in anneal_fuzz::bytes(vec![
        b"x,y,label,sex\n1,2.5,a,F\n3,-4e3,b,M\n\"5\",6,,F\n".to_vec(),
        b"id,label\nq,1\n".to_vec(),
    ])) {
        let scratch = Scratch::new();
        let path = scratch.file("f.csv", &input);
        let _ = read(&path, &ImportOptions::new(Format::Csv), &mut NoProgress);
    }

    /// JSONL sources, with features or paths.
    #[test]
    fn fuzz_jsonl(input in anneal_fuzz::bytes(vec![
        b"{\"label\": \"up\", \"features\": [1, 2.5], \"source\": \"web\"}\n\n{\"id\": 7, \"label\": 3, \"features\": [0, 1e9]}\n".to_vec(),
        b"{\"path\": \"a.wav\", \"label\": null}\n".to_vec(),
    ])) {
        let scratch = Scratch::new();
        scratch.file("a.wav", &wav_bytes(8000, 16));
        let path = scratch.file("f.jsonl", &input);
        let _ = read(&path, &ImportOptions::new(Format::Jsonl), &mut NoProgress);
    }

    /// WAV files, as a folder import reads them.
    #[test]
    fn fuzz_wav(input in anneal_fuzz::bytes(vec![wav_bytes(8000, 40), wav_bytes(16000, 3)])) {
        let scratch = Scratch::new();
        scratch.file("0_jo_1.wav", &input);
        let mut o = ImportOptions::new(Format::Wav);
        o.unlabeled = true;
        let _ = read(scratch.0.path(), &o, &mut NoProgress);
    }
}
