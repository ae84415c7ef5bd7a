#!/usr/bin/env node
// Runs Azurite as a child process and stops it when this process's stdin reaches end of file
// or it receives SIGTERM or SIGINT. The parent keeps the write end of stdin open while it
// runs, so when the parent exits or crashes, the pipe closes and Azurite stops with it.
//
// Usage: node scripts/azurite-guard.mjs <azurite-binary> [azurite arguments...]
// Azurite's stdout and stderr are both forwarded to this process's stderr. The exit status is
// Azurite's, or 128 plus the signal number when Azurite was ended by a signal.

import { spawn } from "node:child_process";
import { constants } from "node:os";

const KILL_DELAY_MS = 5000;

const [binary, ...azuriteArguments] = process.argv.slice(2);
if (!binary) {
  process.stderr.write(
    "usage: node scripts/azurite-guard.mjs <azurite-binary> [azurite arguments...]\n",
  );
  process.exit(2);
}

const azurite = spawn(binary, azuriteArguments, { stdio: ["ignore", "pipe", "pipe"] });
azurite.stdout.pipe(process.stderr, { end: false });
azurite.stderr.pipe(process.stderr, { end: false });

let exited = false;
let stopping = false;

function stop(reason) {
  if (exited || stopping) {
    return;
  }
  stopping = true;
  process.stderr.write(`azurite-guard: ${reason}; stopping Azurite (pid ${azurite.pid})\n`);
  azurite.kill("SIGTERM");
  // Azurite closes its servers and exits on SIGTERM. SIGKILL covers a shutdown that hangs.
  setTimeout(() => {
    if (!exited) {
      process.stderr.write("azurite-guard: Azurite ignored SIGTERM; sending SIGKILL\n");
      azurite.kill("SIGKILL");
    }
  }, KILL_DELAY_MS).unref();
}

azurite.on("error", (error) => {
  process.stderr.write(`azurite-guard: failed to start ${binary}: ${error.message}\n`);
  process.exit(127);
});

azurite.on("exit", (code, signal) => {
  exited = true;
  if (code !== null) {
    process.exit(code);
  }
  process.exit(128 + (constants.signals[signal] ?? 0));
});

process.stdin.on("end", () => stop("stdin closed"));
process.stdin.on("error", () => stop("stdin failed"));
process.stdin.resume();
process.on("SIGTERM", () => stop("received SIGTERM"));
process.on("SIGINT", () => stop("received SIGINT"));
