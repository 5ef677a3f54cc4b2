//! # anneal-build: the build as a library
//!
//! `anneal build` compiles a program and its dataset commit into a package. This crate is that
//! pipeline, for the CLI and for anything else that builds (the studio, a Python binding):
//!
//! - [`project`]: find and load a program folder (`anneal.toml`, validated).
//! - [`sources`]: the dataset commit: HEAD, or the declared `[[data.source]]`s imported as one
//!   commit into an empty store.
//! - [`key`]: the build key, BLAKE3 over what the weights are a pure function of.
//! - [`split`]: one split decoded into the program's input shape.
//! - [`report`]: the report (per-example losses, probabilities on the training, test and
//!   unlabeled examples) and `anneal.lock`.
//! - [`queue`]: the mislabel and active-learning queues, from a report.
//! - [`evaluate`]: a package's metrics on a split of the store, per value of a metadata field.
//! - [`compose`]: a program that `use`s a dependency, with the dependency's layers and weights.
//! - [`build`]: the whole pipeline; a cache hit returns at once.
//! - [`tune`]: the program at several widths, and the Pareto front of accuracy against latency.
//!
//! Every error is a [`BuildError`] naming the input, with a [`BuildError::hint`].

pub mod compose;
pub mod deps;
pub mod engine;
mod error;
pub mod evaluate;
pub mod key;
pub mod lock;
pub mod project;
pub mod quantize;
pub mod queue;
pub mod report;
mod robustness;
pub mod sources;
pub mod split;
pub mod tune;

use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use anneal_data::{CommitId, Store};
use anneal_engine::{ENGINE, ENGINE_VERSION, Examples, Model, Normalization, Observer, preprocess};
use anneal_pack::{AuditSummary, Lineage, Metrics, Package, Signature, temperature};
use anneal_spec::Program;
use serde::Serialize;

pub use deps::{DependencyError, Resolved, resolve_dependencies};
pub use engine::Engine;
pub use error::BuildError;
pub use key::build_key;
pub use project::Project;
pub use report::{PoolReport, Report, TestReport, TrainReport};

/// What a build produced.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The package file.
    pub package: PathBuf,
    /// True when the package for this key already existed.
    pub fresh: bool,
    /// The build key.
    pub build_key: String,
    /// The dataset commit.
    pub dataset_commit: CommitId,
    /// Test accuracy.
    pub accuracy: f64,
    /// Test examples.
    pub test_examples: usize,
    /// Wall time of the whole build, seconds.
    pub seconds: f64,
}

impl Built {
    /// The outcome of a build of `key` (its time not yet counted).
    fn new(package: PathBuf, fresh: bool, key: &str, commit: &CommitId, m: &Metrics) -> Built {
        Built {
            package,
            fresh,
            build_key: key.to_string(),
            dataset_commit: *commit,
            accuracy: m.accuracy,
            test_examples: m.examples,
            seconds: 0.0,
        }
    }
}

impl fmt::Display for Built {
    /// What a person reads when a build ends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.fresh { "fresh" } else { "built" };
        writeln!(f, "{state} {}", self.package.display())?;
        let (accuracy, n) = (self.accuracy, self.test_examples);
        writeln!(f, "  test accuracy {accuracy:.4} on {n} examples")?;
        writeln!(f, "  build time    {:.2}s", self.seconds)?;
        writeln!(f, "  build key     {}", self.build_key)?;
        write!(f, "  dataset       {}", self.dataset_commit)
    }
}

/// Build `project`: resolve its dataset commit, and unless the package for its key exists
/// (with its report), train, evaluate and write the package, the report and `anneal.lock`,
/// each atomically. `observer` receives training progress; `log` gets one-line notes.
pub fn build(
    project: &Project,
    observer: &mut dyn Observer,
    log: &mut dyn FnMut(String),
) -> Result<Built, BuildError> {
    build_on(project, &Engine::Native, observer, log)
}

/// [`build`] training on `engine`.
pub fn build_on(
    project: &Project,
    engine: &Engine,
    observer: &mut dyn Observer,
    log: &mut dyn FnMut(String),
) -> Result<Built, BuildError> {
    let dependency = project.base_package()?;
    let dependency = dependency.as_ref().map(|(p, d)| (p.as_path(), d.as_str()));
    build_with(project, dependency, engine, observer, log)
}

/// [`build_on`] with the package (and its digest) of the dependency the program `use`s, if
/// any.
pub fn build_with(
    project: &Project,
    dependency: Option<(&std::path::Path, &str)>,
    engine: &Engine,
    observer: &mut dyn Observer,
    log: &mut dyn FnMut(String),
) -> Result<Built, BuildError> {
    let start = Instant::now();
    let commit = sources::resolve_commit(project, log)?;
    let parents: Vec<String> = dependency.iter().map(|(_, d)| d.to_string()).collect();
    let trainer = engine.trainer(log)?;
    let key = build_key(&project.program, &commit, &trainer.key_lines(&parents));
    let built = match fresh(project, &commit, &key)? {
        Some(built) => built,
        None => {
            let (composed, base) = composed(project, dependency)?;
            let inputs = Inputs {
                base: base.as_ref(),
                trainer: &trainer,
                commit: &commit,
                key: &key,
            };
            compile(&composed, &inputs, observer, log)?
        }
    };
    Ok(Built {
        seconds: start.elapsed().as_secs_f64(),
        ..built
    })
}

/// The existing package for `key`, if it (with slice metrics and their per-class counts) and
/// its report (of the current format) are there (a lost lock is written again from it).
fn fresh(project: &Project, commit: &CommitId, key: &str) -> Result<Option<Built>, BuildError> {
    let path = project.package_path();
    let Ok(header) = anneal_pack::Header::read(&path) else {
        return Ok(None);
    };
    let sliced = header.metrics.slices_current();
    if header.lineage.build_key != key || !sliced || !Report::is_current(&project.report_path()) {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|source| BuildError::Io {
        path: path.clone(),
        source,
    })?;
    if project.writes_lock() {
        report::write_lock(&project.dir, commit, key, &bytes)?;
    }
    Ok(Some(Built::new(path, true, key, commit, &header.metrics)))
}

/// The project with its program composed with its dependency, and what that gives it.
fn composed(
    project: &Project,
    dependency: Option<(&std::path::Path, &str)>,
) -> Result<(Project, Option<compose::Base>), BuildError> {
    let program = &project.program;
    let (program, base) = match (program.needs_composing(), dependency) {
        (Some(_), Some((package, digest))) => {
            let (p, b) = compose::compose(program, package, digest)?;
            (p, Some(b))
        }
        (Some(b), None) => {
            return Err(BuildError::Dependency(
                crate::deps::DependencyError::Unlocked {
                    name: b.name.clone(),
                },
            ));
        }
        (None, _) => (program.clone(), None),
    };
    let (dir, target) = (project.dir.clone(), project.target.clone());
    Ok((
        Project {
            dir,
            program,
            target,
        },
        base,
    ))
}

/// What a build's compile step works from besides the project.
struct Inputs<'a> {
    base: Option<&'a compose::Base>,
    trainer: &'a engine::Trainer,
    commit: &'a CommitId,
    key: &'a str,
}

/// Train, evaluate and write everything for `key`.
fn compile(
    project: &Project,
    inputs: &Inputs<'_>,
    observer: &mut dyn Observer,
    log: &mut dyn FnMut(String),
) -> Result<Built, BuildError> {
    let (base, commit, key) = (inputs.base, inputs.commit, inputs.key);
    let store = Store::open(&project.dir)?;
    let program = &split::fit_table(&project.program, &store, commit)?;
    let train = split::collect(program, &store, commit, &program.train_split)?;
    let test = split::collect(program, &store, commit, &program.test_split)?;
    check_splits(project, &train, &test)?;
    log(training_note(program, &train, &test));
    let (norm, trained, ran) = train_on(project, program, &train, inputs, observer)?;
    let (weights, quantization) =
        quantize::quantize(program, trained.weights, &norm, (&train, &test))?;
    let model = Model::new(program, &weights)?.quantized(quantization.as_ref())?;
    let temperature = calibrate(program, (&store, commit), &model, &norm, log)?;
    let model = model.with_temperature(temperature);
    let predict = |split: &split::Split| model.predict(&preprocess(&split.features, &norm));
    let probs = predict(&test)?;
    let metrics = Metrics::compute(&probs, &test.labels, &program.classes).with_slices(
        &probs,
        &test.labels,
        &test.meta,
    );
    let robust = robustness::measure(program, &model, &test, &norm, log)?;
    let classes = program.classes.len();
    let audit = AuditSummary::new(&rows(&probs, classes), &test.labels, &metrics, robust);
    let package = Package {
        program: program.clone(),
        signature: Signature {
            temperature,
            ..Signature::for_program(program, norm)
        },
        lineage: Lineage {
            parents: base.iter().map(|b| b.parent.clone()).collect(),
            ..ran.lineage(lineage(project, commit, key))
        },
        metrics,
        cost: program.cost.clone(),
        audit: Some(audit),
        quantization,
        weights,
    };
    let pool = split::pool(program, &store, commit)?;
    let report = Report {
        format: report::FORMAT,
        build_key: key.to_string(),
        dataset_commit: commit.to_hex(),
        classes: program.classes.clone(),
        train: train_report(&predict(&train)?, train, trained.losses, classes),
        test: test_report(test, &probs, classes),
        pool: PoolReport {
            probs: rows(&predict(&pool)?, classes),
            ids: pool.ids,
        },
    };
    write(project, commit, key, &package, &report)
}

/// The normalisation (the dependency's for a composed program, else fitted on the training
/// split) and the trained weights, from the trainer `inputs` names.
fn train_on(
    project: &Project,
    program: &Program,
    train: &split::Split,
    inputs: &Inputs<'_>,
    observer: &mut dyn Observer,
) -> Result<(Normalization, anneal_engine::Trained, engine::TrainedBy), BuildError> {
    let input = &program.input;
    let norm = match inputs.base {
        Some(b) => b.normalization,
        None => Normalization::fit(input.normalize, input.full_scale(), &train.features),
    };
    let x = preprocess(&train.features, &norm);
    let examples = Examples {
        x: &x,
        y: &train.labels,
    };
    let base = inputs.base.map_or(&[][..], |b| &b.weights);
    let job = project.target.join("torch");
    let (trained, by) = inputs
        .trainer
        .train(program, &examples, &norm, base, &job, observer)?;
    Ok((norm, trained, by))
}

/// The temperature fitted on the program's validation split, when it has one, logged with
/// the split's negative log-likelihood before and after.
fn calibrate(
    program: &Program,
    (store, commit): (&Store, &CommitId),
    model: &Model,
    norm: &Normalization,
    log: &mut dyn FnMut(String),
) -> Result<Option<f32>, BuildError> {
    let Some(name) = &program.validation_split else {
        return Ok(None);
    };
    let held = split::collect(program, store, commit, name)?;
    if held.labels.is_empty() {
        return Err(BuildError::NoValidation {
            split: name.clone(),
        });
    }
    let probs = rows(
        &model.predict(&preprocess(&held.features, norm))?,
        program.classes.len(),
    );
    let t = temperature::fit(&probs, &held.labels);
    let nll = |t: f64| temperature::mean_nll(&probs, &held.labels, t);
    log(format!(
        "temperature {t:.3} fitted on {} examples ({name}): their NLL {:.4} -> {:.4}",
        held.labels.len(),
        nll(1.0),
        nll(f64::from(t))
    ));
    Ok(Some(t))
}

/// The note a build logs before it trains.
fn training_note(program: &Program, train: &split::Split, test: &split::Split) -> String {
    format!(
        "training on {} examples ({}), testing on {} ({}), {} threads",
        train.labels.len(),
        program.train_split,
        test.labels.len(),
        program.test_split,
        anneal_engine::threads()
    )
}

fn train_report(
    probs: &[f32],
    train: split::Split,
    loss: Vec<Vec<f32>>,
    classes: usize,
) -> TrainReport {
    TrainReport {
        ids: train.ids,
        labels: train.labels,
        loss,
        probs: rows(probs, classes),
    }
}

fn test_report(test: split::Split, probs: &[f32], classes: usize) -> TestReport {
    TestReport {
        ids: test.ids,
        labels: test.labels,
        probs: rows(probs, classes),
    }
}

/// Probabilities back to back, one row per example.
fn rows(probs: &[f32], classes: usize) -> Vec<Vec<f32>> {
    probs.chunks(classes).map(<[f32]>::to_vec).collect()
}

/// Both splits must hold labelled examples, and the report must fit its bound.
fn check_splits(
    project: &Project,
    train: &split::Split,
    test: &split::Split,
) -> Result<(), BuildError> {
    let program = &project.program;
    if train.labels.is_empty() {
        let split = program.train_split.clone();
        return Err(BuildError::EmptySplit { split, test: false });
    }
    anneal_spec::budget::report(train.labels.len(), program.train.epochs)
        .map_err(BuildError::Budget)?;
    if test.labels.is_empty() {
        let split = program.test_split.clone();
        return Err(BuildError::EmptySplit { split, test: true });
    }
    Ok(())
}

fn lineage(project: &Project, commit: &CommitId, key: &str) -> Lineage {
    Lineage {
        dataset_commit: commit.to_hex(),
        build_key: key.to_string(),
        engine: ENGINE.into(),
        engine_version: ENGINE_VERSION.into(),
        seed: project.program.train.seed,
        threads: anneal_engine::threads(),
        anneal_version: env!("CARGO_PKG_VERSION").into(),
        parents: Vec::new(),
        device: None,
        world_size: None,
        engine_key: None,
    }
}

/// Write the report, then the package, then the lock, each atomically.
fn write(
    project: &Project,
    commit: &CommitId,
    key: &str,
    package: &Package,
    report: &Report,
) -> Result<Built, BuildError> {
    let path = project.package_path();
    let serialize = |message| BuildError::Serialize {
        what: "package",
        message,
    };
    let bytes = package.to_bytes().map_err(serialize)?;
    let target = &project.target;
    let io = |path: PathBuf| move |source| BuildError::Io { path, source };
    std::fs::create_dir_all(target).map_err(io(target.clone()))?;
    report.write(&project.report_path())?;
    anneal_data::fs::write_atomic(&path, &bytes).map_err(io(path.clone()))?;
    if project.writes_lock() {
        report::write_lock(&project.dir, commit, key, &bytes)?;
    }
    Ok(Built::new(path, false, key, commit, &package.metrics))
}
