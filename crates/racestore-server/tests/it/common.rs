//! What the tests share: a store per backend (a JSON directory, a PostgreSQL schema), and
//! requests sent to the router in-process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use racestore::RaceStore;
use serde_json::Value;
use tower::ServiceExt;

/// The environment variable naming the PostgreSQL test server.
pub(crate) const POSTGRES_ENV: &str = "RACESTORE_TEST_POSTGRES_URL";

/// A store of one backend for one test, removed afterwards.
pub(crate) struct TestStore {
    /// `json` or `postgres`.
    pub name: &'static str,
    pub store: Arc<dyn RaceStore>,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

/// Runs `call` on a thread of its own: the PostgreSQL client blocks, which a tokio runtime's
/// thread must not.
pub(crate) fn off<T: Send>(call: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(call).join().unwrap())
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let store = self.store.clone();
        off(move || store.close().ok());
        if let Some((server, schema)) = &self.schema {
            off(|| {
                if let Ok(mut client) = postgres::Client::connect(server, postgres::NoTls) {
                    let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            });
        }
    }
}

/// A JSON directory in a temporary folder.
pub(crate) fn json_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("json:{}", dir.path().join("storage").display());
    TestStore {
        name: "json",
        store: Arc::from(racestore::open(&url).unwrap()),
        _dir: Some(dir),
        schema: None,
    }
}

/// A fresh schema on the PostgreSQL test server, or `None` after a SKIP line on stderr (a
/// failure when `CI` is set: CI must not skip PostgreSQL quietly).
pub(crate) fn postgres_store(test: &str) -> Option<TestStore> {
    let server = match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: {POSTGRES_ENV} is not set, and CI must not skip the PostgreSQL tests")
        }
        _ => {
            eprintln!("SKIP {test} on postgres: {POSTGRES_ENV} is not set");
            return None;
        }
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .subsec_nanos();
    let schema = format!(
        "rs_server_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}schema={schema}&pool_size=4");
    Some(TestStore {
        name: "postgres",
        store: off(|| Arc::from(racestore::open(&url).unwrap())),
        _dir: None,
        schema: Some((server, schema)),
    })
}

/// Every backend the test runs on: the JSON directory, and PostgreSQL when there is a server.
pub(crate) fn stores(test: &str) -> Vec<TestStore> {
    let mut out = vec![json_store()];
    out.extend(postgres_store(test));
    out
}

/// A response as the tests look at it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The error body's `(kind, field)`, after checking the status.
    pub(crate) fn error(&self, status: u16) -> (String, Option<String>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        let body = self.json();
        let error = &body["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        (
            error["kind"].as_str().unwrap().to_owned(),
            error["field"].as_str().map(str::to_owned),
        )
    }
}

/// Sends one request to the router.
pub(crate) async fn send(
    app: &Router,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    let has_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !has_type {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// GET.
pub(crate) async fn get(app: &Router, path: &str) -> Reply {
    send(app, "GET", path, None, &[]).await
}

/// POST a JSON body.
pub(crate) async fn post(app: &Router, path: &str, body: &str) -> Reply {
    send(app, "POST", path, Some(body), &[]).await
}
