#!/usr/bin/env bash
# Benchmarks that print figures. Builds the release binaries the benchmark needs (and installs
# the real clients it drives) first.
#
#   scripts/bench.sh runner [--runs N]       offload run overhead over a bare codex exec
#   scripts/bench.sh hook [--runs N]         offload-hook PreToolUse latency, empty and 100k-event ledger
#   scripts/bench.sh ledger [--events 100000,1000000] [--keep DIR]
#                                            the ledger at scale: stats, --rebuild, doctor, a run,
#                                            a hook denial and the statusline; time and peak memory
#   scripts/bench.sh hook-effect [--runs N]  a Bash call's PreToolUse + PostToolUse in a 10 000-file
#                                            repository: unlocked, locked and read, locked and watched
#   scripts/bench.sh statusline [--runs N] [--ccstatusline-runs N]
#                                            offload-statusline against CCometixLine (ccline) and
#                                            ccstatusline, pinned in scripts/install-clients.sh:
#                                            same stdin, temp HOME, temp git repo, 100k-event ledger;
#                                            interleaved, --runs each for offload and ccline
#                                            (default 200), --ccstatusline-runs for the slower
#                                            Node ccstatusline (default 50); median, p10, p90,
#                                            ratios to offload's median, and the targets
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
case "${1:-}" in
  runner) scripts/install-clients.sh codex >&2; build=(-p offload --bin offload) ;;
  telemetry)
    scripts/install-clients.sh codex >&2
    build=(-p offload --bin offload -p offload-hook --bin offload-hook)
    ;;
  hook | hook-effect) build=(-p offload-hook --bin offload-hook) ;;
  ledger) build=(-p offload --bin offload -p offload-hook --bin offload-hook -p offload-statusline --bin offload-statusline) ;;
  statusline)
    scripts/install-clients.sh ccstatusline ccline >&2
    build=(-p offload-statusline --bin offload-statusline)
    ;;
  *) build=() ;;
esac
cargo build --release --quiet -p offload-testkit --bin offload-bench ${build[@]+"${build[@]}"}
exec target/release/offload-bench "$@"
