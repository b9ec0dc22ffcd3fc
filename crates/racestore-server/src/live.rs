//! The change feed: the store's highest ids, watched, so that live streams learn of new records
//! saved through this server at once and of those saved by other processes within one poll.
//!
//! The feed uses two of the store's primitives and reads no file itself: [`RaceStore::highest_ids`]
//! is the cheap "anything new?" probe, and a [`Query`] with `after_id` gives the records after
//! the last one a client has.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use racestore::{Collection, Id, IdMarks, Query, RaceStore, RaceStoreExt};
use serde::Deserialize;
use tokio::sync::{watch, Notify};
use utoipa::IntoParams;

use crate::api::{Params, SessionPath};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// The store's highest ids as last seen, and a way to ask for a fresh look.
#[derive(Clone)]
pub(crate) struct Feed {
    marks: watch::Receiver<IdMarks>,
    poke: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

impl Feed {
    /// Starts polling `store` every `interval` (and whenever [`poke`](Self::poke)d) on the
    /// current runtime, until every handle of the feed is dropped.
    pub(crate) fn start(
        store: Arc<dyn RaceStore>,
        interval: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Feed {
        let (tx, marks) = watch::channel(IdMarks::default());
        let poke = Arc::new(Notify::new());
        tokio::spawn(poll(store, tx, Arc::clone(&poke), interval, shutdown.clone()));
        Feed {
            marks,
            poke,
            shutdown,
        }
    }

    /// Looks at the store now: called after every write this server made.
    pub(crate) fn poke(&self) {
        self.poke.notify_one();
    }
}

async fn poll(
    store: Arc<dyn RaceStore>,
    tx: watch::Sender<IdMarks>,
    poke: Arc<Notify>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let probe = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || probe.highest_ids()).await {
            Ok(Ok(marks)) => {
                tx.send_if_modified(|seen| {
                    let changed = *seen != marks;
                    *seen = marks;
                    changed
                });
            }
            Ok(Err(err)) => tracing::debug!("change feed: {err}"),
            Err(err) => tracing::warn!("change feed: {err}"),
        }
        tokio::select! {
            () = tx.closed() => return,
            // The store's last handle must go with the server, so that closing it reports.
            () = stopped(&mut shutdown) => return,
            () = poke.notified() => {},
            () = tokio::time::sleep(interval) => {},
        }
    }
}

/// Where a live stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Send the session's laps with ids above this one first; without it (or a `Last-Event-ID`
    /// header), only laps saved from now on.
    after_id: Option<Id>,
}

/// Live laps of a session, as server-sent events.
///
/// Event `laps`: a JSON array of the session's new laps in id order, its `id` the last lap's id
/// (a reconnecting client sends it back as `Last-Event-ID` and misses nothing). Event `records`:
/// the name of a collection (`driver_metrics`, `predictions`, `simulations`) that has new
/// records somewhere in the store. Saves made by other processes on the same store arrive within
/// one poll of the store (250 ms by default).
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{session_id}/events",
    params(("session_id" = i64, Path, description = "The session"), EventsQuery),
    responses(
        (status = 200, description = "A stream of server-sent events", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such session", body = ErrorBody),
    ),
    tag = "live"
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    Params(query): Params<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<Id>().ok());
    let (exists, marks) = state
        .blocking(move |store| Ok((store.get_session(session_id)?.is_some(), store.highest_ids()?)))
        .await?;
    if !exists {
        return Err(ApiError::session_not_found(session_id));
    }
    let after = query.after_id.or(last_event_id).unwrap_or(marks.laps());
    let follow = Follow {
        state: state.clone(),
        session_id,
        after,
        seen: marks,
        marks: state.feed.marks.clone(),
        shutdown: state.feed.shutdown.clone(),
        first: true,
    };
    let events =
        stream::unfold(follow, Follow::next).flat_map(|events| stream::iter(events.into_iter().map(Ok)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One client's place in the feed.
struct Follow {
    state: AppState,
    session_id: Id,
    /// The last lap id sent.
    after: Id,
    /// The marks the last events were computed from.
    seen: IdMarks,
    marks: watch::Receiver<IdMarks>,
    shutdown: watch::Receiver<bool>,
    first: bool,
}

/// The collections whose new records a dashboard shows beside the laps.
const OTHER_COLLECTIONS: [Collection; 3] = [
    Collection::DriverMetrics,
    Collection::Predictions,
    Collection::Simulations,
];

/// Pages of at most this many laps per event.
const EVENT_PAGE: usize = 5_000;

impl Follow {
    /// The next events, once there are some; `None` when the server shuts down.
    async fn next(mut self) -> Option<(Vec<Event>, Follow)> {
        loop {
            let forced = self.first;
            if self.first {
                self.first = false;
            } else {
                tokio::select! {
                    changed = self.marks.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    () = stopped(&mut self.shutdown) => return None,
                }
            }
            let marks = *self.marks.borrow_and_update();
            let mut events = Vec::new();
            if forced || marks.laps() > self.after {
                let query = Query {
                    after_id: self.after,
                    limit: Some(EVENT_PAGE),
                    ..Query::session(Collection::Laps, self.session_id)
                };
                let read = self
                    .state
                    .blocking(move |store| store.read_records::<racestore::Lap>(&query))
                    .await;
                match read {
                    Ok(laps) if !laps.is_empty() => {
                        let last = laps.last().map_or(self.after, |l| l.id);
                        let more = laps.len() == EVENT_PAGE;
                        self.after = last;
                        let data = serde_json::to_string(&laps).unwrap_or_else(|_| "[]".to_owned());
                        events.push(Event::default().event("laps").id(last.to_string()).data(data));
                        if more {
                            // The rest at once, without waiting for another change.
                            self.first = true;
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!("live laps of session {}: {}", self.session_id, err.body.message);
                    }
                }
            }
            for collection in OTHER_COLLECTIONS {
                if marks.get(collection) > self.seen.get(collection) {
                    events.push(Event::default().event("records").data(collection.key()));
                }
            }
            if marks != IdMarks::default() {
                self.seen = marks;
            }
            if !events.is_empty() {
                return Some((events, self));
            }
        }
    }
}

/// Resolves once the server shuts down; never, for a router without a shutdown signal.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
