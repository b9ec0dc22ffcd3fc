//! The JSON API under `/api/v1`: one module per resource, and the extractors that turn a bad
//! path, query or body into the API's error.

pub(crate) mod laps;
pub(crate) mod records;
pub(crate) mod sessions;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use racestore::Id;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::AppState;

/// The API's resource routes and `/healthz`; the router adds the OpenAPI document and the live
/// event stream, which are built on these modules.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/v1/sessions", get(sessions::list).post(sessions::create))
        .route("/api/v1/sessions/{session_id}", get(sessions::one))
        .route(
            "/api/v1/sessions/{session_id}/laps",
            get(laps::list).post(laps::save),
        )
        .route(
            "/api/v1/sessions/{session_id}/metrics",
            get(records::list_metrics).post(records::save_metrics),
        )
        .route(
            "/api/v1/sessions/{session_id}/predictions",
            get(records::list_predictions).post(records::save_predictions),
        )
        .route(
            "/api/v1/sessions/{session_id}/simulations",
            get(records::list_simulations).post(records::save_simulations),
        )
        .fallback(not_found)
}

/// What `/healthz` answers when the store answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: &'static str,
}

/// Whether the server and its store answer: 200 `{"status": "ok"}`, or 503.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, body = Health),
    (status = 503, description = "The store does not answer", body = crate::error::ErrorBody),
), tag = "server")]
pub(crate) async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Json<Health>, ApiError> {
    state.blocking(racestore::RaceStore::highest_ids).await?;
    Ok(Json(Health { status: "ok" }))
}

async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "there is nothing at {}; the API is described at /api/v1/openapi.json",
            uri.path()
        ),
    )
}

/// A session id from the path; anything but an integer is a 400 naming `session_id`.
pub(crate) struct SessionPath(pub(crate) Id);

impl<S: Send + Sync> FromRequestParts<S> for SessionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<Id>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(SessionPath(id)),
            Err(err) => Err(ApiError::invalid(
                "session_id",
                format!("the session id must be an integer: {err}"),
            )),
        }
    }
}

/// Query parameters; one that does not parse is a 400 naming it.
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(err) => {
                // "Failed to deserialize query string: limit: invalid digit found in string"
                let text = err.body_text();
                let detail = text.split_once(": ").map_or(text.as_str(), |(_, rest)| rest);
                let field = detail.split_once(": ").map_or("query", |(field, _)| field);
                Err(ApiError::invalid(field, format!("bad query parameter: {detail}")))
            }
        }
    }
}

/// A JSON request body: a body over the size limit is 413, a body that is not JSON is 400
/// `malformed_json`, and a value of the wrong type or a missing field is 400 `invalid` naming
/// the field's path (`[2].lap_time`).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn body_rejection(err: BytesRejection) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let mut api = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server accepts (--max-body); send fewer records at a time",
        );
        api.body.field = Some("body".to_owned());
        api
    } else {
        ApiError::new(err.status(), "invalid", err.body_text())
    }
}

/// Parses `bytes` as JSON into `T`, naming where it did not fit.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => deserializer.end().map(|()| value).map_err(|e| malformed(&e)),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => Err(data_error(&path, inner.to_string())),
                _ => Err(malformed(&inner)),
            }
        }
    }
}

fn malformed(err: &serde_json::Error) -> ApiError {
    let mut api = ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_json",
        format!("the body is not valid JSON: {err} (JSON has no NaN or Infinity)"),
    );
    api.body.field = Some("body".to_owned());
    api
}

/// A value of the wrong type, or a missing field, at `path` (`.` for the body itself).
fn data_error(path: &str, message: String) -> ApiError {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_owned(),
        _ => path.to_owned(),
    };
    ApiError::invalid(field, message)
}

/// One record or an array of them, as a write's body gives them.
pub(crate) fn one_or_many<T: DeserializeOwned>(
    body: serde_json::Value,
    max: usize,
) -> Result<Vec<T>, ApiError> {
    match body {
        serde_json::Value::Array(items) => {
            if items.len() > max {
                let mut err = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "{} records in one request; the server takes at most {max} (--max-batch)",
                        items.len()
                    ),
                );
                err.body.field = Some("body".to_owned());
                return Err(err);
            }
            if items.is_empty() {
                return Err(ApiError::invalid(
                    "body",
                    "the array is empty: give at least one record",
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| from_value(item).map_err(|e| prefix_field(e, &format!("[{i}]"))))
                .collect()
        }
        single => from_value(single).map(|one| vec![one]),
    }
}

fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        data_error(&path, err.into_inner().to_string())
    })
}

fn prefix_field(mut err: ApiError, prefix: &str) -> ApiError {
    if let Some(field) = &err.body.field {
        let joined = if field == "body" {
            prefix.to_owned()
        } else {
            format!("{prefix}.{field}")
        };
        err.body.field = Some(joined);
    }
    err
}

/// The ids a write gave, in input order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Saved {
    /// One id per record given, consecutive.
    ids: Vec<Id>,
}

/// A 201 with the ids.
pub(crate) fn created(ids: Vec<Id>) -> (StatusCode, Json<Saved>) {
    (StatusCode::CREATED, Json(Saved { ids }))
}
