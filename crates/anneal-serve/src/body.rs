//! Reading request bodies under three limits, so that no client can hold the server's memory:
//!
//! - **size**: a body over `max_body` gets 413, by `Content-Length` before any of it is read,
//!   and as it streams when chunked;
//! - **time**: a body that has not arrived in full within `body_timeout` of the handler asking
//!   for it gets 408 and its connection closes (a client holding a body one byte short);
//! - **memory**: the bytes of all bodies being read at once stay within `body_memory`. A body
//!   with a `Content-Length` reserves its length before it is read, a chunked body reserves
//!   each chunk as it arrives; one that does not fit gets 503 with `Retry-After` at once, rather
//!   than waiting for others to finish. The reservation is returned when the body is dropped.
//!
//! The budget is a semaphore of KiB permits: tokio takes at most `u32::MAX` permits at a time,
//! so KiB units let one body reserve up to 4 TiB.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Config;
use crate::error::{ServeError, bad};

/// Bytes per permit.
const UNIT: usize = 1024;

/// The memory budget shared by every body being read.
#[derive(Debug, Clone)]
pub struct Budget {
    permits: Arc<Semaphore>,
    bytes: usize,
}

impl Budget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: usize) -> Budget {
        let units = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        Budget {
            permits: Arc::new(Semaphore::new(units)),
            bytes,
        }
    }

    /// Bytes not reserved by a body being read now.
    pub fn available(&self) -> usize {
        self.permits.available_permits() * UNIT
    }

    fn exhausted(&self) -> ServeError {
        ServeError::BodyMemory { budget: self.bytes }
    }
}

/// A share of the budget, returned on drop.
#[derive(Debug, Default)]
struct Reservation(Option<OwnedSemaphorePermit>);

impl Reservation {
    /// Reserve enough for `bytes` in all, or refuse at once.
    fn grow(&mut self, budget: &Budget, bytes: usize) -> Result<(), ServeError> {
        let have = self.0.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
        let want = bytes.div_ceil(UNIT);
        if want <= have {
            return Ok(());
        }
        let more = u32::try_from(want - have).map_err(|_| budget.exhausted())?;
        let permit = budget
            .permits
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| budget.exhausted())?;
        match &mut self.0 {
            Some(held) => held.merge(permit),
            None => self.0 = Some(permit),
        }
        Ok(())
    }
}

/// A body read in full, holding its share of the budget until dropped.
#[derive(Debug)]
pub struct Read {
    /// The bytes.
    pub bytes: Bytes,
    _reserved: Reservation,
}

/// Read `body` in full under `config`'s size and time limits and `budget`.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    config: &Config,
    budget: &Budget,
) -> Result<Read, ServeError> {
    let limit = config.max_body;
    let declared = content_length(headers);
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ServeError::PayloadTooLarge { limit });
    }
    let declared = declared.map_or(0, |n| n as usize);
    let mut reserved = Reservation::default();
    reserved.grow(budget, declared)?;
    let collect = collect(body, declared, limit, budget, &mut reserved);
    match tokio::time::timeout(config.body_timeout, collect).await {
        Ok(bytes) => Ok(Read {
            bytes: bytes?,
            _reserved: reserved,
        }),
        Err(_) => Err(ServeError::BodyTimeout {
            ms: config.body_timeout.as_millis() as u64,
        }),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Gather the frames of `body`, reserving each one's bytes before keeping it.
async fn collect(
    mut body: Body,
    declared: usize,
    limit: usize,
    budget: &Budget,
    reserved: &mut Reservation,
) -> Result<Bytes, ServeError> {
    let mut buf = Vec::with_capacity(declared);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| bad(format!("could not read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = buf.len() + data.len();
        if len > limit {
            return Err(ServeError::PayloadTooLarge { limit });
        }
        reserved.grow(budget, len)?;
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}
