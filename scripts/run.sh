#!/usr/bin/env bash
# Starts the whole app locally: Azurite (from npm), the local host with its
# queue listeners and development sign-in, and the SPA once frontend/ exists.
#
# Usage: scripts/run.sh
# Environment:
#   PORT                 port of the local host (default 7071)
#   AzureWebJobsStorage  use this storage instead of starting Azurite
#   RUST_LOG             log filter (default info)
set -euo pipefail

cd "$(dirname "$0")/.."

# shellcheck source=scripts/require-tools.sh
source scripts/require-tools.sh

echo "Installing npm dependencies (Azurite)..." >&2
npm ci --no-audit --no-fund --loglevel=error

if [ -f frontend/package.json ]; then
  echo "Building the SPA..." >&2
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build)
fi

echo "Building and starting Prism Plan on http://127.0.0.1:${PORT:-7071} ..." >&2
exec cargo run --release --quiet --bin prism-plan -- local --port "${PORT:-7071}"
