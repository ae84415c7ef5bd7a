//! Starts and stops a loopback Azurite for local runs and tests.
