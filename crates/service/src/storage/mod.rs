//! Narrow adapters over Azure Storage queues and tables.
