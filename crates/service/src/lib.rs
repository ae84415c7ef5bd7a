//! Edges of Prism Plan: configuration, storage adapters, the event store,
//! projections, the HTTP API and the two hosts (local and Functions custom
//! handler) that call the same function code.
//!
//! Layout: `storage` wraps the Azure SDK; `event_store`, `processing` and
//! `projection` are the write and read sides of the pipeline; `functions`
//! is the entry point per queue-triggered function; `http` is the API;
//! `host` holds the local host and the custom handler; `app` wires them.

pub mod app;
pub mod auth;
pub mod azurite;
pub mod config;
pub mod envelope;
pub mod event_store;
pub mod functions;
pub mod host;
pub mod http;
pub mod ops;
pub mod processing;
pub mod projection;
pub mod read_models;
pub mod schema;
pub mod storage;
pub mod wake;
