//! The server's integration tests, one binary: the API against every backend, the dashboard in
//! a real headless Chromium.

mod api;
mod browser;
mod common;
