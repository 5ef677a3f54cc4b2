//! `anneal build`: compile a program and its dataset commit into a package.
//!
//! Resolve the dataset commit (importing the manifest's declared sources into an empty store),
//! compute the build key, return early if the package for that key exists, otherwise decode,
//! train, evaluate and write the package, the report and `anneal.lock`, each atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anneal_data::fs::write_atomic;
use anneal_data::object::Row;
use anneal_data::payload::decode_image;
use anneal_data::{ContentHash, Store, StoreError};
use anneal_engine::{ENGINE, ENGINE_VERSION, Examples, Model, Normalization, Observer, preprocess};
use anneal_pack::{Lineage, Metrics, Package, Signature};
use anneal_spec::Program;
use serde::Serialize;

use crate::error::CliError;
use crate::project::Project;

/// What a build produced.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutcome {
    /// The package file.
    pub package: PathBuf,
    /// True when the package for this key already existed.
    pub fresh: bool,
    /// The build key.
    pub build_key: String,
    /// The dataset commit.
    pub dataset_commit: String,
    /// Test accuracy.
    pub accuracy: f64,
    /// Test examples.
    pub test_examples: usize,
    /// Wall time of the whole build, seconds.
    pub seconds: f64,
}

/// The build key: BLAKE3 over the canonical program, the dataset commit, the engine and its
/// version, and the seed.
pub fn build_key(program: &Program, commit: &ContentHash) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"anneal-build-key 1\n");
    h.update(program.canonical_json().as_bytes());
    h.update(
        format!(
            "\n{commit}\n{ENGINE} {ENGINE_VERSION}\nseed {}\n",
            program.train.seed
        )
        .as_bytes(),
    );
    h.finalize().to_hex().to_string()
}

/// The package path of a program: `target/NAME-VERSION.anneal`.
pub fn package_path(project: &Project) -> PathBuf {
    project.dir.join("target").join(format!(
        "{}-{}.anneal",
        project.program.name, project.program.version
    ))
}

/// Resolve the dataset commit, importing declared sources into an empty store.
pub fn resolve_commit(
    project: &Project,
    log: &mut dyn FnMut(String),
) -> Result<ContentHash, CliError> {
    match Store::open(&project.dir) {
        Ok(store) => {
            if let Some(h) = store.head()? {
                return Ok(h);
            }
        }
        Err(StoreError::NoStore { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if project.program.sources.is_empty() {
        return Err(CliError::new(format!("the program in {} has no dataset commit", project.dir.display()))
            .hint("import data first: `anneal data import SOURCE --split train`, or declare `[[data.source]]` in anneal.toml"));
    }
    import_sources(project, log)
}

/// Import every declared source as one commit: a source that fails leaves no other imported,
/// so the next build does not train on part of the program's data.
fn import_sources(project: &Project, log: &mut dyn FnMut(String)) -> Result<ContentHash, CliError> {
    use anneal_data::import::{Format, ImportOptions, NoProgress, import_all};
    let sources = &project.program.sources;
    let paths: Vec<PathBuf> = sources.iter().map(|s| project.dir.join(&s.path)).collect();
    let opts: Vec<ImportOptions> = sources
        .iter()
        .map(|s| ImportOptions {
            split: s.split.clone(),
            ..ImportOptions::new(if s.format == "images" {
                Format::Images
            } else {
                Format::Idx
            })
        })
        .collect();
    for (path, s) in paths.iter().zip(sources) {
        log(format!("importing {} (split {})", path.display(), s.split));
    }
    let pairs: Vec<(&Path, &ImportOptions)> = paths
        .iter()
        .map(PathBuf::as_path)
        .zip(opts.iter())
        .collect();
    let summary = import_all(&project.dir, &pairs, &mut NoProgress).map_err(|e| {
        let context = format!("the declared sources in {}", project.manifest_display());
        CliError::from(e).context(context)
    })?;
    Ok(summary.commit)
}

/// Write `anneal.lock` for a package of `bytes`, unless it already says exactly that.
fn write_lock(
    project: &Project,
    commit: &ContentHash,
    key: &str,
    bytes: &[u8],
) -> Result<(), CliError> {
    let lock = project.dir.join("anneal.lock");
    let text = format!(
        "# Written by `anneal build`: what the last build used.\ndataset-commit = \"{commit}\"\nengine = \"{ENGINE} {ENGINE_VERSION}\"\nbuild-key = \"{key}\"\npackage = \"{}\"\n",
        Package::digest(bytes)
    );
    if std::fs::read_to_string(&lock).is_ok_and(|t| t == text) {
        return Ok(());
    }
    write_atomic(&lock, text.as_bytes()).map_err(|e| CliError::io(&lock, e))
}

/// Decoded, preprocessed examples of one split.
struct Split {
    ids: Vec<String>,
    pixels: Vec<u8>,
    labels: Vec<u32>,
}

fn collect_split(
    program: &Program,
    store: &Store,
    commit: &ContentHash,
    split: &str,
) -> Result<Split, CliError> {
    let snap = store.snapshot(commit)?;
    let [c, h, w] = match program.input.shape {
        anneal_spec::Shape::Image(d) => d,
        anneal_spec::Shape::Flat(_) => {
            return Err(CliError::new("only image programs can be built"));
        }
    };
    let rows: Vec<&Row> = snap
        .rows
        .iter()
        .filter(|r| r.split == split && r.label.is_some())
        .collect();
    let mut out = Split {
        ids: Vec::with_capacity(rows.len()),
        pixels: Vec::with_capacity(rows.len() * c * h * w),
        labels: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        let label = row.label.as_deref().unwrap_or_default();
        let Some(class) = program.classes.iter().position(|k| k == label) else {
            return Err(CliError::new(format!(
                "example `{}` has label `{label}`, which is not one of the program's classes ({})",
                row.id,
                program.classes.join(", ")
            ))
            .hint("fix the label, or add the class to `classes` in anneal.toml"));
        };
        let image = decode_image(snap.payload(row)?, c, h, w).map_err(|e| {
            CliError::new(format!("example `{}`: {e}", row.id))
                .hint("set `shape` in [data] to match the dataset")
        })?;
        out.ids.push(row.id.clone());
        out.pixels.extend_from_slice(&image.pixels);
        out.labels.push(class as u32);
    }
    Ok(out)
}

/// The report a build leaves for mislabel review: per-example training loss at each epoch and
/// test-set probabilities.
#[derive(Debug, Serialize)]
struct Report<'a> {
    format: u32,
    build_key: &'a str,
    dataset_commit: String,
    classes: &'a [String],
    train: TrainReport<'a>,
    test: TestReport<'a>,
}

#[derive(Debug, Serialize)]
struct TrainReport<'a> {
    ids: &'a [String],
    labels: &'a [u32],
    /// `loss[epoch][example]`
    loss: &'a [Vec<f32>],
}

#[derive(Debug, Serialize)]
struct TestReport<'a> {
    ids: &'a [String],
    labels: &'a [u32],
    /// `probs[example][class]`
    probs: Vec<&'a [f32]>,
}

/// Build `project`. `observer` receives training progress; `log` gets one-line notes.
pub fn build(
    project: &Project,
    observer: &mut dyn Observer,
    log: &mut dyn FnMut(String),
) -> Result<BuildOutcome, CliError> {
    let start = Instant::now();
    let program = &project.program;
    let commit = resolve_commit(project, log)?;
    let key = build_key(program, &commit);
    let path = package_path(project);
    let report_path = path.with_extension("report.json");
    if let Ok(header) = anneal_pack::Header::read(&path)
        && header.lineage.build_key == key
        && report_path.is_file()
    {
        // The package is current; a lock lost (or left stale by a crash between the package
        // and the lock) is written again from it.
        let bytes = std::fs::read(&path).map_err(|e| CliError::io(&path, e))?;
        write_lock(project, &commit, &key, &bytes)?;
        return Ok(BuildOutcome {
            package: path,
            fresh: true,
            build_key: key,
            dataset_commit: commit.to_hex(),
            accuracy: header.metrics.accuracy,
            test_examples: header.metrics.examples,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let store = Store::open(&project.dir)?;
    let train = collect_split(program, &store, &commit, &program.train_split)?;
    let test = collect_split(program, &store, &commit, &program.test_split)?;
    if train.labels.is_empty() {
        return Err(CliError::new(format!(
            "the dataset has no labelled examples in split `{}`",
            program.train_split
        ))
        .hint("import training data with `anneal data import SOURCE --split train`"));
    }
    anneal_spec::budget::report(train.labels.len(), program.train.epochs)
        .map_err(|m| CliError::new(m).hint("train for fewer epochs"))?;
    if test.labels.is_empty() {
        return Err(CliError::new(format!(
            "the dataset has no labelled examples in split `{}`: the build could not be tested",
            program.test_split
        ))
        .hint("import test data with `anneal data import SOURCE --split test`, or set `test-split` in [data]"));
    }
    let norm = Normalization::fit(program.input.normalize, &train.pixels);
    log(format!(
        "training on {} examples ({}), testing on {} ({}), {} threads",
        train.labels.len(),
        program.train_split,
        test.labels.len(),
        program.test_split,
        anneal_engine::threads()
    ));
    let x = preprocess(&train.pixels, &norm);
    let trained = anneal_engine::train(
        program,
        &Examples {
            x: &x,
            y: &train.labels,
        },
        observer,
    )?;
    drop(x);

    let model = Model::new(program, &trained.weights)?;
    let probs = model.predict(&preprocess(&test.pixels, &norm))?;
    let metrics = Metrics::compute(&probs, &test.labels, &program.classes);
    let package = Package {
        program: program.clone(),
        signature: signature(program, &norm),
        lineage: Lineage {
            dataset_commit: commit.to_hex(),
            build_key: key.clone(),
            engine: ENGINE.into(),
            engine_version: ENGINE_VERSION.into(),
            seed: program.train.seed,
            threads: anneal_engine::threads(),
            anneal_version: env!("CARGO_PKG_VERSION").into(),
            parents: Vec::new(),
        },
        metrics,
        cost: program.cost.clone(),
        weights: trained.weights,
    };
    let bytes = package
        .to_bytes()
        .map_err(|e| CliError::new(format!("could not serialize the package: {e}")))?;
    let target = project.dir.join("target");
    std::fs::create_dir_all(&target).map_err(|e| CliError::io(&target, e))?;
    let report = Report {
        format: 1,
        build_key: &key,
        dataset_commit: commit.to_hex(),
        classes: &program.classes,
        train: TrainReport {
            ids: &train.ids,
            labels: &train.labels,
            loss: &trained.losses,
        },
        test: TestReport {
            ids: &test.ids,
            labels: &test.labels,
            probs: probs.chunks(program.classes.len()).collect(),
        },
    };
    let report_bytes = serde_json::to_vec(&report)
        .map_err(|e| CliError::new(format!("could not serialize the report: {e}")))?;
    write_atomic(&report_path, &report_bytes).map_err(|e| CliError::io(&report_path, e))?;
    write_atomic(&path, &bytes).map_err(|e| CliError::io(&path, e))?;
    write_lock(project, &commit, &key, &bytes)?;
    Ok(BuildOutcome {
        package: path,
        fresh: false,
        build_key: key,
        dataset_commit: commit.to_hex(),
        accuracy: package.metrics.accuracy,
        test_examples: package.metrics.examples,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The package signature of a program.
pub fn signature(program: &Program, norm: &Normalization) -> Signature {
    let normalization = anneal_pack::Normalization {
        scale: norm.scale,
        mean: norm.mean,
        std: norm.std,
    };
    Signature::for_program(program, normalization)
}

/// The engine normalisation recorded in a signature.
pub fn normalization(sig: &Signature) -> Normalization {
    Normalization {
        scale: sig.normalization.scale,
        mean: sig.normalization.mean,
        std: sig.normalization.std,
    }
}
