//! # anneal-frontend: from stored payloads to model inputs
//!
//! The front end is part of the program: training, `anneal predict` and `anneal serve` call
//! the same code with the parameters the package records, so they compute the same inputs.
//!
//! - [`wav`]: WAV bytes to mono samples in [-1, 1), refusing what the program cannot take.
//! - [`mel`]: the log-mel spectrogram of a waveform ([`LogMel`](anneal_spec::LogMel)'s
//!   parameters): fixed length, framing, periodic Hann window, power spectrum, HTK mel
//!   filterbank, natural log.
//! - [`table`]: table rows to inputs ([`Table`](anneal_spec::Table)'s columns): numeric
//!   columns standardised, categorical ones one-hot; [`table::fit`] on the training split.
//!
//! ```
//! use anneal_spec::LogMel;
//! let params = LogMel::default();
//! let tone: Vec<f32> = (0..8000).map(|i| (i as f32 * 0.3).sin() * 0.5).collect();
//! let features = anneal_frontend::mel::LogMelPlan::new(&params).features(&tone);
//! assert_eq!(features.len(), params.mels * params.frames());
//! ```

pub mod mel;
pub mod table;
pub mod wav;

pub use mel::LogMelPlan;
pub use table::{TableError, TablePlan};
pub use wav::{WavError, decode_wav};
