//! HTTP API: router, handlers and the error envelope.

pub mod problem;
