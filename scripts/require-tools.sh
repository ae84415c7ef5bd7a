#!/usr/bin/env bash
# Sourced by the other scripts: stops with a clear message when cargo, node
# or npm is missing.

for tool in cargo node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is not installed; install Rust (rustup) and Node.js 20 or later" >&2
    exit 1
  fi
done
