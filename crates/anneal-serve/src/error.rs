//! The one error type of the server, mapped to status codes as KServe maps them and sent as
//! `{"error": "..."}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a request can fail with. Everything a client sends maps to a 4xx; 5xx is kept for the
/// server's own state (not ready, overloaded, timed out, a failed forward pass).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServeError {
    /// The request is malformed or does not match the model's signature.
    #[error("{0}")]
    BadRequest(String),
    /// No such model or version, or no such route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is over the size limit.
    #[error("request body is larger than the {limit}-byte limit")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server is shutting down.
    #[error("server is not ready")]
    NotReady,
    /// The model's queue is full.
    #[error("model `{model}` is at capacity ({capacity} queued requests); retry shortly")]
    Overloaded {
        /// The model.
        model: String,
        /// Queue capacity.
        capacity: usize,
    },
    /// The request's body did not arrive in full within the body timeout.
    #[error("the request body did not arrive within {ms} ms")]
    BodyTimeout {
        /// The timeout.
        ms: u64,
    },
    /// Reading this body would take the bodies being read past the server's memory budget.
    #[error(
        "the server is already reading as many request bodies as its {budget}-byte budget allows; retry shortly"
    )]
    BodyMemory {
        /// The budget in bytes.
        budget: usize,
    },
    /// The connection is one of those kept for health checks and metrics.
    #[error(
        "the server has {limit} connections open; this one serves only /v2/health/* and /metrics; retry shortly"
    )]
    TooManyConnections {
        /// Connections that serve every route.
        limit: usize,
    },
    /// The request waited longer than the timeout.
    #[error("request timed out after {ms} ms")]
    Timeout {
        /// The timeout.
        ms: u64,
    },
    /// The forward pass failed (logged; the message is generic).
    #[error("inference failed")]
    Internal,
}

impl ServeError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::NotFound(_) => StatusCode::NOT_FOUND,
            ServeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ServeError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ServeError::NotReady
            | ServeError::Overloaded { .. }
            | ServeError::BodyMemory { .. }
            | ServeError::TooManyConnections { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ServeError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the client should retry shortly (`Retry-After: 1`).
    fn retry(&self) -> bool {
        matches!(
            self,
            ServeError::NotReady
                | ServeError::Overloaded { .. }
                | ServeError::BodyMemory { .. }
                | ServeError::TooManyConnections { .. }
        )
    }

    /// Whether the connection closes after the response (`Connection: close`): the body was
    /// not read, or the client holds a slot others need.
    fn close(&self) -> bool {
        matches!(
            self,
            ServeError::BodyTimeout { .. }
                | ServeError::BodyMemory { .. }
                | ServeError::TooManyConnections { .. }
        )
    }
}

/// Shorthand for a 400.
pub fn bad(msg: impl Into<String>) -> ServeError {
    ServeError::BadRequest(msg.into())
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        let mut resp = (status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.retry() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.close() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// At most 64 characters of a name from a request, to quote in an error.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
