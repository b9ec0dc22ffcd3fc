//! `/api/v1/sessions`: the list with filters, one session with its classification, creating one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use racestore::analysis::race::{self, SessionAnalysis};
use racestore::{Collection, Id, NewSession, RaceStoreExt, Session, SessionQuery, SessionSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{JsonBody, Params, SessionPath};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// Which sessions the list gives.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionFilter {
    /// Only sessions at this circuit (the exact name).
    circuit: Option<String>,
    /// Only sessions of this type (`race`, `Race 1`, `qualifying`; exact).
    race_type: Option<String>,
    /// Only sessions whose date starts with this (`2025-09`, `2025-09-06`).
    date: Option<String>,
}

/// A session with what is recorded under it, counted by the store without reading laps.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionItem {
    /// The session.
    #[serde(flatten)]
    session: Session,
    /// Laps recorded.
    laps: u64,
    /// Distinct drivers of its laps.
    drivers: u64,
    /// Its fastest lap, in seconds.
    best_lap: Option<f64>,
    /// Driver metrics recorded.
    driver_metrics: u64,
    /// Predictions recorded.
    predictions: u64,
    /// Simulations recorded.
    simulations: u64,
    /// Entries (who drove which car) recorded.
    entries: u64,
}

impl From<SessionSummary> for SessionItem {
    fn from(summary: SessionSummary) -> Self {
        let count = |c| summary.counts.get(c);
        SessionItem {
            laps: count(Collection::Laps),
            drivers: summary.drivers,
            best_lap: summary.best_lap,
            driver_metrics: count(Collection::DriverMetrics),
            predictions: count(Collection::Predictions),
            simulations: count(Collection::Simulations),
            entries: count(Collection::Entries),
            session: summary.session,
        }
    }
}

/// The sessions, in id order, each with its counts and best lap.
#[utoipa::path(get, path = "/api/v1/sessions", params(SessionFilter), responses(
    (status = 200, body = Vec<SessionItem>),
    (status = 400, description = "A bad query parameter", body = ErrorBody),
), tag = "sessions")]
pub(crate) async fn list(
    State(state): State<AppState>,
    Params(filter): Params<SessionFilter>,
) -> Result<Json<Vec<SessionItem>>, ApiError> {
    let mut query = SessionQuery::all();
    if let Some(circuit) = &filter.circuit {
        query = query.circuit(circuit);
    }
    let summaries = state
        .blocking(move |store| store.session_summaries(&query))
        .await?;
    let items = summaries
        .into_iter()
        .filter(|s| {
            filter
                .race_type
                .as_ref()
                .is_none_or(|t| &s.session.race_type == t)
        })
        .filter(|s| {
            filter
                .date
                .as_ref()
                .is_none_or(|d| s.session.date.starts_with(d.as_str()))
        })
        .map(SessionItem::from)
        .collect();
    Ok(Json(items))
}

/// One session: its counts and the library's analysis of its laps.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionDetail {
    /// The session and its counts.
    #[serde(flatten)]
    summary: SessionItem,
    /// The classification (in classified order, per car where the session's entries name cars)
    /// with gaps, best laps and sectors, pit stops.
    analysis: SessionAnalysis,
    /// Which lap types the analysis counts as green laps and as pit stops.
    lap_rules: LapRules,
}

/// The lap types behind the analysis's figures, so that a client draws what it counts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LapRules {
    /// Lap types at racing speed under the green flag.
    green: Vec<&'static str>,
    /// Lap types that end in the pit lane.
    pit: Vec<&'static str>,
}

/// One session with its classification, computed by `racestore::analysis::race` from its laps.
#[utoipa::path(get, path = "/api/v1/sessions/{session_id}", params(("session_id" = i64, Path, description = "The session")), responses(
    (status = 200, body = SessionDetail),
    (status = 404, description = "No such session", body = ErrorBody),
), tag = "sessions")]
pub(crate) async fn one(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
) -> Result<Json<SessionDetail>, ApiError> {
    let found = state
        .blocking(move |store| {
            let Some(summary) = store
                .session_summaries(&SessionQuery::all())?
                .into_iter()
                .find(|s| s.session.id == session_id)
            else {
                return Ok(None);
            };
            let laps = store.get_session_laps(session_id)?;
            let entries = store.get_session_entries(session_id)?;
            let analysis = race::analyse_entries(&summary.session, &laps, &entries);
            Ok(Some((summary, analysis)))
        })
        .await?;
    let (summary, analysis) = found.ok_or_else(|| ApiError::session_not_found(session_id))?;
    Ok(Json(SessionDetail {
        summary: summary.into(),
        analysis,
        lap_rules: LapRules {
            green: race::GREEN_LAP_TYPES.to_vec(),
            pit: race::PIT_LAP_TYPES.to_vec(),
        },
    }))
}

/// A session to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSessionBody {
    /// The circuit's name.
    circuit: String,
    /// When it ran (ISO 8601); now when left out.
    date: Option<String>,
    /// `race` when left out.
    race_type: Option<String>,
}

/// The session created.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedSession {
    /// Its id.
    id: Id,
    /// The session as stored.
    session: Session,
}

/// Creates a session, validated by the library (a bad date is 400 naming `date`).
#[utoipa::path(post, path = "/api/v1/sessions", request_body = NewSessionBody, responses(
    (status = 201, body = CreatedSession),
    (status = 400, description = "Bad input, naming the field", body = ErrorBody),
), tag = "sessions")]
pub(crate) async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewSessionBody>,
) -> Result<(StatusCode, Json<CreatedSession>), ApiError> {
    let new = NewSession {
        circuit: body.circuit,
        date: body.date,
        race_type: body.race_type,
    };
    let session = state
        .blocking(move |store| {
            let id = store.create_session(&new)?;
            store
                .get_session(id)?
                .ok_or_else(|| racestore::Error::session_not_found(id))
        })
        .await?;
    state.feed.poke();
    Ok((
        StatusCode::CREATED,
        Json(CreatedSession {
            id: session.id,
            session,
        }),
    ))
}

/// 404 unless the session exists.
pub(crate) async fn require_session(state: &AppState, session_id: Id) -> Result<(), ApiError> {
    let exists = state
        .blocking(move |store| Ok(store.get_session(session_id)?.is_some()))
        .await?;
    if exists {
        Ok(())
    } else {
        Err(ApiError::session_not_found(session_id))
    }
}
