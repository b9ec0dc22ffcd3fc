//! A small pool of connections, safe from many threads, that replaces lost connections lazily.
//!
//! At most `pool_size` connections are open; a call takes one (waiting if all are busy), and
//! gives it back when done. A connection that fails in a way that may have broken it is
//! dropped, and the next call opens a fresh one: nothing needs reopening the store.
//!
//! A connection the server closed while it sat idle (a restart, `pg_terminate_backend`) cannot
//! be told from a live one without a round trip. So an idle connection is checked with an
//! empty query before use when it has been idle for [`IDLE_CHECK`] or more, or since a
//! connection failure was seen (the server going away usually takes all connections with it);
//! a connection in steady use costs nothing extra.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::{Client, GenericClient, Statement};

use super::error::PgResult;
use crate::error::Error;

/// How long a call waits for a connection when all of the pool's are busy.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// An idle connection is checked before use when it has been idle this long.
pub(super) const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How long that check may take before the connection counts as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One open connection, with the statements prepared on it.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) statements: Statements,
    /// When it was last given back to the pool.
    idle_since: Instant,
}

/// The statements prepared on one connection, by SQL text: each is parsed and planned once per
/// connection, then every call is a single round trip.
#[derive(Default)]
pub(super) struct Statements(HashMap<String, Statement>);

impl Statements {
    /// The statement for `sql`, prepared on `client` (a connection or a transaction on it) the
    /// first time.
    pub(super) fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        self.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Opens a ready-to-use connection (the store's setup included).
pub(super) type Connect = Box<dyn Fn() -> PgResult<Client> + Send + Sync>;

/// The pool.
pub(super) struct Pool {
    connect: Connect,
    size: usize,
    state: Mutex<State>,
    /// Signalled when a connection is given back or a slot frees up.
    available: Condvar,
}

struct State {
    /// Connections not in use, the most recently used last.
    idle: Vec<Conn>,
    /// Connections open, in use or idle (or being opened or checked).
    open: usize,
    /// When a connection last failed in a way that may have broken it: connections idle since
    /// before then are checked before use.
    last_failure: Option<Instant>,
    /// Set by [`Pool::close`]: no more connections are handed out.
    closed: bool,
}

impl Pool {
    /// A pool of at most `size` connections opened by `connect`, starting with `first`.
    pub(super) fn new(connect: Connect, size: usize, first: Client) -> Pool {
        Pool {
            connect,
            size,
            state: Mutex::new(State {
                idle: vec![Conn {
                    client: first,
                    statements: Statements::default(),
                    idle_since: Instant::now(),
                }],
                open: 1,
                last_failure: None,
                closed: false,
            }),
            available: Condvar::new(),
        }
    }

    /// Nothing here can be left half-changed by a panic, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection: an idle one that is still alive, else a new one if the pool has room,
    /// else the next one given back. `Closed` once the pool is closed.
    pub(super) fn get(&self) -> PgResult<Pooled<'_>> {
        let deadline = Instant::now() + CHECKOUT_TIMEOUT;
        loop {
            match self.find(deadline)? {
                Some((mut conn, check)) => {
                    // Checked without holding the pool's lock: other calls go on meanwhile.
                    let alive =
                        !conn.client.is_closed() && (!check || conn.client.is_valid(CHECK_TIMEOUT).is_ok());
                    if alive {
                        return Ok(self.pooled(conn));
                    }
                    tracing::debug!("dropped a pooled PostgreSQL connection the server had closed");
                    self.forget_one(true);
                }
                None => {
                    return match (self.connect)() {
                        Ok(client) => Ok(self.pooled(Conn {
                            client,
                            statements: Statements::default(),
                            idle_since: Instant::now(),
                        })),
                        Err(err) => {
                            self.forget_one(false);
                            Err(err)
                        }
                    };
                }
            }
        }
    }

    /// Waits until an idle connection or a free slot is there, and takes it: the connection
    /// and whether to check it before use, or `None` for a slot to open a new connection in.
    fn find(&self, deadline: Instant) -> PgResult<Option<(Conn, bool)>> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(Error::Closed.into());
            }
            if let Some(conn) = state.idle.pop() {
                let check = conn.idle_since.elapsed() >= IDLE_CHECK
                    || state.last_failure.is_some_and(|failed| conn.idle_since <= failed);
                return Ok(Some((conn, check)));
            }
            if state.open < self.size {
                state.open += 1;
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Backend {
                    backend: "postgres",
                    message: format!(
                        "all {} connections of the pool stayed busy for {} s; raise pool_size in the URL",
                        self.size,
                        CHECKOUT_TIMEOUT.as_secs()
                    ),
                    retryable: true,
                    engine: None,
                }
                .into());
            }
            state = self
                .available
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn pooled(&self, conn: Conn) -> Pooled<'_> {
        Pooled {
            pool: self,
            conn: Some(conn),
            broken: false,
        }
    }

    /// Counts one connection (or slot) as gone, noting a connection failure if `failed`.
    fn forget_one(&self, failed: bool) {
        let mut state = self.lock();
        state.open -= 1;
        if failed {
            state.last_failure = Some(Instant::now());
        }
        drop(state);
        self.available.notify_one();
    }

    /// Whether [`close`](Self::close) has run.
    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes the pool: idle connections now, busy ones when given back. Later [`get`](Self::get)s
    /// fail with `Closed`; false if it was closed already.
    pub(super) fn close(&self) -> bool {
        let idle = {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            state.closed = true;
            state.open -= state.idle.len();
            std::mem::take(&mut state.idle)
        };
        self.available.notify_all();
        for conn in idle {
            if let Err(e) = conn.client.close() {
                tracing::debug!(error = %e, "closing a PostgreSQL connection failed");
            }
        }
        true
    }

    fn give_back(&self, mut conn: Conn, broken: bool) {
        let broken = broken || conn.client.is_closed();
        let mut state = self.lock();
        if broken || state.closed {
            drop(state);
            drop(conn);
            self.forget_one(broken);
        } else {
            conn.idle_since = Instant::now();
            state.idle.push(conn);
            drop(state);
            self.available.notify_one();
        }
    }
}

/// A connection taken from the pool; given back when dropped.
pub(super) struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    broken: bool,
}

impl Pooled<'_> {
    /// Drops the connection instead of giving it back (after it failed in a way that may have
    /// left it unusable).
    pub(super) fn discard(&mut self) {
        self.broken = true;
    }
}

impl Deref for Pooled<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn, self.broken || std::thread::panicking());
        }
    }
}
