//! # anneal-torch: a build's training handed to PyTorch
//!
//! Past one CPU, anneal does not grow a distributed trainer of its own: it writes the training
//! job for PyTorch and reads the weights back. [`train`] writes a job folder ([`job`]): the
//! program's layers as a generated, readable `model.py` ([`module`]), the normalised training
//! split and anneal's initial weights as safetensors, the settings as `job.json`, and a fixed
//! `train.py`; runs it with the user's Python, under `torchrun` (DDP: gloo on CPUs, NCCL on
//! GPUs) for more than one process ([`launch`]); and returns the weights, per-example losses and
//! epoch figures as the native engine would, for the build to evaluate and package.
//!
//! The program's `batch` is the global batch, split across processes, so a step is the same
//! step on any number of them. Not handed over (a clear error): adversarial training and
//! programs that `use` a dependency.

pub mod job;
pub mod launch;
pub mod module;

use std::path::{Path, PathBuf};

use anneal_engine::{Examples, NamedTensor, Observer, Trained};
use anneal_spec::Program;
use safetensors::{Dtype, SafeTensors};

pub use launch::probe;

/// Where PyTorch trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// A GPU when PyTorch sees one, else the CPU.
    #[default]
    Auto,
    /// The CPU (gloo between processes).
    Cpu,
    /// A CUDA GPU per process (NCCL between them).
    Cuda,
}

impl Device {
    /// `auto`, `cpu` or `cuda`.
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }

    /// The device named `s`, if it is one.
    pub fn named(s: &str) -> Option<Device> {
        [Device::Auto, Device::Cpu, Device::Cuda]
            .into_iter()
            .find(|d| d.name() == s)
    }
}

/// How to run PyTorch.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Python interpreter (`python3`, or `ANNEAL_PYTHON`).
    pub python: String,
    /// Processes on this machine (`torchrun --nproc-per-node`).
    pub nproc: usize,
    /// Where to train.
    pub device: Device,
    /// Further `torchrun` flags, passed as they are (`--nnodes`, `--rdzv-endpoint`, ...).
    pub torchrun: Vec<String>,
}

/// Who trained a run's weights.
#[derive(Debug, Clone)]
pub struct Ran {
    /// PyTorch's version.
    pub torch: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Processes in all.
    pub world: usize,
    /// Each process's intra-op threads.
    pub threads: usize,
}

/// Why PyTorch could not train the program.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// The interpreter could not be started.
    #[error("cannot run `{python}`: {message}")]
    NoPython { python: String, message: String },
    /// It has no (recent enough) PyTorch or safetensors.
    #[error("`{python}` cannot train with PyTorch: {message}")]
    NoTorch { python: String, message: String },
    /// The program asks for what the PyTorch job does not do.
    #[error("{0}")]
    Unsupported(String),
    /// A file of the job could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The job failed: its exit status and the end of its log.
    #[error("the PyTorch job failed ({status}); the end of {}:\n{tail}", log.display())]
    Failed {
        status: String,
        tail: String,
        log: PathBuf,
    },
    /// The loss stopped being finite.
    #[error("training diverged at epoch {epoch}, step {step}: the loss is not finite")]
    Diverged { epoch: usize, step: usize },
    /// This node trained its share as `rank` of `world`; the node of rank 0 writes the package.
    #[error(
        "this node trained as rank {rank} of {world}; the package is written on the node of rank 0"
    )]
    OtherNode { rank: usize, world: usize },
    /// Interrupted (Ctrl-C).
    #[error("training interrupted")]
    Interrupted,
    /// The job's output is not what anneal wrote it to give.
    #[error("{what}: {message}")]
    Output { what: String, message: String },
}

impl TorchError {
    fn io(path: &Path) -> impl Fn(std::io::Error) -> TorchError + '_ {
        move |source| TorchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            TorchError::NoPython { .. } => Some("install Python 3, or point ANNEAL_PYTHON at it"),
            TorchError::NoTorch { .. } => Some("pip install torch safetensors numpy"),
            TorchError::Unsupported(_) => Some("build it with anneal's own engine (no --engine)"),
            TorchError::Failed { .. } => Some("the log shows the first failing rank's error"),
            TorchError::Diverged { .. } => Some("lower the learning rate"),
            _ => None,
        }
    }
}

/// Train `program` (its inputs in `examples`, normalised) with PyTorch in the job folder `dir`:
/// what the native engine's training returns, and who trained it.
pub fn train(
    program: &Program,
    examples: &Examples<'_>,
    dir: &Path,
    options: &Options,
    observer: &mut dyn Observer,
) -> Result<(Trained, Ran), TorchError> {
    supported(program)?;
    job::write(dir, program, examples, options.device)?;
    let said = launch::run(dir, options, observer)?;
    let weights = read_tensors(&dir.join("weights.safetensors"))?;
    let losses = read_losses(&dir.join("losses.safetensors"), examples.y.len())?;
    let trained = Trained {
        weights,
        losses,
        epochs: said.epochs,
    };
    let ran = Ran {
        torch: said.torch,
        device: said.device,
        world: said.world,
        threads: said.threads,
    };
    Ok((trained, ran))
}

/// What the PyTorch job does not do.
fn supported(program: &Program) -> Result<(), TorchError> {
    if program.train.adversarial.is_some() {
        return Err(TorchError::Unsupported(
            "`[train] adversarial` is not handed to PyTorch".into(),
        ));
    }
    if let Some(b) = &program.base {
        return Err(TorchError::Unsupported(format!(
            "a program that `use`s a dependency (`{}`) is not handed to PyTorch",
            b.name
        )));
    }
    Ok(())
}

/// A safetensors file of F32 tensors.
fn read_tensors(path: &Path) -> Result<Vec<NamedTensor>, TorchError> {
    let bytes = std::fs::read(path).map_err(TorchError::io(path))?;
    let bad = |message: String| TorchError::Output {
        what: path.display().to_string(),
        message,
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor `{name}` is {:?}, not F32",
                view.dtype()
            )));
        }
        let data = view.data().chunks_exact(4);
        let data = data
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            data,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `losses[epoch][example]` from the job's `[epochs, n]` tensor.
fn read_losses(path: &Path, n: usize) -> Result<Vec<Vec<f32>>, TorchError> {
    let tensors = read_tensors(path)?;
    let Some(t) = tensors.into_iter().find(|t| t.name == "losses") else {
        return Err(TorchError::Output {
            what: path.display().to_string(),
            message: "no tensor `losses`".into(),
        });
    };
    Ok(t.data.chunks(n.max(1)).map(<[f32]>::to_vec).collect())
}
