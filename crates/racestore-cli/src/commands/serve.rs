//! `racestore serve`: the store over HTTP (the server crate does the work).

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use racestore_server::{Config, Options, TOKEN_ENV};

use super::shown_url;

/// Options of `racestore serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address and port to listen on; port 0 picks a free port
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// The bearer token writes (and, without --public-read, reads) must carry; never printed
    #[arg(long, env = TOKEN_ENV, hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,

    /// With a token: let reads (the dashboard, GET requests) through without it
    #[arg(long)]
    public_read: bool,

    /// Refuse every write (403)
    #[arg(long)]
    read_only: bool,

    /// Another name a request's Host header may give (the name clients reach the server by);
    /// repeat for several
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,

    /// A browser origin allowed to call the API (CORS), e.g. https://pits.example; repeat for
    /// several. CORS is off without it
    #[arg(long, value_name = "ORIGIN")]
    cors_origin: Vec<String>,

    /// The largest request body accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    max_body: usize,

    /// The most records one write may hold
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_batch: usize,

    /// How long a request may take before it is answered 503, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,

    /// How often live streams look for saves made by other processes, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 250)]
    poll_ms: u64,
}

/// Runs `racestore serve` against the store `url` until SIGINT or SIGTERM.
pub(crate) fn run(url: &str, args: &ServeArgs) -> anyhow::Result<()> {
    let shown = shown_url(url);
    let config = Config {
        store_url: url.to_owned(),
        listen: args.listen,
        options: Options {
            allow_hosts: args.allow_host.clone(),
            token: args.token.clone().filter(|t| !t.is_empty()),
            public_read: args.public_read,
            read_only: args.read_only,
            cors_origins: args.cors_origin.clone(),
            max_body_bytes: args.max_body,
            max_batch: args.max_batch,
            request_timeout: Duration::from_secs(args.timeout),
            poll_interval: Duration::from_millis(args.poll_ms.max(10)),
            ..Options::default()
        },
    };
    racestore_server::serve_blocking(config, |started| {
        if started.store_created {
            if let Ok(parsed) = racestore::StoreUrl::parse(url) {
                super::say_created(&parsed);
            }
        }
        let addr = started.addr;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "racestore serve: {shown} on http://{addr}/ (API at http://{addr}/api/v1, Ctrl-C to stop)"
        );
        let _ = out.flush();
    })
    .with_context(|| format!("serving {shown}"))?;
    eprintln!("racestore serve: stopped; {shown} closed");
    Ok(())
}
