use std::path::Path;

use anneal::error::CliError;
use anneal_build::{Engine, Project, build_on};
use anneal_torch::Device;

use crate::progress::Progress;

/// `--engine` and what PyTorch runs with.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Train on anneal's own CPU engine (`anneal`, the default) or hand training to PyTorch
    /// (`torch`: GPUs, several processes under torchrun; the weights come back as a package).
    #[arg(long, default_value = "anneal", value_parser = ["anneal", "torch"])]
    engine: String,
    /// With --engine torch: processes on this machine (torchrun --nproc-per-node).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    nproc: u32,
    /// With --engine torch: `auto` (a GPU when PyTorch sees one), `cpu` or `cuda`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "cpu", "cuda"])]
    device: String,
    /// With --engine torch: further torchrun flags, after `--` (e.g. `-- --nnodes 2
    /// --rdzv-endpoint host:29400`).
    #[arg(last = true)]
    torchrun: Vec<String>,
}

impl EngineArgs {
    /// The engine these flags ask for; PyTorch runs with `ANNEAL_PYTHON` or `python3`.
    fn engine(&self) -> Result<Engine, CliError> {
        let torch_only = self.nproc != 1 || self.device != "auto" || !self.torchrun.is_empty();
        if self.engine == "anneal" {
            return match torch_only {
                true => Err(CliError::new(
                    "--nproc, --device and torchrun flags are for --engine torch",
                )),
                false => Ok(Engine::Native),
            };
        }
        Ok(Engine::Torch(anneal_torch::Options {
            python: std::env::var("ANNEAL_PYTHON").unwrap_or_else(|_| "python3".into()),
            nproc: self.nproc as usize,
            device: Device::named(&self.device).unwrap_or_default(),
            torchrun: self.torchrun.clone(),
        }))
    }
}

pub fn run(
    dir: &Path,
    json: bool,
    threads: Option<usize>,
    engine: &EngineArgs,
    (width, int8): (Option<f64>, bool),
) -> Result<u8, CliError> {
    let mut project = Project::load_width(dir, width)?;
    if int8 {
        project.program.quantize = Some(anneal_spec::Scheme::Int8);
    }
    let engine = engine.engine()?;
    anneal_engine::set_threads(thread_count(threads)?)?;
    let mut progress = Progress::new(json, project.program.train.batch);
    let mut log = |line: String| {
        if json {
            println!("{}", serde_json::json!({"event": "note", "message": line}));
        } else {
            eprintln!("{line}");
        }
    };
    let out = match build_on(&project, &engine, &mut progress, &mut log) {
        Err(anneal_build::BuildError::Torch(e))
            if matches!(*e, anneal_torch::TorchError::OtherNode { .. }) =>
        {
            // A node of a multi-node run other than rank 0's: its part is done.
            eprintln!("{e}");
            return Ok(0);
        }
        out => out?,
    };
    if json {
        // The last event of the stream `--json` prints (notes and progress come before it).
        let mut v = serde_json::to_value(&out).map_err(|e| CliError::new(e.to_string()))?;
        v["event"] = "done".into();
        println!("{v}");
    } else {
        println!("{out}");
    }
    Ok(0)
}

/// `--threads`, else `ANNEAL_THREADS`, else 2; at least 1.
fn thread_count(flag: Option<usize>) -> Result<usize, CliError> {
    let threads = match (flag, std::env::var("ANNEAL_THREADS")) {
        (Some(t), _) => t,
        (None, Ok(v)) => v.parse().map_err(|_| {
            CliError::new(format!("ANNEAL_THREADS=`{v}` is not a number of threads"))
        })?,
        (None, Err(_)) => 2,
    };
    match threads {
        0 => Err(CliError::new("--threads must be at least 1")),
        t => Ok(t),
    }
}
