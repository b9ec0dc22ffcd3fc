//! `/api/v1/sessions/{id}/metrics`, `/predictions`, `/simulations`: a session's records of
//! each, and saving them (one or an array, all or nothing).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use racestore::{
    DriverMetrics, NewDriverMetrics, NewPrediction, NewSimulation, Prediction, RaceStoreExt, Simulation,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::sessions::require_session;
use super::{created, one_or_many, JsonBody, Saved, SessionPath};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// The driver metrics of a session, in id order.
#[utoipa::path(get, path = "/api/v1/sessions/{session_id}/metrics",
    params(("session_id" = i64, Path, description = "The session")),
    responses((status = 200, body = Vec<DriverMetrics>), (status = 404, description = "No such session", body = ErrorBody)),
    tag = "records")]
pub(crate) async fn list_metrics(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
) -> Result<Json<Vec<DriverMetrics>>, ApiError> {
    require_session(&state, session_id).await?;
    Ok(Json(
        state
            .blocking(move |store| store.get_session_metrics(session_id))
            .await?,
    ))
}

/// The predictions of a session, in id order.
#[utoipa::path(get, path = "/api/v1/sessions/{session_id}/predictions",
    params(("session_id" = i64, Path, description = "The session")),
    responses((status = 200, body = Vec<Prediction>), (status = 404, description = "No such session", body = ErrorBody)),
    tag = "records")]
pub(crate) async fn list_predictions(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
) -> Result<Json<Vec<Prediction>>, ApiError> {
    require_session(&state, session_id).await?;
    Ok(Json(
        state
            .blocking(move |store| store.get_session_predictions(session_id))
            .await?,
    ))
}

/// The simulations of a session, in id order.
#[utoipa::path(get, path = "/api/v1/sessions/{session_id}/simulations",
    params(("session_id" = i64, Path, description = "The session")),
    responses((status = 200, body = Vec<Simulation>), (status = 404, description = "No such session", body = ErrorBody)),
    tag = "records")]
pub(crate) async fn list_simulations(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
) -> Result<Json<Vec<Simulation>>, ApiError> {
    require_session(&state, session_id).await?;
    Ok(Json(
        state
            .blocking(move |store| store.get_session_simulations(session_id))
            .await?,
    ))
}

/// One driver's metrics to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsBody {
    /// The driver.
    driver_id: String,
    /// Consistency index.
    consistency_index: Option<f64>,
    /// Aggression score.
    aggression_score: Option<f64>,
    /// Sector strength (an object); `{}` when left out.
    sector_strength: Option<Value>,
    /// Pace stability (an object); `{}` when left out.
    pace_stability: Option<Value>,
    /// Fatigue drop-off (an object); `{}` when left out.
    fatigue_dropoff: Option<Value>,
}

/// A prediction to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PredictionBody {
    /// The driver.
    driver_id: String,
    /// What is predicted (`lap_time`, ...).
    prediction_type: String,
    /// The predicted value.
    prediction_value: f64,
    /// The model that predicted it.
    model_path: String,
    /// The model's confidence.
    confidence: Option<f64>,
}

/// A simulation to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimulationBody {
    /// Each driver's pace (an object).
    driver_paces: Value,
    /// Laps simulated.
    n_laps: i64,
    /// Races simulated.
    iterations: i64,
    /// The results (an object: win probabilities and more).
    results: Value,
}

/// Saves driver metrics (one object or an array), all or nothing.
#[utoipa::path(post, path = "/api/v1/sessions/{session_id}/metrics",
    params(("session_id" = i64, Path, description = "The session")),
    request_body(content = Vec<MetricsBody>, description = "One driver's metrics, or an array"),
    responses((status = 201, body = Saved), (status = 400, description = "Bad input, naming the field; nothing stored", body = ErrorBody),
        (status = 404, description = "No such session; nothing stored", body = ErrorBody)),
    tag = "records")]
pub(crate) async fn save_metrics(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let inputs: Vec<NewDriverMetrics> = one_or_many::<MetricsBody>(body, state.options.max_batch)?
        .into_iter()
        .map(|m| {
            let mut new = NewDriverMetrics::new(session_id, m.driver_id);
            new.consistency_index = m.consistency_index;
            new.aggression_score = m.aggression_score;
            if let Some(v) = m.sector_strength {
                new.sector_strength = v;
            }
            if let Some(v) = m.pace_stability {
                new.pace_stability = v;
            }
            if let Some(v) = m.fatigue_dropoff {
                new.fatigue_dropoff = v;
            }
            new
        })
        .collect();
    save(&state, inputs).await
}

/// Saves predictions (one object or an array), all or nothing.
#[utoipa::path(post, path = "/api/v1/sessions/{session_id}/predictions",
    params(("session_id" = i64, Path, description = "The session")),
    request_body(content = Vec<PredictionBody>, description = "One prediction, or an array"),
    responses((status = 201, body = Saved), (status = 400, description = "Bad input, naming the field; nothing stored", body = ErrorBody),
        (status = 404, description = "No such session; nothing stored", body = ErrorBody)),
    tag = "records")]
pub(crate) async fn save_predictions(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let inputs: Vec<NewPrediction> = one_or_many::<PredictionBody>(body, state.options.max_batch)?
        .into_iter()
        .map(|p| {
            let mut new = NewPrediction::new(
                session_id,
                p.driver_id,
                p.prediction_type,
                p.prediction_value,
                p.model_path,
            );
            new.confidence = p.confidence;
            new
        })
        .collect();
    save(&state, inputs).await
}

/// Saves simulations (one object or an array), all or nothing.
#[utoipa::path(post, path = "/api/v1/sessions/{session_id}/simulations",
    params(("session_id" = i64, Path, description = "The session")),
    request_body(content = Vec<SimulationBody>, description = "One simulation, or an array"),
    responses((status = 201, body = Saved), (status = 400, description = "Bad input, naming the field; nothing stored", body = ErrorBody),
        (status = 404, description = "No such session; nothing stored", body = ErrorBody)),
    tag = "records")]
pub(crate) async fn save_simulations(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let inputs: Vec<NewSimulation> = one_or_many::<SimulationBody>(body, state.options.max_batch)?
        .into_iter()
        .map(|s| NewSimulation::new(session_id, s.driver_paces, s.n_laps, s.iterations, s.results))
        .collect();
    save(&state, inputs).await
}

async fn save<N: racestore::model::NewRecord + Send + 'static>(
    state: &AppState,
    inputs: Vec<N>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let ids = state.blocking(move |store| store.save_records(&inputs)).await?;
    state.feed.poke();
    Ok(created(ids))
}
