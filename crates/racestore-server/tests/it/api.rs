//! The API against every backend: each endpoint, its filters and pages, and bad input answered
//! with the documented error while nothing is stored.

use std::time::Duration;

use axum::Router;
use http_body_util::BodyExt;
use racestore::{Collection, RaceStore};
use racestore_server::{router, Options};
use serde_json::{json, Value};

use crate::common::{get, off, post, send, stores, TestStore};

fn app(store: &TestStore) -> Router {
    router(store.store.clone(), Options::default())
}

fn count(store: &dyn RaceStore, collection: Collection) -> u64 {
    off(|| store.counts().unwrap().get(collection))
}

/// Creates a session and returns its id.
async fn session(app: &Router, circuit: &str, date: &str, race_type: &str) -> i64 {
    let reply = post(
        app,
        "/api/v1/sessions",
        &json!({"circuit": circuit, "date": date, "race_type": race_type}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()["id"].as_i64().unwrap()
}

fn lap(driver: &str, number: i64, time: f64, position: i64) -> Value {
    json!({"driver_id": driver, "lap_number": number, "lap_time": time,
           "sector_1": 30.0, "sector_2": 31.0, "sector_3": time - 61.0,
           "lap_type": "RACE_LAP", "position": position})
}

#[tokio::test]
async fn sessions_are_created_listed_with_filters_and_shown_with_their_classification() {
    for test in stores("sessions") {
        let app = app(&test);
        let name = test.name;
        let barber = session(&app, "Barber", "2025-09-06T14:00:00", "race").await;
        let sonoma = session(&app, "Sonoma", "2025-10-01", "qualifying").await;
        assert_eq!((barber, sonoma), (1, 2), "{name}");

        let laps: Vec<Value> = vec![
            lap("13", 1, 99.0, 2),
            lap("7", 1, 98.5, 1),
            lap("13", 2, 97.0, 1),
            lap("7", 2, 98.0, 2),
        ];
        let saved = post(&app, "/api/v1/sessions/1/laps", &Value::from(laps).to_string()).await;
        assert_eq!(
            (saved.status.as_u16(), saved.json()),
            (201, json!({"ids": [1, 2, 3, 4]})),
            "{name}"
        );

        let all = get(&app, "/api/v1/sessions").await.json();
        assert_eq!(all.as_array().unwrap().len(), 2, "{name}");
        assert_eq!(
            (
                all[0]["laps"].clone(),
                all[0]["drivers"].clone(),
                all[0]["best_lap"].clone()
            ),
            (json!(4), json!(2), json!(97.0)),
            "{name}"
        );
        for (query, ids) in [
            ("circuit=Sonoma", vec![2]),
            ("race_type=race", vec![1]),
            ("date=2025-10", vec![2]),
            ("date=2025-09-06&circuit=Barber", vec![1]),
            ("circuit=Monza", vec![]),
        ] {
            let listed = get(&app, &format!("/api/v1/sessions?{query}")).await.json();
            let got: Vec<i64> = listed
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_i64().unwrap())
                .collect();
            assert_eq!(got, ids, "{name} {query}");
        }

        let one = get(&app, "/api/v1/sessions/1").await;
        assert_eq!(one.status, 200, "{name}");
        let one = one.json();
        assert_eq!(one["circuit"], "Barber", "{name}");
        let classification = one["analysis"]["classification"].as_array().unwrap();
        // Equal laps, shorter total first: 13 has 196.0, 7 has 196.5.
        assert_eq!(classification[0]["driver_id"], "13", "{name}");
        assert_eq!(
            classification[1]["gap_to_leader"],
            json!({"seconds": 0.5}),
            "{name}"
        );
        assert_eq!(classification[0]["best_sectors"]["S1"], json!(30.0), "{name}");

        let (kind, _) = get(&app, "/api/v1/sessions/99").await.error(404);
        assert_eq!(kind, "not_found", "{name}");
        let (kind, field) = get(&app, "/api/v1/sessions/abc").await.error(400);
        assert_eq!(
            (kind.as_str(), field.as_deref()),
            ("invalid", Some("session_id")),
            "{name}"
        );

        // Bad sessions: the library's validation, the field named, nothing stored.
        for (body, status, kind, field) in [
            (
                r#"{"circuit": "X", "date": "yesterday"}"#,
                400,
                "invalid",
                Some("date"),
            ),
            (r#"{"circuit": ""}"#, 400, "invalid", Some("circuit")),
            (r#"{"circuit": 7}"#, 400, "invalid", Some("circuit")),
            (r#"{"date": "2025-01-01"}"#, 400, "invalid", Some("circuit")),
            (r#"{"circuit": "X", "track": "Y"}"#, 400, "invalid", Some("track")),
            (r#"{"circuit": "X""#, 400, "malformed_json", Some("body")),
        ] {
            let reply = post(&app, "/api/v1/sessions", body).await;
            assert_eq!(
                reply.error(status),
                (kind.to_owned(), field.map(str::to_owned)),
                "{name} {body}"
            );
        }
        assert_eq!(count(test.store.as_ref(), Collection::Sessions), 2, "{name}");
    }
}

#[tokio::test]
async fn laps_are_saved_all_or_nothing_and_bad_input_names_the_field() {
    for test in stores("laps_all_or_nothing") {
        let app = app(&test);
        let name = test.name;
        session(&app, "Barber", "2025-09-06", "race").await;
        let one = post(&app, "/api/v1/sessions/1/laps", &lap("7", 1, 98.5, 1).to_string()).await;
        assert_eq!(
            (one.status.as_u16(), one.json()),
            (201, json!({"ids": [1]})),
            "{name}"
        );

        let good = lap("7", 2, 98.0, 1);
        let batch = |bad: Value| Value::from(vec![good.clone(), good.clone(), bad]).to_string();
        let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
            (
                r#"[{"driver_id": "7", "lap_number": 3, "lap_time": NaN}]"#.to_owned(),
                400,
                "malformed_json",
                Some("body"),
            ),
            (
                r#"{"driver_id": "7", "lap_number": 3, "lap_time": 1e999}"#.to_owned(),
                400,
                "malformed_json",
                Some("body"),
            ),
            ("not json".to_owned(), 400, "malformed_json", Some("body")),
            (
                batch(json!({"driver_id": "7", "lap_number": "3", "lap_time": 97.0})),
                400,
                "invalid",
                Some("[2].lap_number"),
            ),
            (
                batch(json!({"driver_id": "7", "lap_number": 3})),
                400,
                "invalid",
                Some("[2].lap_time"),
            ),
            (
                batch(json!({"driver_id": "7", "lap_number": 3, "lap_time": 97.0, "lap_tyme": "X"})),
                400,
                "invalid",
                Some("[2].lap_tyme"),
            ),
            (
                batch(json!({"driver_id": "7", "lap_number": 3, "lap_time": -1.0})),
                400,
                "invalid",
                Some("lap_time"),
            ),
            (
                batch(json!({"driver_id": "", "lap_number": 3, "lap_time": 97.0})),
                400,
                "invalid",
                Some("driver_id"),
            ),
            (
                batch(json!({"session_id": 2, "driver_id": "7", "lap_number": 3, "lap_time": 97.0})),
                400,
                "invalid",
                Some("[2].session_id"),
            ),
            ("[]".to_owned(), 400, "invalid", Some("body")),
            ("42".to_owned(), 400, "invalid", Some("body")),
        ];
        for (body, status, kind, field) in &cases {
            let reply = post(&app, "/api/v1/sessions/1/laps", body).await;
            assert_eq!(
                reply.error(*status),
                ((*kind).to_owned(), field.map(str::to_owned)),
                "{name} {body}"
            );
        }
        let missing = post(&app, "/api/v1/sessions/9/laps", &batch(good.clone())).await;
        assert_eq!(missing.error(404).0, "not_found", "{name}");
        assert_eq!(
            count(test.store.as_ref(), Collection::Laps),
            1,
            "{name}: a rejected batch stored laps"
        );

        // The next good batch gets the next ids: a rejected save used none.
        let saved = post(&app, "/api/v1/sessions/1/laps", &batch(lap("7", 3, 97.5, 1))).await;
        assert_eq!(saved.json(), json!({"ids": [2, 3, 4]}), "{name}");
    }
}

#[tokio::test]
async fn laps_read_in_pages_with_filters_and_stream_as_ndjson_and_csv() {
    for test in stores("laps_pages") {
        let app = app(&test);
        let name = test.name;
        session(&app, "Barber", "2025-09-06", "race").await;
        let mut laps = Vec::new();
        for number in 1..=10 {
            laps.push(lap("7", number, 98.0 + number as f64 / 10.0, 1));
            laps.push(lap("13", number, 99.0, 2));
        }
        laps[5]["lap_type"] = json!("IN_LAP");
        post(&app, "/api/v1/sessions/1/laps", &Value::from(laps).to_string()).await;

        // Pages of 6 follow the cursor to the end, each lap once, in id order.
        let mut ids = Vec::new();
        let mut path = "/api/v1/sessions/1/laps?limit=6".to_owned();
        loop {
            let page = get(&app, &path).await.json();
            ids.extend(
                page["laps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["id"].as_i64().unwrap()),
            );
            match page["next_after_id"].as_i64() {
                Some(next) => path = format!("/api/v1/sessions/1/laps?limit=6&after_id={next}"),
                None => break,
            }
        }
        assert_eq!(ids, (1..=20).collect::<Vec<_>>(), "{name}");

        let ids_of = |page: &Value| -> Vec<(String, i64)> {
            page["laps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        l["driver_id"].as_str().unwrap().to_owned(),
                        l["lap_number"].as_i64().unwrap(),
                    )
                })
                .collect()
        };
        let driver = get(&app, "/api/v1/sessions/1/laps?driver=13&lap_from=4&lap_to=6")
            .await
            .json();
        assert_eq!(
            ids_of(&driver),
            [("13".to_owned(), 4), ("13".to_owned(), 5), ("13".to_owned(), 6)],
            "{name}"
        );
        let ranged = get(&app, "/api/v1/sessions/1/laps?lap_from=9&limit=3")
            .await
            .json();
        assert_eq!(
            ids_of(&ranged),
            [("7".to_owned(), 9), ("13".to_owned(), 9), ("7".to_owned(), 10)],
            "{name}"
        );
        let rest = get(
            &app,
            &format!(
                "/api/v1/sessions/1/laps?lap_from=9&limit=3&after_id={}",
                ranged["next_after_id"]
            ),
        )
        .await
        .json();
        assert_eq!(
            (ids_of(&rest), rest["next_after_id"].clone()),
            (vec![("13".to_owned(), 10)], Value::Null),
            "{name}"
        );
        let pits = get(&app, "/api/v1/sessions/1/laps?lap_type=IN_LAP").await.json();
        assert_eq!(ids_of(&pits), [("13".to_owned(), 3)], "{name}");

        let ndjson = get(&app, "/api/v1/sessions/1/laps?format=ndjson&driver=7").await;
        assert_eq!(
            (ndjson.status.as_u16(), ndjson.content_type.as_str()),
            (200, "application/x-ndjson"),
            "{name}"
        );
        let lines: Vec<Value> = ndjson
            .text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 10, "{name}");
        assert!(lines.iter().all(|l| l["driver_id"] == "7"), "{name}");
        let csv = get(&app, "/api/v1/sessions/1/laps?format=csv").await;
        assert!(csv.content_type.starts_with("text/csv"), "{name}");
        let rows: Vec<&str> = csv.text.lines().collect();
        assert_eq!(rows.len(), 21, "{name}");
        assert!(
            rows[0].starts_with("id,session_id,driver_id,lap_number,lap_time"),
            "{name}"
        );

        for (query, field) in [
            ("limit=abc", "limit"),
            ("limit=0", "limit"),
            ("limit=100001", "limit"),
            ("lap_from=x", "lap_from"),
            ("format=xml", "format"),
            ("format=csv&lap_from=3", "lap_from"),
        ] {
            let reply = get(&app, &format!("/api/v1/sessions/1/laps?{query}")).await;
            assert_eq!(
                reply.error(400),
                ("invalid".to_owned(), Some(field.to_owned())),
                "{name} {query}"
            );
        }
        assert_eq!(
            get(&app, "/api/v1/sessions/5/laps").await.error(404).0,
            "not_found",
            "{name}"
        );
        assert_eq!(
            get(&app, "/api/v1/sessions/5/laps?format=csv").await.error(404).0,
            "not_found",
            "{name}"
        );
    }
}

#[tokio::test]
async fn metrics_predictions_and_simulations_round_trip_and_reject_bad_input() {
    for test in stores("records") {
        let app = app(&test);
        let name = test.name;
        session(&app, "Barber", "2025-09-06", "race").await;
        let metrics = json!([
            {"driver_id": "7", "consistency_index": 0.91, "aggression_score": 0.4, "sector_strength": {"S1": 0.2}},
            {"driver_id": "13", "consistency_index": 0.85}
        ]);
        let reply = post(&app, "/api/v1/sessions/1/metrics", &metrics.to_string()).await;
        assert_eq!(reply.json(), json!({"ids": [1, 2]}), "{name}");
        let read = get(&app, "/api/v1/sessions/1/metrics").await.json();
        assert_eq!(
            (
                read[0]["sector_strength"].clone(),
                read[1]["pace_stability"].clone()
            ),
            (json!({"S1": 0.2}), json!({})),
            "{name}"
        );

        let prediction = json!({"driver_id": "7", "prediction_type": "lap_time", "prediction_value": 97.9, "model_path": "m.pkl", "confidence": 0.8});
        assert_eq!(
            post(&app, "/api/v1/sessions/1/predictions", &prediction.to_string())
                .await
                .json(),
            json!({"ids": [1]}),
            "{name}"
        );
        let read = get(&app, "/api/v1/sessions/1/predictions").await.json();
        assert_eq!(
            (read[0]["prediction_value"].clone(), read[0]["confidence"].clone()),
            (json!(97.9), json!(0.8)),
            "{name}"
        );

        let simulation = json!({"driver_paces": {"7": 98.0, "13": 98.4}, "n_laps": 27, "iterations": 1000,
                                "results": {"win_probability": {"7": 0.7, "13": 0.3}}});
        assert_eq!(
            post(&app, "/api/v1/sessions/1/simulations", &simulation.to_string())
                .await
                .json(),
            json!({"ids": [1]}),
            "{name}"
        );
        let read = get(&app, "/api/v1/sessions/1/simulations").await.json();
        assert_eq!(read[0]["results"]["win_probability"]["13"], json!(0.3), "{name}");

        for (path, body, field) in [
            (
                "metrics",
                json!([{"driver_id": "7"}, {"driver_id": "8", "consistency_index": "high"}]),
                "[1].consistency_index",
            ),
            ("metrics", json!({"driver_id": ""}), "driver_id"),
            (
                "predictions",
                json!({"driver_id": "7", "prediction_type": "lap_time", "model_path": "m"}),
                "prediction_value",
            ),
            (
                "predictions",
                json!([prediction.clone(), {"driver_id": "7", "prediction_type": "lap_time", "prediction_value": 1.0, "model_path": "m", "confidence": 7.0}]),
                "confidence",
            ),
            (
                "simulations",
                json!({"driver_paces": {}, "n_laps": -1, "iterations": 10, "results": {}}),
                "n_laps",
            ),
            (
                "simulations",
                json!({"driver_paces": {}, "n_laps": 2.5, "iterations": 10, "results": {}}),
                "n_laps",
            ),
        ] {
            let reply = post(&app, &format!("/api/v1/sessions/1/{path}"), &body.to_string()).await;
            assert_eq!(
                reply.error(400),
                ("invalid".to_owned(), Some(field.to_owned())),
                "{name} {path} {body}"
            );
        }
        for path in ["metrics", "predictions", "simulations"] {
            assert_eq!(
                get(&app, &format!("/api/v1/sessions/4/{path}"))
                    .await
                    .error(404)
                    .0,
                "not_found",
                "{name}"
            );
            let body = if path == "simulations" {
                simulation.clone()
            } else if path == "metrics" {
                json!({"driver_id": "7"})
            } else {
                prediction.clone()
            };
            assert_eq!(
                post(&app, &format!("/api/v1/sessions/4/{path}"), &body.to_string())
                    .await
                    .error(404)
                    .0,
                "not_found",
                "{name}"
            );
        }
        let counts = off(|| test.store.counts().unwrap());
        assert_eq!(
            (
                counts.driver_metrics(),
                counts.predictions(),
                counts.simulations()
            ),
            (2, 1, 1),
            "{name}: a rejected write stored something"
        );
    }
}

#[tokio::test]
async fn limits_tokens_read_only_content_type_and_host_are_enforced_and_store_nothing() {
    for test in stores("security") {
        let name = test.name;
        let options = Options {
            listen: Some("127.0.0.1:8080".parse().unwrap()),
            token: Some("s3cret-token".to_owned()),
            max_body_bytes: 4096,
            max_batch: 5,
            ..Options::default()
        };
        let app = router(test.store.clone(), options.clone());
        let auth = ("authorization", "Bearer s3cret-token");
        let host = ("host", "127.0.0.1:8080");
        let body = json!({"circuit": "Barber"}).to_string();

        // Without the token, or with a wrong one: 401, for writes and reads.
        for headers in [
            vec![host],
            vec![host, ("authorization", "Bearer wrong")],
            vec![host, ("authorization", "s3cret-token")],
        ] {
            let reply = send(&app, "POST", "/api/v1/sessions", Some(&body), &headers).await;
            assert_eq!(
                reply.error(401),
                ("unauthorized".to_owned(), Some("Authorization".to_owned())),
                "{name}"
            );
            assert_eq!(
                send(&app, "GET", "/api/v1/sessions", None, &headers)
                    .await
                    .error(401)
                    .0,
                "unauthorized",
                "{name}"
            );
        }
        // The page and the description hold no data.
        assert_eq!(send(&app, "GET", "/", None, &[host]).await.status, 200, "{name}");
        let created = send(&app, "POST", "/api/v1/sessions", Some(&body), &[host, auth]).await;
        assert_eq!(created.status, 201, "{name}: {}", created.text);
        assert_eq!(
            send(&app, "GET", "/api/v1/sessions", None, &[host, auth])
                .await
                .status,
            200,
            "{name}"
        );

        // Another Host (DNS rebinding, a forged name): refused even with the token.
        let reply = send(
            &app,
            "GET",
            "/api/v1/sessions",
            None,
            &[("host", "evil.example:8080"), auth],
        )
        .await;
        assert_eq!(reply.error(403).0, "forbidden", "{name}");
        assert_eq!(
            send(&app, "GET", "/healthz", None, &[("host", "localhost:8080")])
                .await
                .status,
            200,
            "{name}"
        );

        // A write that is not JSON (a cross-site form post): 415.
        let form = send(
            &app,
            "POST",
            "/api/v1/sessions",
            Some("circuit=X"),
            &[host, auth, ("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
        assert_eq!(
            form.error(415),
            (
                "unsupported_media_type".to_owned(),
                Some("Content-Type".to_owned())
            ),
            "{name}"
        );

        // A body over the limit, and a batch over the limit: 413.
        let big = Value::from(vec![lap("7", 1, 98.0, 1); 60]).to_string();
        assert!(big.len() > 4096);
        let reply = send(&app, "POST", "/api/v1/sessions/1/laps", Some(&big), &[host, auth]).await;
        assert_eq!(reply.error(413).0, "payload_too_large", "{name}");
        let six = Value::from(vec![lap("7", 1, 98.0, 1); 6]).to_string();
        let reply = send(&app, "POST", "/api/v1/sessions/1/laps", Some(&six), &[host, auth]).await;
        assert_eq!(reply.error(413).0, "payload_too_large", "{name}");

        // --public-read opens reads only.
        let public = router(
            test.store.clone(),
            Options {
                public_read: true,
                ..options.clone()
            },
        );
        assert_eq!(
            send(&public, "GET", "/api/v1/sessions/1/laps", None, &[host])
                .await
                .status,
            200,
            "{name}"
        );
        assert_eq!(
            send(&public, "POST", "/api/v1/sessions", Some(&body), &[host])
                .await
                .error(401)
                .0,
            "unauthorized",
            "{name}"
        );

        // --read-only refuses writes, token or not.
        let read_only = router(
            test.store.clone(),
            Options {
                read_only: true,
                token: None,
                ..options.clone()
            },
        );
        assert_eq!(
            send(&read_only, "POST", "/api/v1/sessions", Some(&body), &[host])
                .await
                .error(403)
                .0,
            "read_only",
            "{name}"
        );
        assert_eq!(
            send(&read_only, "GET", "/api/v1/sessions", None, &[host])
                .await
                .status,
            200,
            "{name}"
        );

        let counts = off(|| test.store.counts().unwrap());
        assert_eq!(
            (counts.sessions(), counts.laps()),
            (1, 0),
            "{name}: a refused request stored something"
        );
    }
}

#[tokio::test]
async fn openapi_describes_every_route_and_unknown_paths_are_json_404s() {
    let test = crate::common::json_store();
    let app = app(&test);
    let doc = get(&app, "/api/v1/openapi.json").await.json();
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/healthz",
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/sessions/{session_id}/laps",
        "/api/v1/sessions/{session_id}/metrics",
        "/api/v1/sessions/{session_id}/predictions",
        "/api/v1/sessions/{session_id}/simulations",
        "/api/v1/sessions/{session_id}/events",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert!(doc["paths"]["/api/v1/sessions/{session_id}/laps"]["post"].is_object());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in ["Lap", "LapBody", "SessionDetail", "Standing", "ErrorBody"] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    assert_eq!(get(&app, "/api/v1/nothing").await.error(404).0, "not_found");
    assert_eq!(get(&app, "/healthz").await.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn the_event_stream_sends_new_laps_saved_through_the_api_and_by_the_store_directly() {
    for test in stores("events") {
        let app = app(&test);
        let name = test.name;
        session(&app, "Barber", "2025-09-06", "race").await;
        post(&app, "/api/v1/sessions/1/laps", &lap("7", 1, 98.0, 1).to_string()).await;
        let missing = get(&app, "/api/v1/sessions/3/events").await;
        assert_eq!(missing.error(404).0, "not_found", "{name}");

        let request = axum::http::Request::get("/api/v1/sessions/1/events")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request).await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream", "{name}");
        let mut body = response.into_body();

        // Reads events until one carries `want`, for at most 10 s.
        async fn until(body: &mut axum::body::Body, want: &str) -> String {
            let mut seen = String::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !seen.contains(want) {
                let frame = tokio::time::timeout_at(deadline, body.frame())
                    .await
                    .unwrap_or_else(|_| panic!("no event with {want} within 10 s; got {seen:?}"));
                let frame = frame.expect("the stream ended").unwrap();
                if let Ok(data) = frame.into_data() {
                    seen.push_str(std::str::from_utf8(&data).unwrap());
                }
            }
            seen
        }
        // Saved through the API: the handler pokes the feed.
        post(
            &app,
            "/api/v1/sessions/1/laps",
            &Value::from(vec![lap("7", 2, 97.0, 1), lap("13", 2, 97.5, 2)]).to_string(),
        )
        .await;
        let events = until(&mut body, "\"lap_number\":2").await;
        assert!(
            events.contains("event: laps") && events.contains("id: 3"),
            "{name}: {events}"
        );
        assert!(
            !events.contains("\"lap_number\":1"),
            "{name}: an old lap was sent: {events}"
        );

        // Saved by someone else on the same store (another process would do the same): the poll sees it.
        let store = test.store.clone();
        tokio::task::spawn_blocking(move || {
            racestore::RaceStoreExt::save_lap_data(store.as_ref(), &racestore::NewLap::new(1, "13", 3, 96.5))
        })
        .await
        .unwrap()
        .unwrap();
        let events = until(&mut body, "\"lap_number\":3").await;
        assert!(events.contains("id: 4"), "{name}: {events}");
    }
}
