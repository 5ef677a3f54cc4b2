//! Audio programs (issue 13): FSDD recordings imported by pattern with their speakers, split by
//! take, built through the log-mel front end and tested per speaker; WAVs the program cannot
//! take refused with the example named.

use super::*;

const SPOKEN: &str = r#"[program]
name = "spoken"
version = "0.1.0"

[data]
input = "audio"
classes = 10

[model]
layers = ["conv 8 3x3 pad 1", "batchnorm", "relu", "maxpool 2", "flatten", "dense 10"]

[train]
epochs = 6
batch = 32
optimizer = "adam 2e-3"
augment = "time-shift 4"

[[check]]
metric = "accuracy"
for_each = "speaker"
at_least = 0.3
"#;

/// The FSDD recordings of takes 0-9 (600 of them) copied into `dir`.
fn some_recordings(fsdd: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(fsdd.join("recordings")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let take: usize = name
            .trim_end_matches(".wav")
            .rsplit('_')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        if take < 10 {
            std::fs::copy(&path, dir.join(name)).unwrap();
        }
    }
}

/// A temp folder holding `prog/` with the `SPOKEN` program and no data.
fn spoken_program() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let prog = tmp.path().join("prog");
    std::fs::create_dir_all(&prog).unwrap();
    std::fs::write(prog.join("anneal.toml"), SPOKEN).unwrap();
    tmp
}

#[test]
fn an_audio_program_builds_from_fsdd_and_is_tested_per_speaker() {
    let Some(fsdd) = shared_dataset("fsdd") else {
        return;
    };
    let tmp = spoken_program();
    some_recordings(&fsdd, &tmp.path().join("rec"));
    let meta = fsdd.join("speakers.csv");
    let import = [
        "data",
        "import",
        "rec",
        "--pattern",
        "{label}_{speaker}_{take}.wav",
        "--meta",
    ];
    ok(
        tmp.path(),
        &[
            &import[..],
            &[meta.to_str().unwrap(), "--split", "train", "-C", "prog"],
        ]
        .concat(),
    );
    let moved = ok(
        tmp.path(),
        &[
            "data", "split", "--where", "take=0,1", "--to", "test", "-C", "prog",
        ],
    );
    assert!(moved.starts_with("moved 120 examples"), "{moved}");
    let built = json_of(
        ok(tmp.path(), &["build", "-C", "prog", "--json"])
            .lines()
            .last()
            .unwrap(),
    );
    let accuracy = built["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.6, "accuracy {accuracy} on 120 (chance 0.1)");
    let tested = json_of(&ok(tmp.path(), &["test", "-C", "prog", "--json"]));
    let results = tested["results"].as_array().unwrap();
    assert_eq!(results.len(), 6, "one result per speaker: {tested}");
    assert!(results.iter().all(|r| r["examples"] == 20), "{tested}");
    let package = "prog/target/spoken-0.1.0.anneal";
    let heard = json_of(&ok(
        tmp.path(),
        &["predict", package, "rec/7_theo_0.wav", "--json"],
    ));
    assert_eq!(
        heard[0]["probabilities"].as_array().unwrap().len(),
        10,
        "{heard}"
    );
    std::fs::write(tmp.path().join("stereo.wav"), stereo(4000)).unwrap();
    let o = anneal(tmp.path(), &["predict", package, "stereo.wav"]);
    assert!(
        stderr(&o).contains("stereo.wav: 2 channels; the program takes mono audio"),
        "{}",
        stderr(&o)
    );
}

/// `wav_bytes` with two channels.
fn stereo(n: usize) -> Vec<u8> {
    let mut b = wav_bytes(n);
    b[22..24].copy_from_slice(&2u16.to_le_bytes());
    b[28..32].copy_from_slice(&32000u32.to_le_bytes());
    b[32..34].copy_from_slice(&4u16.to_le_bytes());
    b
}

/// `wav_bytes` at another sample rate.
fn wav_at(rate: u32, n: usize) -> Vec<u8> {
    let mut b = wav_bytes(n);
    b[24..28].copy_from_slice(&rate.to_le_bytes());
    b[28..32].copy_from_slice(&(rate * 2).to_le_bytes());
    b
}

#[test]
fn a_recording_at_another_rate_fails_the_build_naming_it() {
    let tmp = spoken_program();
    let rec = tmp.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    for (i, bytes) in [wav_at(8000, 4000), wav_at(8000, 9000), wav_at(16000, 4000)]
        .iter()
        .enumerate()
    {
        std::fs::write(rec.join(format!("{}_x_{i}.wav", i % 10)), bytes).unwrap();
    }
    let import = [
        "data",
        "import",
        "rec",
        "--pattern",
        "{label}_{speaker}_{take}.wav",
    ];
    ok(
        tmp.path(),
        &[&import[..], &["--split", "train", "-C", "prog"]].concat(),
    );
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("example `rec:2_x_2`: sampled at 16000 Hz; the program takes 8000 Hz"),
        "{err}"
    );
    assert!(
        err.contains("hint: convert the recordings to mono WAV at the `rate` of [data.audio]"),
        "{err}"
    );
}
