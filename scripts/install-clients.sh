#!/usr/bin/env bash
# Installs the real clients the end-to-end tests drive, and the peer statuslines the
# benchmark compares against, at pinned versions, into a project-local, git-ignored folder
# (.tools/). Safe to re-run: a client already at its pinned version is left alone.
#
#   scripts/install-clients.sh [codex] [claude] [claude-<version>] [ccstatusline] [ccline]
#                                                                   (no argument: codex claude)
#
# Clients (see PROTOCOLS.md §1): codex, claude. Override a pin with OFFLOAD_CODEX_VERSION /
# OFFLOAD_CLAUDE_VERSION. `claude-<version>` installs another Claude Code beside the default one,
# linked as .tools/bin/claude-<version>; the tests use claude-2.1.197 (the oldest version offload
# supports) and claude-2.1.330 (the last without the PreSkillShellCommand hook event, which the
# default 2.1.332 fires).
# Peers (scripts/bench.sh statusline): ccstatusline (npm `ccstatusline`, a Node CLI) and ccline
# (CCometixLine: the native binary from npm `@cometix/ccline-<os>-<arch>`, the file its own
# installer copies to ~/.claude/ccline/ccline). Override a pin with OFFLOAD_CCSTATUSLINE_VERSION /
# OFFLOAD_CCLINE_VERSION.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
codex_version=${OFFLOAD_CODEX_VERSION:-0.171.0}
claude_version=${OFFLOAD_CLAUDE_VERSION:-2.1.332}
ccstatusline_version=${OFFLOAD_CCSTATUSLINE_VERSION:-2.2.30}
ccline_version=${OFFLOAD_CCLINE_VERSION:-1.1.2}

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

# install NAME PACKAGE VERSION [default] [BIN]: links .tools/bin/NAME-VERSION, and .tools/bin/NAME
# when default, to BIN (a path under node_modules; .bin/NAME unless given)
install() {
  local name=$1 package=$2 version=$3 dir="$tools/$1-$3"
  local bin="$dir/node_modules/${5:-.bin/$1}"
  if [ "$(installed_version "$dir" "$package")" = "$version" ] && [ -x "$bin" ]; then
    echo "install-clients: $name $version already in $dir"
  else
    echo "install-clients: installing $package@$version into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$package@$version" >&2
  fi
  mkdir -p "$tools/bin"
  ln -sfn "$bin" "$tools/bin/$name-$version"
  if [ "${4:-}" = default ]; then ln -sfn "$bin" "$tools/bin/$name"; fi
}

# ccline_package -> the npm package holding CCometixLine's native binary for this machine
ccline_package() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) echo @cometix/ccline-linux-x64 ;;
    Linux-aarch64 | Linux-arm64) echo @cometix/ccline-linux-arm64 ;;
    Darwin-x86_64) echo @cometix/ccline-darwin-x64 ;;
    Darwin-arm64) echo @cometix/ccline-darwin-arm64 ;;
    *) echo "install-clients: no CCometixLine binary package for $(uname -s) $(uname -m)" >&2; return 1 ;;
  esac
}

mkdir -p "$tools"
for client in "${want[@]}"; do
  case "$client" in
    codex) install codex @openai/codex "$codex_version" default ;;
    claude) install claude @anthropic-ai/claude-code "$claude_version" default ;;
    claude-*) install claude @anthropic-ai/claude-code "${client#claude-}" ;;
    ccstatusline) install ccstatusline ccstatusline "$ccstatusline_version" default ;;
    ccline)
      package=$(ccline_package)
      install ccline "$package" "$ccline_version" default "$package/ccline"
      ;;
    *) echo "install-clients: unknown client '$client' (codex, claude, claude-<version>, ccstatusline, ccline)" >&2; exit 2 ;;
  esac
done
