//! `racestore serve`: any racestore store as an HTTP API under `/api/v1` and a live race
//! dashboard at `/`.
//!
//! The server is a front end: handlers parse the request, call the library's public API
//! ([`RaceStore`], [`racestore::analysis::race`], [`racestore::export`]) on a blocking thread,
//! and convert the answer. Every rule — validation, ids, all-or-nothing batches, the
//! classification — is the library's.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = racestore::open_shared("json:storage")?;
//! let app = racestore_server::router(store, racestore_server::Options::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! [`serve`] does the same from a [`Config`] with the security options, graceful shutdown on
//! SIGINT/SIGTERM and the store closed at the end.

mod api;
mod dashboard;
mod error;
mod live;
mod openapi;
mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use racestore::RaceStore;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::openapi_json;

/// The environment variable `racestore serve` reads the bearer token from.
pub const TOKEN_ENV: &str = "RACESTORE_TOKEN";

/// What the router enforces, beyond the store: limits and the security options.
#[derive(Clone)]
pub struct Options {
    /// The address the server listens on: requests whose `Host` is not this address (or
    /// `localhost` with its port, on a loopback address) nor in [`allow_hosts`](Self::allow_hosts)
    /// are refused. `None` checks no `Host` (a router used in-process).
    pub listen: Option<SocketAddr>,
    /// More names a request's `Host` may give (`race.example.org`, or with a port).
    pub allow_hosts: Vec<String>,
    /// The bearer token writes need (and reads too, unless [`public_read`](Self::public_read)).
    pub token: Option<String>,
    /// Whether reads are open without the token.
    pub public_read: bool,
    /// Whether every write is refused (403 `read_only`).
    pub read_only: bool,
    /// Origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// The largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// The most records one write may hold (413 beyond).
    pub max_batch: usize,
    /// The most laps one JSON page of laps returns (`limit` above it is 400).
    pub max_page: usize,
    /// How long a request (up to its response's headers) may take.
    pub request_timeout: Duration,
    /// How often the change feed asks the store for its highest ids (to see saves made by other
    /// processes; saves made through this server are seen at once).
    pub poll_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: None,
            allow_hosts: Vec::new(),
            token: None,
            public_read: false,
            read_only: false,
            cors_origins: Vec::new(),
            max_body_bytes: 16 * 1024 * 1024,
            max_batch: 100_000,
            max_page: 100_000,
            request_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is never shown.
        f.debug_struct("Options")
            .field("listen", &self.listen)
            .field("allow_hosts", &self.allow_hosts)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("public_read", &self.public_read)
            .field("read_only", &self.read_only)
            .field("cors_origins", &self.cors_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// What every handler shares: the store, the options and the change feed.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn RaceStore>,
    pub(crate) options: Arc<Options>,
    pub(crate) feed: live::Feed,
}

impl AppState {
    /// Runs a store call on a blocking thread (the store is synchronous).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn RaceStore) -> racestore::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| ApiError::internal(format!("a store call failed: {e}")))?
            .map_err(ApiError::from)
    }
}

/// The whole application: the API under `/api/v1`, `/healthz` and the dashboard at `/`.
///
/// Spawns the change feed's poller on the current tokio runtime; it stops when the router is
/// dropped. `shutdown`, when it turns `true`, ends the live streams so that a graceful shutdown
/// does not wait for them.
pub fn router_with_shutdown(
    store: Arc<dyn RaceStore>,
    options: Options,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let feed = live::Feed::start(Arc::clone(&store), options.poll_interval, shutdown);
    let state = AppState {
        store,
        options: Arc::new(options.clone()),
        feed,
    };
    let mut app = Router::new()
        .merge(api::routes())
        .route("/api/v1/openapi.json", axum::routing::get(openapi::serve))
        .route(
            "/api/v1/sessions/{session_id}/events",
            axum::routing::get(live::events),
        )
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            options.request_timeout,
        ))
        .layer(CompressionLayer::new())
        .with_state(state);
    if !options.cors_origins.is_empty() {
        let origins: Vec<_> = options
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([
                    axum::http::header::CONTENT_TYPE,
                    axum::http::header::AUTHORIZATION,
                ]),
        );
    }
    app.layer(TraceLayer::new_for_http())
}

/// [`router_with_shutdown`] without a shutdown signal.
pub fn router(store: Arc<dyn RaceStore>, options: Options) -> Router {
    // With the sender gone at once, the live streams end only with their clients.
    let (_, never) = tokio::sync::watch::channel(false);
    router_with_shutdown(store, options, never)
}

/// Everything [`serve`] needs: the store's URL, where to listen, and the router's [`Options`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The store, as a racestore URL (`json:storage`, `sqlite:race.db`, `postgres://...`).
    pub store_url: String,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Limits and security options ([`Options::listen`] is set to the bound address).
    pub options: Options,
}

/// Why [`serve`] could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened or closed.
    #[error(transparent)]
    Store(#[from] racestore::Error),
    /// Listening failed (the address is in use, say).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The options do not make a safe server.
    #[error("{0}")]
    Unsafe(String),
}

/// What [`serve`] tells its caller once it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The address bound (the port chosen, when port 0 was asked for).
    pub addr: SocketAddr,
    /// Whether opening the store created it (there was none at its URL), which the caller
    /// should tell its user: see [`racestore::StoreLocation::open_reporting`].
    pub store_created: bool,
}

/// Opens the store, listens, calls `bound` with the address bound, and serves until SIGINT or
/// SIGTERM; then finishes the requests in flight, ends the live streams and closes the store.
///
/// On an address that is not loopback, a token is required (reads stay open only with
/// [`Options::public_read`]).
pub async fn serve(config: Config, bound: impl FnOnce(Started)) -> Result<(), ServeError> {
    let Config {
        store_url,
        listen,
        mut options,
    } = config;
    if !listen.ip().is_loopback() && options.token.is_none() {
        return Err(ServeError::Unsafe(format!(
            "{listen} is reachable from other machines: give a token (--token or {TOKEN_ENV}), which every write and, without --public-read, every read must carry"
        )));
    }
    // Listening first: a store is created only for a server that runs (and says so).
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen { addr: listen, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr: listen, source })?;
    let opened = tokio::task::spawn_blocking(move || racestore::open_shared_reporting(&store_url))
        .await
        .map_err(|e| ServeError::Unsafe(format!("opening the store failed: {e}")))??;
    options.listen = Some(addr);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let store = opened.store;
    let app = router_with_shutdown(Arc::clone(&store), options, stopped);
    bound(Started {
        addr,
        store_created: opened.created,
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing the requests in flight");
            let _ = stop.send(true);
        })
        .await;
    // Every request has been answered; the blocking saves they started have returned.
    tokio::task::spawn_blocking(move || racestore::shared::release(store))
        .await
        .map_err(|e| ServeError::Unsafe(format!("closing the store failed: {e}")))??;
    served.map_err(|source| ServeError::Listen { addr, source })
}

/// [`serve`] on a runtime of its own, for a synchronous `main`.
pub fn serve_blocking(config: Config, bound: impl FnOnce(Started)) -> Result<(), ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?
        .block_on(serve(config, bound))
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
