//! Configuration read once from the environment.
