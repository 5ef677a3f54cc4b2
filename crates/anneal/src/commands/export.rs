//! `anneal export PACKAGE --format onnx [-o FILE]`: the package as an ONNX model.

use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::CliError;
use anneal_data::fs::write_atomic;
use anneal_pack::Package;
use serde::Serialize;

/// A format a package exports to.
#[derive(Debug, Clone, Copy, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// ONNX, opset 17: raw features in, probabilities and class out.
    Onnx,
}

/// `anneal export`: write a package in another format.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The package (.anneal).
    package: PathBuf,
    /// The format to write.
    #[arg(long, value_enum, default_value = "onnx")]
    format: Format,
    /// The file to write (default: the package's path with the format's extension).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `anneal export` reports: the file written.
#[derive(Debug, Serialize)]
struct Exported {
    path: PathBuf,
    format: Format,
    opset: i64,
    bytes: usize,
}

pub fn run(args: &ExportArgs) -> Result<u8, CliError> {
    let pkg = Package::read(&args.package)?;
    let bytes = anneal_onnx::export(&pkg).map_err(|e| export_error(&args.package, &e))?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.package));
    write_atomic(&path, &bytes).map_err(|e| CliError::io(&path, e))?;
    let exported = Exported {
        path,
        format: args.format,
        opset: anneal_onnx::OPSET,
        bytes: bytes.len(),
    };
    super::print(&exported, args.json);
    Ok(0)
}

/// The export's error, naming the package; a hint for what the user can change.
fn export_error(package: &Path, e: &anneal_onnx::OnnxError) -> CliError {
    let err = CliError::new(format!("{}: {e}", package.display()));
    match e {
        anneal_onnx::OnnxError::Unsupported { .. } => err.hint(
            "change the layer in anneal.toml and rebuild, or serve the package with `anneal serve`",
        ),
        _ => err.hint("the package is damaged or was written by another anneal; rebuild it"),
    }
}

/// `target/p-0.1.0.anneal` -> `target/p-0.1.0.onnx`.
fn default_output(package: &Path) -> PathBuf {
    package.with_extension("onnx")
}

impl fmt::Display for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {} (ONNX opset {}, {} bytes)",
            self.path.display(),
            self.opset,
            self.bytes
        )
    }
}
