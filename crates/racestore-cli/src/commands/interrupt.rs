//! Ctrl-C during an import: a flag the import looks at between two files, so that it stops
//! where the store is whole and can say which files it saved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::SIGINT;

/// Set once SIGINT (Ctrl-C) arrives; a second one ends the process at once (exit status 1).
#[derive(Debug)]
pub(crate) struct Flag(Arc<AtomicBool>);

impl Flag {
    /// Catches SIGINT from now on.
    pub(crate) fn install() -> anyhow::Result<Flag> {
        let flag = Arc::new(AtomicBool::new(false));
        // The first Ctrl-C sets the flag; the next, with the flag set, exits.
        signal_hook::flag::register_conditional_shutdown(SIGINT, 1, Arc::clone(&flag))?;
        signal_hook::flag::register(SIGINT, Arc::clone(&flag))?;
        Ok(Flag(flag))
    }

    /// Whether Ctrl-C was pressed.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The environment variable that has the process send itself SIGINT once that many files are
/// saved: how the tests press Ctrl-C between two files, which no timing could do reliably.
pub(crate) const INTERRUPT_AFTER_FILES_ENV: &str = "RACESTORE_TEST_INTERRUPT_AFTER_FILES";

/// Called after each file saved: raises SIGINT when [`INTERRUPT_AFTER_FILES_ENV`] says so.
pub(crate) fn after_file(saved: usize) {
    let wanted = std::env::var(INTERRUPT_AFTER_FILES_ENV)
        .ok()
        .and_then(|n| n.parse::<usize>().ok());
    if wanted == Some(saved) {
        let _ = signal_hook::low_level::raise(SIGINT);
    }
}
