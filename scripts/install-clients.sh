#!/usr/bin/env bash
# Installs the real clients the end-to-end tests drive, at pinned versions, into a
# project-local, git-ignored folder (.tools/). Safe to re-run: a client already at its
# pinned version is left alone.
#
#   scripts/install-clients.sh [codex] [claude]      (no argument: both)
#
# Pins (see PROTOCOLS.md §1). Override a pin with OFFLOAD_CODEX_VERSION / OFFLOAD_CLAUDE_VERSION.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
codex_version=${OFFLOAD_CODEX_VERSION:-0.169.0}
claude_version=${OFFLOAD_CLAUDE_VERSION:-2.1.330}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(codex claude)

if ! command -v npm >/dev/null 2>&1; then
  echo "install-clients: npm not found; install Node.js (>= 20) and npm to fetch the real clients" >&2
  exit 1
fi

# installed_version DIR PACKAGE -> prints the version in DIR's node_modules, or nothing
installed_version() {
  local manifest="$1/node_modules/$2/package.json"
  [ -f "$manifest" ] || return 0
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n 1
}

# install NAME PACKAGE VERSION [default]: links .tools/bin/NAME-VERSION, and .tools/bin/NAME when default
install() {
  local name=$1 package=$2 version=$3 dir="$tools/$1-$3"
  if [ "$(installed_version "$dir" "$package")" = "$version" ] && [ -x "$dir/node_modules/.bin/$name" ]; then
    echo "install-clients: $name $version already in $dir"
  else
    echo "install-clients: installing $package@$version into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$package@$version" >&2
  fi
  mkdir -p "$tools/bin"
  ln -sfn "$dir/node_modules/.bin/$name" "$tools/bin/$name-$version"
  if [ "${4:-}" = default ]; then ln -sfn "$dir/node_modules/.bin/$name" "$tools/bin/$name"; fi
}

mkdir -p "$tools"
for client in "${want[@]}"; do
  case "$client" in
    codex) install codex @openai/codex "$codex_version" default ;;
    claude) install claude @anthropic-ai/claude-code "$claude_version" default ;;
    claude-*) install claude @anthropic-ai/claude-code "${client#claude-}" ;;
    *) echo "install-clients: unknown client '$client' (codex, claude, claude-<version>)" >&2; exit 2 ;;
  esac
done
