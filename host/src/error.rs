//! The one error a request can end in, and the one place it becomes a status.
//!
//! The server log gets the full error (`{:?}`, with the guest's backtrace for a
//! trap) next to the route and request id; the client gets a short, generic
//! body that never exposes guest internals.

use http::StatusCode;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

/// Why a request did not get a response from its handler.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The request itself cannot be handed to a guest (e.g. no authority).
    #[error("bad request: {0:#}")]
    BadRequest(anyhow::Error),
    /// The guest trapped (or failed to instantiate) before setting a response.
    #[error("guest trapped before sending a response: {0:?}")]
    Trap(anyhow::Error),
    /// The guest returned without ever calling `response-outparam.set`.
    #[error("guest returned without setting a response")]
    NoResponse,
    /// The guest passed an error to `response-outparam.set`.
    #[error("guest answered with error code {0:?}")]
    GuestError(ErrorCode),
    /// Something failed in the host itself.
    #[error("internal error: {0:?}")]
    Internal(anyhow::Error),
}

impl InvokeError {
    /// The status the client sees.
    pub fn status(&self) -> StatusCode {
        match self {
            InvokeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            InvokeError::Trap(_)
            | InvokeError::NoResponse
            | InvokeError::GuestError(_)
            | InvokeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short body the client sees.
    pub fn public_message(&self) -> &'static str {
        match self {
            InvokeError::BadRequest(_) => "bad request\n",
            InvokeError::Trap(_) => "internal server error: the handler failed\n",
            InvokeError::NoResponse => "internal server error: the handler sent no response\n",
            InvokeError::GuestError(_) => "internal server error: the handler reported an error\n",
            InvokeError::Internal(_) => "internal server error\n",
        }
    }
}
