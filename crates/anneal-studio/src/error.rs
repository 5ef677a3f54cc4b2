//! [`StudioError`]: every way a request can fail, and the response each one becomes.
//!
//! What a user did wrong (an unknown id, a bad filter, nothing staged) is answered with its
//! message; what went wrong inside (a store that cannot be read, a template) is logged and
//! answered with a generic 500, so no path or internal detail leaves the machine's log.

use anneal_data::StoreError;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum StudioError {
    /// No example with this id at HEAD.
    #[error("no example `{0}` in the dataset")]
    UnknownExample(String),
    /// No payload with this hash at HEAD.
    #[error("no payload `{0}` in the dataset")]
    UnknownPayload(String),
    /// A request the studio refuses for its security (promise 13).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A malformed request (filter, label, body).
    #[error("{0}")]
    BadRequest(String),
    /// A build is already running.
    #[error("a build is already running")]
    Busy,
    /// The dataset store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The build (loading the program or its report).
    #[error(transparent)]
    Build(#[from] Box<anneal_build::BuildError>),
    /// A template failed to render.
    #[error("template: {0}")]
    Render(#[from] askama::Error),
    /// A blocking task panicked or was cancelled.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A payload that could not be turned into what the browser was sent.
    #[error("payload: {0}")]
    Media(String),
}

impl StudioError {
    /// The status, and whether the message may be shown to the client.
    fn status(&self) -> (StatusCode, bool) {
        match self {
            StudioError::UnknownExample(_) | StudioError::UnknownPayload(_) => {
                (StatusCode::NOT_FOUND, true)
            }
            StudioError::Forbidden(_) => (StatusCode::FORBIDDEN, true),
            StudioError::BadRequest(_) => (StatusCode::BAD_REQUEST, true),
            StudioError::Busy => (StatusCode::CONFLICT, true),
            StudioError::Store(e) => store_status(e),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, false),
        }
    }
}

/// Store errors a user causes and can act on are shown; the rest are internal.
fn store_status(e: &StoreError) -> (StatusCode, bool) {
    match e {
        StoreError::UnknownExample { .. } => (StatusCode::NOT_FOUND, true),
        StoreError::Row(_) => (StatusCode::BAD_REQUEST, true),
        StoreError::NothingStaged | StoreError::StaleIndex { .. } | StoreError::NoCommits => {
            (StatusCode::CONFLICT, true)
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, false),
    }
}

impl From<anneal_build::BuildError> for StudioError {
    fn from(e: anneal_build::BuildError) -> Self {
        StudioError::Build(Box::new(e))
    }
}

impl IntoResponse for StudioError {
    fn into_response(self) -> Response {
        let (status, shown) = self.status();
        let body = if shown {
            self.to_string()
        } else {
            tracing::error!("{self}");
            "internal error: see the studio's log".to_string()
        };
        let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        (status, text, body).into_response()
    }
}
