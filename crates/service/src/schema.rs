//! Versioned serde types for stored events and queue messages.
