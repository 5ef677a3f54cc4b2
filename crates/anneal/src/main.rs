//! The `anneal` binary: argument parsing, then one short function per verb.

mod commands;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use anneal::error::CliError;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "anneal",
    version,
    about = "The Software 2.0 toolchain: datasets plus architectures, compiled into tested models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `-C DIR`: the program folder.
#[derive(Debug, clap::Args)]
struct Dir {
    /// Run as if started in DIR (the folder holding anneal.toml).
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new program skeleton.
    New {
        /// The folder to create.
        dir: PathBuf,
        /// `digits` (a small CNN) or `mlp`.
        #[arg(long, default_value = "digits")]
        template: String,
    },
    /// Validate a program and print its shape table and forward-pass cost.
    Check {
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with the dataset store.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Train the program on its dataset commit and write target/NAME-VERSION.anneal.
    Build {
        /// The program folder (same as -C).
        path: Option<PathBuf>,
        #[command(flatten)]
        dir: Dir,
        /// Print machine-readable JSON events instead of progress bars.
        #[arg(long)]
        json: bool,
        /// Worker threads (default: 2, or ANNEAL_THREADS).
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        engine: commands::build::EngineArgs,
        /// Scale every hidden layer's units and channels by this factor, as `[model] width`
        /// does (0.5: about a quarter of the FLOPs of a CNN; the build key covers it).
        #[arg(long)]
        width: Option<f64>,
        /// Quantize the package to int8 after training, as `[model] quantize = "int8"` does
        /// (per-channel int8 weights, activation ranges calibrated on the train split).
        #[arg(long)]
        int8: bool,
    },
    /// Predict the class of PNG/JPEG images or of every image of an IDX file.
    Predict {
        /// The package (.anneal).
        package: PathBuf,
        /// Inputs: .png, .jpg/.jpeg, or IDX images (file or prefix).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accuracy, per-class precision, recall and F1, and the confusion matrix on a labelled
    /// source or a split of the program's dataset; per value of a metadata field with --by.
    Eval(commands::eval::EvalArgs),
    /// Write a package as an ONNX model (opset 17): raw features in, the package's
    /// normalisation, layers and softmax inside, probabilities and class out.
    Export(commands::export::ExportArgs),
    /// Build the program at several widths, measure each variant's accuracy and latency
    /// (batch 1 and 256) on this machine, and print the Pareto front; with a budget, pick the
    /// most accurate variant within it.
    Tune(commands::tune::TuneArgs),
    /// Publish a package to an OCI registry (`host[:port]/repository`) at its version: blobs
    /// the registry lacks, then the manifest; an existing version is never overwritten.
    Publish(commands::publish::PublishArgs),
    /// Check credentials for an OCI registry and keep them (Docker credential helper, else a
    /// 0600 file in the user's config folder, never in the project).
    Login(commands::login::LoginArgs),
    /// Depend on a published package: the highest version a requirement admits, locked by
    /// digest in anneal.lock and declared in anneal.toml's [dependencies].
    Add(commands::add::AddArgs),
    /// Fetch every dependency into the cache by the digests in anneal.lock, verified.
    Fetch(commands::fetch::FetchArgs),
    /// The last build's test predictions per group of a metadata field (sex, race, speaker):
    /// accuracy, selection rate, true and false positive rates with bootstrap intervals, and
    /// the demographic parity and equalized-odds gaps.
    Audit(commands::audit::AuditArgs),
    /// The mislabel and active-learning queues of the last build.
    Queue {
        #[command(subcommand)]
        command: commands::queue::QueueCommand,
    },
    /// Serve packages over the Open Inference Protocol (KServe v2 REST, Triton binary tensors).
    Serve(commands::serve::ServeArgs),
    /// Open the studio: a local web app to browse the dataset and the last build, and fix labels.
    Studio(commands::studio::StudioArgs),
    /// Run the program's [[check]]s against its last build.
    Test {
        #[command(flatten)]
        dir: Dir,
        /// Also write JUnit XML here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Import a source into the store as one commit: IDX, a folder of images or WAVs, CSV or
    /// JSONL, with labels, a split and metadata.
    Import {
        #[command(flatten)]
        args: commands::data::ImportArgs,
        #[command(flatten)]
        dir: Dir,
    },
    /// List commits, newest first.
    Log {
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The current branch and commit, and the dataset's size.
    Status {
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One commit: its metadata and what it changed from its parent.
    Show {
        /// A revision (default HEAD).
        #[arg(default_value = "HEAD")]
        rev: String,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Examples added and removed, labels changed (before -> after), per-class count changes.
    Diff(commands::data_show::DiffArgs),
    /// Set labels: `label ID LABEL` or `label --from FILE.csv` (columns id,label), as one commit.
    Label(commands::data_edit::LabelArgs),
    /// Remove examples by id, as one commit.
    Remove(commands::data_edit::RemoveArgs),
    /// Commit the changes staged with `label --no-commit` and `remove --no-commit`.
    Commit {
        /// Commit message.
        #[arg(short, long)]
        message: String,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drop the staged changes; with --hard REV, also move the branch back to REV.
    Reset {
        /// Move the current branch to this commit (a hash, tag or branch): the way back from
        /// a commit that should not have been made. The commit it leaves stays in the store
        /// (and in `.anneal/logs/HEAD`) until `gc`.
        #[arg(long, value_name = "REV")]
        hard: Option<String>,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List branches, or create one at HEAD.
    Branch {
        /// The branch to create.
        name: Option<String>,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Switch to a branch.
    Checkout {
        /// The branch.
        name: String,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tags, or tag a revision.
    Tag(commands::data_refs::TagArgs),
    /// Example counts per split and label, and per value of each metadata field.
    Stats {
        /// A revision (default HEAD).
        #[arg(default_value = "HEAD")]
        rev: String,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Merge a branch into the current one; conflicting edits are listed and nothing is
    /// committed unless --ours or --theirs picks a side for all of them.
    Merge(commands::data_refs::MergeArgs),
    /// Assign splits by seed and fraction, stratified by label, as one commit.
    Split(commands::data_edit::SplitArgs),
    /// Add a remote (a folder path, file:///path or s3://bucket/prefix), or list remotes.
    Remote {
        /// `add NAME URL`, or nothing to list.
        args: Vec<String>,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Upload a branch to a remote: objects first, the remote ref last.
    Push(commands::data_remote::RemoteBranchArgs),
    /// Fetch a branch from a remote and merge it into the current branch.
    Pull(commands::data_remote::RemoteBranchArgs),
    /// Create this program's store from a remote's `main` branch.
    Clone {
        /// The remote URL.
        url: String,
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete objects no branch or tag reaches.
    Gc {
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify every object and everything reachable from the refs; exit 1 on any problem.
    Fsck {
        #[command(flatten)]
        dir: Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. } | Command::Studio { .. }) {
        // `anneal data log | head -1`: end quietly when the reader goes away, as git and
        // cargo do, instead of panicking on the closed pipe. (The server keeps Rust's default:
        // a client closing its socket must not end it.)
        sigpipe::reset();
    }
    let result = run(cli.command);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprint!("{}", e.render());
            ExitCode::from(u8::try_from(e.code).unwrap_or(2))
        }
    }
}

fn run(command: Command) -> Result<u8, CliError> {
    match command {
        Command::New { dir, template } => commands::new::run(&dir, &template),
        Command::Check { dir, json } => commands::check::run(&dir.dir, json),
        Command::Data { command } => data(command),
        Command::Build {
            path,
            dir,
            json,
            threads,
            engine,
            width,
            int8,
        } => commands::build::run(
            &path.unwrap_or(dir.dir),
            json,
            threads,
            &engine,
            (width, int8),
        ),
        Command::Predict {
            package,
            inputs,
            json,
        } => commands::predict::run(&package, &inputs, json),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Tune(args) => commands::tune::run(&args),
        Command::Audit(args) => commands::audit::run(&args),
        Command::Publish(args) => commands::publish::run(&args),
        Command::Login(args) => commands::login::run(&args),
        Command::Add(args) => commands::add::run(&args),
        Command::Fetch(args) => commands::fetch::run(&args),
        Command::Test { dir, junit, json } => commands::test::run(&dir.dir, junit.as_deref(), json),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Studio(args) => commands::studio::run(&args),
        Command::Queue { command } => commands::queue::run(&command),
    }
}

fn data(command: DataCommand) -> Result<u8, CliError> {
    use DataCommand as D;
    use commands::{data, data_edit as edit, data_fsck, data_refs as refs, data_remote as remote};
    use commands::{data_reset, data_show as show};
    match command {
        D::Import { args, dir } => data::import(&dir.dir, &args),
        D::Log { dir, json } => data::log(&dir.dir, json),
        D::Status { dir, json } => show::status(&dir.dir, json),
        D::Show { rev, dir, json } => show::show(&dir.dir, &rev, json),
        D::Diff(args) => show::diff(&args),
        D::Stats { rev, dir, json } => show::stats(&dir.dir, &rev, json),
        D::Label(args) => edit::label(&args),
        D::Remove(args) => edit::remove(&args),
        D::Commit { message, dir, json } => edit::commit(&dir.dir, &message, json),
        D::Split(args) => edit::split(&args),
        D::Reset { hard, dir, json } => data_reset::run(&dir.dir, hard.as_deref(), json),
        D::Fsck { dir, json } => data_fsck::fsck(&dir.dir, json),
        D::Gc { dir, json } => data_fsck::gc(&dir.dir, json),
        D::Branch { name, dir, json } => refs::branch(&dir.dir, name.as_deref(), json),
        D::Checkout { name, dir, json } => refs::checkout(&dir.dir, &name, json),
        D::Tag(args) => refs::tag(&args),
        D::Merge(args) => refs::merge(&args),
        D::Remote { args, dir, json } => remote::remote(&dir.dir, &args, json),
        D::Push(args) => remote::push(&args),
        D::Pull(args) => remote::pull(&args),
        D::Clone { url, dir, json } => remote::clone(&dir.dir, &url, json),
    }
}
