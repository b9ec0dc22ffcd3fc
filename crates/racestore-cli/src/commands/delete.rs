//! `racestore delete SESSION`: a session and everything recorded under it, out of the store.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Args;
use racestore::{Collection, Id};

use super::{close_store, counts_text, open_existing_store, shell_quote, shown_url};

/// Options of `racestore delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The session's id (racestore sessions lists them)
    #[arg(value_name = "SESSION")]
    session: Id,

    /// Delete without asking (on a terminal, racestore asks first; elsewhere it never asks)
    #[arg(long, short)]
    yes: bool,
}

/// Runs `racestore delete` against the store `url`.
pub(crate) fn run(url: &str, args: &DeleteArgs) -> anyhow::Result<()> {
    let store = open_existing_store(url)?;
    let id = args.session;
    let Some(summary) = store
        .session_summaries(&racestore::SessionQuery::all())
        .with_context(|| format!("reading the sessions of {}", shown_url(url)))?
        .into_iter()
        .find(|s| s.session.id == id)
    else {
        let _ = close_store(store.as_ref(), url);
        bail!(
            "there is no session {id} in {}, so nothing was deleted; list them with: racestore sessions --store {}",
            shown_url(url),
            shell_quote(&shown_url(url))
        );
    };
    let session = &summary.session;
    let what = format!(
        "session {id} ({}, {}, {})",
        session.circuit, session.race_type, session.date
    );
    let held: Vec<String> = Collection::ALL
        .iter()
        .filter(|c| **c != Collection::Sessions)
        .map(|c| c.count_text(summary.counts.get(*c)))
        .collect();
    if !args.yes && std::io::stdin().is_terminal() {
        let mut err = std::io::stderr().lock();
        write!(err, "delete {what} and its {}? [y/N] ", held.join(", "))?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            close_store(store.as_ref(), url)?;
            println!("nothing deleted");
            return Ok(());
        }
    }
    let deleted = store
        .delete_session(id)
        .with_context(|| format!("deleting {what} from {}", shown_url(url)))?;
    close_store(store.as_ref(), url)?;
    println!("deleted {what}: {}", counts_text(&deleted));
    Ok(())
}
