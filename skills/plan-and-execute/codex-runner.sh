#!/usr/bin/env bash
# codex-runner.sh: compatibility shim for scripts and skills written before `offload run`.
# Accepts every form `offload run` accepts and hands over to it unchanged:
#   codex-runner.sh "<prompt>" [sandbox] [dir]
#   codex-runner.sh "<prompt>" <dir> [sandbox]
#   codex-runner.sh "<prompt>" <dir>
# offload is looked for in OFFLOAD_BIN, then on PATH, then in ${PREFIX:-$HOME/.local}/bin.
set -euo pipefail

for candidate in "${OFFLOAD_BIN:-}" "$(command -v offload 2>/dev/null || true)" "${PREFIX:-$HOME/.local}/bin/offload"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    exec "$candidate" run "$@"
  fi
done

echo "codex-runner: offload is not installed (run ./install.sh from the offload repository, or set OFFLOAD_BIN)" >&2
# Same contract as a missing codex: 20 when fail-closed (the default), 10 otherwise.
if [ "${CODEX_FAIL_CLOSED:-1}" = "0" ]; then exit 10; fi
exit 20
