//! The OpenAPI description, generated from the handlers and their types.

use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{laps, records, sessions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "racestore",
        description = "Race sessions, laps, driver metrics, predictions and simulations of a racestore store. Errors are {\"error\": {\"kind\", \"message\", \"field\"}}. Writes need Content-Type: application/json and, when the server has a token, Authorization: Bearer TOKEN.",
    ),
    paths(
        crate::api::health,
        sessions::list,
        sessions::create,
        sessions::one,
        laps::list,
        laps::save,
        records::list_metrics,
        records::save_metrics,
        records::list_predictions,
        records::save_predictions,
        records::list_simulations,
        records::save_simulations,
        crate::live::events,
    ),
    modifiers(&BearerToken)
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's OpenAPI 3.1 description, as `/api/v1/openapi.json` serves it.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub(crate) async fn serve() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
}
