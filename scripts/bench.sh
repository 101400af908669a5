#!/usr/bin/env bash
# Benchmarks that print figures. Builds release binaries first.
#
#   scripts/bench.sh runner [--runs N]     offload run overhead over a bare codex exec
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-clients.sh codex >&2
cargo build --release --quiet -p offload -p offload-testkit --bin offload --bin offload-bench
exec target/release/offload-bench "$@"
