//! Progress for long commands (export, migrate, backup): drawn on stderr when it is a terminal,
//! and nothing at all when it is piped or redirected, so scripts and logs stay clean.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar (or spinner) on stderr, hidden unless stderr is a terminal. Cleared when dropped.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `total` records.
    pub(crate) fn records(total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), target());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:<14} [{bar:24}] {human_pos}/{human_len} records, {elapsed} (eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    /// A spinner with the elapsed time, for one long call whose progress cannot be measured.
    pub(crate) fn spinner(message: impl Into<Cow<'static, str>>) -> Self {
        let bar = ProgressBar::with_draw_target(None, target());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message);
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        Progress { bar }
    }

    /// Sets the text beside the bar (the collection being worked on, say).
    pub(crate) fn set_message(&self, message: impl Into<Cow<'static, str>>) {
        self.bar.set_message(message);
    }

    /// Sets how many records are done.
    pub(crate) fn set_position(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Adds to the records done.
    pub(crate) fn inc(&self, records: u64) {
        self.bar.inc(records);
    }

    /// Removes the bar from the terminal (before printing a result or an error).
    pub(crate) fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Whether progress would be drawn: stderr is a terminal.
pub(crate) fn on_terminal() -> bool {
    std::io::stderr().is_terminal()
}

fn target() -> ProgressDrawTarget {
    if on_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
