//! The one error type of the API, and its one conversion into a response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// An error as the API answers it: a status and `{"error": {"kind", "message", "field"}}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body's `error` object.
    pub body: ErrorDetail,
}

/// What went wrong, as the body of every error response says it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable word a client can match on: `invalid`, `malformed_json`, `not_found`,
    /// `payload_too_large`, `unsupported_media_type`, `unauthorized`, `forbidden`, `read_only`,
    /// `unavailable`, `damaged`, `internal`.
    pub kind: &'static str,
    /// What failed and what the client can do, in words.
    pub message: String,
    /// The field at fault (`lap_time`, `[3].sector_2`, `limit`), when one is.
    pub field: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

impl ApiError {
    /// An error with this status, kind and message, naming no field.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorDetail {
                kind,
                message: message.into(),
                field: None,
            },
        }
    }

    /// A 400 `invalid` naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, "invalid", message);
        err.body.field = Some(field.into());
        err
    }

    /// The 404 of a session that does not exist.
    pub fn session_not_found(id: racestore::Id) -> Self {
        racestore::Error::session_not_found(id).into()
    }

    /// A 500 for a failure inside the server (a task that panicked).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<racestore::Error> for ApiError {
    fn from(err: racestore::Error) -> Self {
        use racestore::Error as E;
        let message = err.to_string();
        let (status, kind) = match &err {
            E::Invalid { field, .. } => return ApiError::invalid(field.clone(), message),
            E::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            E::Import { .. } | E::Unsupported { .. } => (StatusCode::BAD_REQUEST, "invalid"),
            E::Locked { .. } | E::Closed | E::Poisoned(_) | E::Backend { retryable: true, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            E::ReadOnly { .. } => (StatusCode::FORBIDDEN, "read_only"),
            E::CorruptFile { .. } | E::CorruptRow { .. } | E::Damaged { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "damaged")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!("{message}");
        }
        ApiError::new(status, kind, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.body })).into_response()
    }
}
