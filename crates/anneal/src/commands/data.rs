use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::CliError;
use anneal_data::idx::IdxError;
use anneal_data::import::{Format, ImportError, ImportOptions, ImportSummary};
use anneal_data::object::Commit;
use anneal_data::{CommitId, ObjectId, Store};
use serde::Serialize;

/// `anneal data import`'s source options.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The source: IDX images file or prefix, a folder of images or WAVs, a .csv or a .jsonl
    /// file.
    pub source: PathBuf,
    /// Source format: idx, images, wav, csv or jsonl (default: by the source: a folder holds
    /// images, or wav when it holds .wav files; .csv, .jsonl; anything else is idx).
    #[arg(long)]
    pub format: Option<String>,
    /// The split its examples go to.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Import every example without a label (the unlabeled pool).
    #[arg(long)]
    pub unlabeled: bool,
    /// CSV: the label column.
    #[arg(long, value_name = "NAME", default_value = "label")]
    pub label_column: String,
    /// CSV: a column of image or WAV paths (relative to the CSV) to import instead of numeric
    /// features.
    #[arg(long, value_name = "NAME")]
    pub path_column: Option<String>,
    /// CSV: the feature columns (default: every column holding only numbers; other columns
    /// become metadata).
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Folders: the label and metadata from each file name, e.g. '{label}_{speaker}_{take}.wav'.
    #[arg(long)]
    pub pattern: Option<String>,
    /// Folders: a CSV of `filename,label` rows (file names relative to the folder).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// A CSV of metadata joined by its first column, e.g. `speaker,gender,accent`: every
    /// example needs a listed value of that field.
    #[arg(long, value_name = "FILE")]
    pub meta: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl ImportArgs {
    fn options(&self) -> Result<ImportOptions, CliError> {
        let format = match &self.format {
            Some(f) => f.parse::<Format>()?,
            None => Format::detect(&self.source),
        };
        Ok(ImportOptions {
            split: self.split.clone(),
            unlabeled: self.unlabeled,
            label_column: self.label_column.clone(),
            path_column: self.path_column.clone(),
            features: self.features.clone(),
            pattern: self.pattern.as_deref().map(str::parse).transpose()?,
            labels: self.labels.clone(),
            meta: self.meta.clone(),
            ..ImportOptions::new(format)
        })
    }
}

/// A program folder: the store lives beside its manifest.
fn check_program(dir: &Path) -> Result<(), CliError> {
    if dir.join(anneal_spec::MANIFEST).exists() {
        return Ok(());
    }
    let message = format!("no {} in {}", anneal_spec::MANIFEST, dir.display());
    Err(CliError::new(message)
        .hint("create a program first with `anneal new DIR`, or pass `-C DIR`"))
}

impl ImportArgs {
    /// An import error, with a hint when the format was guessed as idx and the file is not.
    fn error(&self, e: ImportError) -> CliError {
        let not_idx = matches!(e, ImportError::Idx(IdxError::Format { offset: 0, .. }));
        let err = CliError::from(e);
        if self.format.is_none() && not_idx {
            err.hint("the format was guessed as idx from the source's name; pass --format csv or --format jsonl for other files")
        } else {
            err
        }
    }
}

pub fn import(dir: &Path, args: &ImportArgs) -> Result<u8, CliError> {
    check_program(dir)?;
    let opts = args.options()?;
    let mut bar = crate::progress::ImportBar::new(args.json);
    let s = anneal_data::import::import(dir, &args.source, &opts, &mut bar)
        .map_err(|e| args.error(e))?;
    let imported = Imported::new(s, opts.format, &args.split);
    super::print(&imported, args.json);
    Ok(0)
}

/// What `anneal data import` added.
#[derive(Debug, Serialize)]
struct Imported {
    added: usize,
    commit: CommitId,
    features: Vec<String>,
    format: &'static str,
    metadata: Vec<String>,
    new_blobs: usize,
    payloads: String,
    split: String,
}

impl Imported {
    /// What an import of `format` into `split` added, as its summary says.
    fn new(s: ImportSummary, format: Format, split: &str) -> Imported {
        Imported {
            added: s.added,
            commit: s.commit,
            features: s.features,
            format: format.name(),
            metadata: s.meta_fields,
            new_blobs: s.new_blobs,
            payloads: s.detail,
            split: split.to_string(),
        }
    }
}

impl fmt::Display for Imported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (added, payloads, split) = (self.added, &self.payloads, &self.split);
        let at = self.commit.short();
        write!(
            f,
            "imported {added} examples ({payloads}, split {split}) as commit {at}"
        )?;
        if self.format == Format::Csv.name() && !self.features.is_empty() {
            write!(f, "\nfeatures: {}", self.features.join(", "))?;
        }
        if !self.metadata.is_empty() {
            write!(f, "\nmetadata: {}", self.metadata.join(", "))?;
        }
        Ok(())
    }
}

/// `anneal data log`: the commits reachable from HEAD by first parents, newest first.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Log(Vec<Logged>);

#[derive(Debug, Serialize)]
struct Logged {
    author: String,
    commit: CommitId,
    message: String,
    parents: Vec<CommitId>,
    table: ObjectId,
    time: u64,
}

impl fmt::Display for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "no commits yet");
        }
        let entries: Vec<String> = self.0.iter().map(Logged::entry).collect();
        f.write_str(&entries.join("\n"))
    }
}

impl Logged {
    /// Commit `h`, as the log shows it.
    fn new((h, c): (CommitId, Commit)) -> Logged {
        Logged {
            author: c.author,
            commit: h,
            message: c.message,
            parents: c.parents,
            table: c.table,
            time: c.time,
        }
    }

    /// Its hash, author, time and message, for people.
    fn entry(&self) -> String {
        let (h, author, time, message) = (&self.commit, &self.author, self.time, &self.message);
        format!("commit {h}\nauthor {author}\ntime   {time}\n\n    {message}\n")
    }
}

pub fn log(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let log = store.log()?.into_iter().map(Logged::new).collect();
    super::print(&Log(log), json);
    Ok(0)
}
