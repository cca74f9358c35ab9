//! The one error a request can end in, the one place it becomes a status,
//! and the one place it is logged.
//!
//! The server log gets the full error (`{:?}`, with the guest's backtrace for a
//! trap) next to the route and request id; the client gets a short, generic
//! body that never exposes guest internals.

use crate::request::RequestTag;
use crate::telemetry;
use http::StatusCode;
use std::time::Duration;

/// Why a request did not get a response from its handler.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The request itself cannot be handed to a guest (e.g. no authority).
    #[error("bad request: {0:#}")]
    BadRequest(anyhow::Error),
    /// The request body is larger than the route allows.
    #[error("request body over the route's limit of {0} bytes")]
    BodyTooLarge(u64),
    /// No instance slot became free within the queue timeout.
    #[error("overloaded: no free instance slot ({0})")]
    Overloaded(&'static str),
    /// The guest did not answer before the route's deadline.
    #[error("guest set no response within the route's deadline of {0:?}; stopped")]
    Timeout(Duration),
    /// The guest trapped (or failed to instantiate) before setting a response.
    #[error("guest trapped before sending a response: {0:?}")]
    Trap(anyhow::Error),
    /// The guest returned without ever calling `response-outparam.set`.
    #[error("guest returned without setting a response")]
    NoResponse,
    /// The guest answered with a wasi:http error code instead of a
    /// response (0.2: passed to `response-outparam.set`; 0.3: returned from
    /// `handle`), rendered.
    #[error("guest answered with error code {0}")]
    GuestError(String),
    /// Something failed in the host itself.
    #[error("internal error: {0:?}")]
    Internal(anyhow::Error),
}

impl InvokeError {
    /// The status the client sees.
    pub fn status(&self) -> StatusCode {
        match self {
            InvokeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            InvokeError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            InvokeError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            InvokeError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            InvokeError::Trap(_)
            | InvokeError::NoResponse
            | InvokeError::GuestError(_)
            | InvokeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How the element's span says it ended (`switchyard.outcome`).
    pub fn outcome(&self) -> &'static str {
        match self {
            InvokeError::Timeout(_) => "timeout",
            InvokeError::Trap(_) => "trap",
            InvokeError::BadRequest(_) | InvokeError::BodyTooLarge(_) => "refused",
            InvokeError::Overloaded(_) => "overloaded",
            InvokeError::NoResponse | InvokeError::GuestError(_) => "no response",
            InvokeError::Internal(_) => "error",
        }
    }

    /// The short body the client sees.
    pub fn public_message(&self) -> &'static str {
        match self {
            InvokeError::BadRequest(_) => "bad request\n",
            InvokeError::BodyTooLarge(_) => "request body too large\n",
            InvokeError::Overloaded(_) => "service unavailable: too many requests, retry later\n",
            InvokeError::Timeout(_) => "gateway timeout: the handler did not answer in time\n",
            InvokeError::Trap(_) => "internal server error: the handler failed\n",
            InvokeError::NoResponse => "internal server error: the handler sent no response\n",
            InvokeError::GuestError(_) => "internal server error: the handler reported an error\n",
            InvokeError::Internal(_) => "internal server error\n",
        }
    }

    /// Log the failure of `tag`'s request, and count it when a limit
    /// stopped it. Called once per failed request, wherever in the chain it
    /// failed.
    pub fn log(&self, tag: &RequestTag) {
        let (route, request_id, trace_id) = (&tag.route, &tag.request_id, tag.trace_id());
        let limit = match self {
            InvokeError::Timeout(_) => Some("timeout"),
            InvokeError::BodyTooLarge(_) => Some("request_body"),
            InvokeError::Overloaded(_) => Some("concurrency"),
            _ => None,
        };
        if let Some(limit) = limit {
            telemetry::limit_hit(route, limit);
        }
        match self {
            InvokeError::BadRequest(_)
            | InvokeError::BodyTooLarge(_)
            | InvokeError::Overloaded(_) => {
                tracing::warn!(%route, %request_id, trace_id, "{self}")
            }
            // Route and request id first: a trap's detail spans several lines.
            InvokeError::Trap(detail) => {
                tracing::error!(%route, %request_id, trace_id, detail = ?detail, "guest trapped before sending a response")
            }
            InvokeError::Internal(detail) => {
                tracing::error!(%route, %request_id, trace_id, detail = ?detail, "internal error")
            }
            _ => tracing::error!(%route, %request_id, trace_id, "{self}"),
        }
    }
}

/// The trap raised when a guest runs past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request's deadline of {0:?} passed while the guest was running")]
pub struct DeadlineExceeded(pub Duration);
