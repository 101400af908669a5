#!/usr/bin/env bash
# Benchmarks that print figures. Builds release binaries first.
#
#   scripts/bench.sh runner [--runs N]     offload run overhead over a bare codex exec
#   scripts/bench.sh hook [--runs N]       offload-hook PreToolUse latency, empty and 100k-event ledger
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-clients.sh codex >&2
cargo build --release --quiet -p offload -p offload-hook -p offload-statusline -p offload-testkit --bin offload --bin offload-hook --bin offload-bench
exec target/release/offload-bench "$@"
