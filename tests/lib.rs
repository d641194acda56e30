//! Workspace-level integration tests: the service driven end to end through its command
//! line and HTTP API, over real bot packages, with SQLite, PostgreSQL and an S3-protocol
//! server.
//!
//! `live_themes` drives browsers: WebSocket clients, and a headless Chromium through the
//! DevTools protocol ([`cdp`]) when one is installed (it prints a notice and returns when
//! not; `.ci/run` installs it).
//!
//! Everything lives in `#[cfg(test)]` modules of this library so the suite is one test
//! binary. Tests that read the shared corpus of real packages print a notice and return
//! when it is absent; tests that need the S3-protocol server do the same without
//! `DRIVE_TEST_S3_ENDPOINT` (`cargo xtask test` sets it).

#[cfg(test)]
mod bad_input;
#[cfg(test)]
mod cdp;
#[cfg(test)]
mod corpus_sync;
#[cfg(test)]
mod knowledge;
#[cfg(test)]
mod live_themes;
#[cfg(test)]
mod s3_e2e;
#[cfg(test)]
mod service;
#[cfg(test)]
mod support;
