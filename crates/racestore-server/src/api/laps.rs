//! `/api/v1/sessions/{id}/laps`: pages of laps as JSON, every lap streamed as NDJSON or CSV, and
//! saving laps (one or a batch, all or nothing).

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use racestore::export::{self, Export, Format};
use racestore::{Collection, Id, Lap, NewLap, Query, RaceStoreExt, Sectors};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::sessions::require_session;
use super::{created, one_or_many, JsonBody, Params, Saved, SessionPath};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// Which laps, and how.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LapFilter {
    /// Only this driver's laps.
    driver: Option<String>,
    /// Only laps of this type (`RACE_LAP`, `IN_LAP`, ...).
    lap_type: Option<String>,
    /// Only laps numbered at least this (JSON only).
    lap_from: Option<i64>,
    /// Only laps numbered at most this (JSON only).
    lap_to: Option<i64>,
    /// The cursor: only laps with ids above this; give the last page's `next_after_id`.
    after_id: Option<Id>,
    /// At most this many laps in a JSON page (default 10,000).
    limit: Option<usize>,
    /// `json` (pages, the default), `ndjson` or `csv` (every selected lap, streamed).
    format: Option<String>,
}

/// One page of laps.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LapPage {
    /// The laps, in id order.
    laps: Vec<Lap>,
    /// The cursor of the next page (`after_id=`), or `null` when this page is the last.
    next_after_id: Option<Id>,
}

/// The laps of a JSON page when `limit` is not given.
const DEFAULT_PAGE: usize = 10_000;

/// A session's laps in id order: a JSON page with a stable cursor, or every selected lap streamed
/// as `format=ndjson` or `format=csv` (the library's export formats) in constant memory.
#[utoipa::path(get, path = "/api/v1/sessions/{session_id}/laps",
    params(("session_id" = i64, Path, description = "The session"), LapFilter),
    responses(
        (status = 200, description = "A page of laps (JSON), or every lap as NDJSON or CSV", body = LapPage),
        (status = 400, description = "A bad parameter, naming it", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
    ), tag = "laps")]
pub(crate) async fn list(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    Params(filter): Params<LapFilter>,
) -> Result<Response, ApiError> {
    let format = match filter.format.as_deref().unwrap_or("json") {
        "json" => None,
        "ndjson" => Some(Format::Ndjson),
        "csv" => Some(Format::Csv { delimiter: b',' }),
        other => {
            return Err(ApiError::invalid(
                "format",
                format!("unknown format {other:?}: use json, ndjson or csv"),
            ))
        }
    };
    if let Some(format) = format {
        for (field, given) in [
            ("lap_from", filter.lap_from.is_some()),
            ("lap_to", filter.lap_to.is_some()),
            ("after_id", filter.after_id.is_some()),
            ("limit", filter.limit.is_some()),
        ] {
            if given {
                return Err(ApiError::invalid(
                    field,
                    format!("{field} pages JSON only: ndjson and csv stream every selected lap"),
                ));
            }
        }
        return stream(state, session_id, &filter, format).await;
    }
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    let max = state.options.max_page;
    if limit == 0 || limit > max {
        return Err(ApiError::invalid("limit", format!("limit must be 1 to {max}")));
    }
    let mut query = Query {
        after_id: filter.after_id.unwrap_or(0),
        limit: Some(limit),
        ..Query::session(Collection::Laps, session_id)
    };
    if let Some(driver) = &filter.driver {
        query = query.text_equals("driver_id", driver.clone());
    }
    if let Some(lap_type) = &filter.lap_type {
        query = query.text_equals("lap_type", lap_type.clone());
    }
    let (from, to) = (
        filter.lap_from.unwrap_or(i64::MIN),
        filter.lap_to.unwrap_or(i64::MAX),
    );
    let page = state
        .blocking(move |store| {
            if store.get_session(session_id)?.is_none() {
                return Ok(None);
            }
            // Reads pages until `limit` laps in the lap range are found or the laps run out.
            let mut laps = Vec::new();
            let mut next = None;
            loop {
                let read: Vec<Lap> = store.read_records(&query)?;
                let full = read.len() == limit;
                let last = read.last().map(|l| l.id);
                for lap in read {
                    if laps.len() == limit {
                        break;
                    }
                    let id = lap.id;
                    if (from..=to).contains(&lap.lap_number) {
                        laps.push(lap);
                        if laps.len() == limit {
                            next = Some(id);
                        }
                    }
                }
                match last {
                    Some(last) if full && laps.len() < limit => query.after_id = last,
                    _ => break,
                }
            }
            Ok(Some(LapPage {
                laps,
                next_after_id: next,
            }))
        })
        .await?;
    let page = page.ok_or_else(|| ApiError::session_not_found(session_id))?;
    Ok(Json(page).into_response())
}

/// Streams the export of the selected laps: written by the library on a blocking thread into a
/// bounded channel, so memory stays flat whatever the number of laps.
async fn stream(
    state: AppState,
    session_id: Id,
    filter: &LapFilter,
    format: Format,
) -> Result<Response, ApiError> {
    require_session(&state, session_id).await?;
    let mut export = Export::new(vec![Collection::Laps], format).session(session_id);
    if let Some(driver) = &filter.driver {
        export = export.driver(driver.clone());
    }
    if let Some(lap_type) = &filter.lap_type {
        export = export.lap_type(lap_type.clone());
    }
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let store = std::sync::Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let written = export::write(
            store.as_ref(),
            &export,
            &mut out,
            std::path::Path::new("the response"),
            &mut |_, _| {},
        )
        .and_then(|_| {
            out.flush()
                .map_err(|e| racestore::Error::backend("server", e.to_string()))
        });
        if let Err(err) = written {
            // The status has gone out: the client sees the body end early.
            tracing::warn!("streaming the laps of session {session_id}: {err}");
            let _ = tx.blocking_send(Err(std::io::Error::other(err.to_string())));
        }
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let content_type = match format {
        Format::Ndjson => "application/x-ndjson",
        _ => "text/csv; charset=utf-8",
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

const CHUNK: usize = 64 * 1024;

/// Sends what is written in chunks into a channel; waits when the client reads slowly.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// A lap to save, into the session of the path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LapBody {
    /// The session; when given, it must be the path's.
    session_id: Option<Id>,
    /// The driver (or car) id.
    driver_id: String,
    /// The lap's number.
    lap_number: i64,
    /// The lap time, in seconds.
    lap_time: f64,
    /// Sector 1, in seconds.
    sector_1: Option<f64>,
    /// Sector 2, in seconds.
    sector_2: Option<f64>,
    /// Sector 3, in seconds.
    sector_3: Option<f64>,
    /// `RACE_LAP`, `IN_LAP`, `OUT_LAP`, ...; `normal` when left out.
    lap_type: Option<String>,
    /// Running position at the end of the lap.
    position: Option<i64>,
}

/// Saves one lap or an array of laps into the session, all or nothing: one invalid lap (or an
/// unknown session) stores none, and the error names the field (`[3].lap_time`).
#[utoipa::path(post, path = "/api/v1/sessions/{session_id}/laps",
    params(("session_id" = i64, Path, description = "The session")),
    request_body(content = Vec<LapBody>, description = "One lap, or an array of laps"),
    responses(
        (status = 201, body = Saved),
        (status = 400, description = "Bad input, naming the field; nothing stored", body = ErrorBody),
        (status = 404, description = "No such session; nothing stored", body = ErrorBody),
        (status = 413, description = "Too large a body or batch; nothing stored", body = ErrorBody),
    ), tag = "laps")]
pub(crate) async fn save(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let laps = one_or_many::<LapBody>(body, state.options.max_batch)?
        .into_iter()
        .enumerate()
        .map(|(i, lap)| {
            if lap.session_id.is_some_and(|given| given != session_id) {
                return Err(ApiError::invalid(
                    format!("[{i}].session_id"),
                    format!(
                        "the lap names session {:?}, the path session {session_id}",
                        lap.session_id
                    ),
                ));
            }
            let mut new = NewLap::new(session_id, lap.driver_id, lap.lap_number, lap.lap_time);
            new.sectors = Sectors {
                s1: lap.sector_1,
                s2: lap.sector_2,
                s3: lap.sector_3,
            };
            if let Some(lap_type) = lap.lap_type {
                new.lap_type = lap_type;
            }
            new.position = lap.position;
            Ok(new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ids = state.blocking(move |store| store.save_laps(&laps)).await?;
    state.feed.poke();
    Ok(created(ids))
}
