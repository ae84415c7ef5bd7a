//! Edges of Prism Plan: configuration, storage adapters, the event store,
//! projections, the HTTP API and the two hosts (local and Functions custom
//! handler) that call the same function code.

pub mod auth;
pub mod azurite;
pub mod config;
pub mod http;
pub mod schema;
pub mod storage;
