//! Drip: the book's ElixirDrip ("a Dropbox") on rotp. Users upload files that flow through
//! GenStage pipelines into encrypted storage, browse them in virtual folders, share them, and
//! get live notifications, on a cluster of nodes.
//!
//! The pieces, one concept a module: [`config`] (command line, `DRIP_*`, TOML), [`paths`]
//! (the book's folder rules), [`crypto`] (envelope encryption in chunks), [`storage`]
//! (`object_store`), [`db`] (sqlx, SQLite or PostgreSQL), [`accounts`] (argon2id, tokens), [`keys`] (the secrets on disk),
//! [`pipeline`] (the GenStage pipelines), [`cache`] (the download cache, cluster-wide through
//! `global`), [`notify`] (notices for users, cluster-wide through `pg`), [`presence`] (who is
//! online, through `pg`), [`metrics`],
//! [`arrival`] (an upload until the pipeline has it), [`retry`] (back-off for failures that
//! pass), [`private`] (what Drip keeps on disk is its own), [`check`] (`drip check`), [`release`]
//! (the release script's `remote`, `rpc`, `stop`, `pid`, `version`),
//! [`app`] (bringing it all up) and [`web`] (HTTP).

#![forbid(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod arrival;
pub mod cache;
pub mod check;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod db;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod paths;
pub mod pipeline;
pub mod presence;
pub mod private;
pub mod release;
pub mod retry;
pub mod rotate;
pub mod storage;
pub mod web;
