#!/usr/bin/env bash
# Runs every test: formatting and lints, Rust unit and integration tests
# (integration tests start their own Azurite on free loopback ports), and the
# frontend tests once frontend/ exists.
#
# Usage: scripts/test.sh
# Environment:
#   CARGO_TARGET_DIR  where cargo builds (default target/)
set -euo pipefail

cd "$(dirname "$0")/.."

# shellcheck source=scripts/require-tools.sh
source scripts/require-tools.sh

echo "== npm dependencies (Azurite)" >&2
npm ci --no-audit --no-fund --loglevel=error

echo "== rustfmt" >&2
cargo fmt --all -- --check

echo "== clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test" >&2
cargo test --workspace --locked

if [ -f frontend/package.json ]; then
  echo "== frontend tests" >&2
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm test)
fi
