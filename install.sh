#!/usr/bin/env bash
# Installs offload: builds the release binaries, puts `offload`, `offload-hook` and
# `offload-statusline` into ${PREFIX:-$HOME/.local}/bin, and wires them into Claude Code with
# `offload setup` (hooks, statusline, plan-and-execute skill). Safe to re-run: it rebuilds only
# what changed, replaces the binaries atomically (a running hook is never left half-written), and
# setup changes nothing the second time. It never prompts.
#
#   ./install.sh                 build, install, wire into ~/.claude/settings.json
#   ./install.sh --project       ... into ./.claude/settings.json of the current folder instead
#   ./install.sh --statusline-only  ... only the statusline (the offload plugin brings the rest)
#   ./install.sh --dry-run       build, then show what would be installed and changed
#   ./install.sh --uninstall     take offload out of Claude Code again (binaries are kept)
#   PREFIX=/opt/offload ./install.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=${PREFIX:-$HOME/.local}
bindir="$prefix/bin"
binaries=(offload offload-hook offload-statusline)

say() { printf 'offload install: %s\n' "$*"; }
fail() { printf 'offload install: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
Usage: ./install.sh [--project] [--statusline-only] [--dry-run] [--uninstall]

Builds offload in release mode (needs cargo), installs offload, offload-hook and
offload-statusline into \${PREFIX:-\$HOME/.local}/bin (now: $bindir), and runs
\`offload setup\`: Claude Code hooks, statusline and the plan-and-execute skill in
~/.claude (a backup of settings.json is kept next to it). Safe to re-run. Never prompts.

Options:
  --project     wire the project in the current folder (.claude/settings.json) instead of
                your user settings (~/.claude/settings.json)
  --statusline-only
                for the offload Claude Code plugin, which brings the hooks and the skill: wire
                only what a plugin cannot (the statusline, and the PreSkillShellCommand hook on
                Claude Code 2.1.332+). Automatic when the plugin is already enabled.
  --dry-run     build, then print what would be installed and the settings change; write nothing
  --uninstall   run \`offload uninstall\`: remove exactly what setup added and restore your
                previous statusline (with --project: the current folder's project). The
                binaries and offload's ledger are kept, because other projects' settings may
                still run them; it prints the command that deletes them.
  -h, --help    this help

Environment:
  PREFIX              install under \$PREFIX/bin (default \$HOME/.local)
  CARGO_TARGET_DIR    cargo's build folder (default: target/ in this repository)
  OFFLOAD_CLAUDE_BIN  the claude executable setup asks for its version (default: claude on PATH)
  CODEX_BIN           the codex executable offload runs (default: codex on PATH)
EOF
}

setup_args=()
dry_run=0
uninstall=0
for arg in "$@"; do
  case "$arg" in
    --project) setup_args+=(--project) ;;
    --statusline-only) setup_args+=(--statusline-only) ;;
    --dry-run) dry_run=1; setup_args+=(--dry-run) ;;
    --uninstall) uninstall=1 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'offload install: unknown option: %s\n\n' "$arg" >&2; usage >&2; exit 2 ;;
  esac
done

# `version CMD...`: the first line CMD prints for --version, within 10 s, or nothing.
version() {
  local out
  if command -v timeout >/dev/null 2>&1; then
    out=$(timeout 10 "$@" --version 2>/dev/null </dev/null || true)
  else
    out=$("$@" --version 2>/dev/null </dev/null || true)
  fi
  printf '%s' "${out%%$'\n'*}"
}

# How to run offload from the user's shell as printed: by name when $bindir is on PATH, else by
# its path (quoted for the shell).
offload_cmd() {
  case ":$PATH:" in
    *":$bindir:"*) printf 'offload' ;;
    *) printf '%q' "$bindir/offload" ;;
  esac
}

path_hint() {
  case ":$PATH:" in
    *":$bindir:"*) ;;
    *) say "note: $bindir is not on your PATH; add it (e.g. in ~/.bashrc or ~/.zshrc):  export PATH=$(printf '%q' "$bindir"):\"\$PATH\"" ;;
  esac
}

if [ "$uninstall" = 1 ]; then
  offload_bin=""
  if [ -x "$bindir/offload" ]; then
    offload_bin="$bindir/offload"
  elif command -v offload >/dev/null 2>&1; then
    offload_bin=$(command -v offload)
  fi
  [ -n "$offload_bin" ] ||
    fail "offload is not installed in $bindir (nor on PATH), so there is nothing to uninstall. Set PREFIX if you installed it elsewhere."
  "$offload_bin" uninstall ${setup_args[@]+"${setup_args[@]}"} ||
    fail "offload uninstall failed (see above)"
  if [ "$dry_run" = 0 ]; then
    say "the binaries are still in $bindir (other projects' settings may still run them)."
    say "to delete them as well:  rm -f$(printf ' %q' "${binaries[@]/#/$bindir/}")"
  fi
  exit 0
fi

# Prerequisites.
command -v cargo >/dev/null 2>&1 ||
  fail "cargo is required but was not found. Install Rust (https://rustup.rs), open a new shell, and run ./install.sh again."
say "cargo: $(version cargo)"
codex_bin=${CODEX_BIN:-codex}
if command -v "$codex_bin" >/dev/null 2>&1; then
  say "codex: $(command -v "$codex_bin") ($(version "$codex_bin"))"
else
  say "codex: not found (optional now, needed to route work). Install the Codex CLI (npm install -g @openai/codex) or set CODEX_BIN; until then every 'offload run' ends as 'missing' and the guard waits for your approval."
fi
claude_bin=${OFFLOAD_CLAUDE_BIN:-claude}
if command -v "$claude_bin" >/dev/null 2>&1; then
  say "claude: $(command -v "$claude_bin") ($(version "$claude_bin"))"
else
  say "claude: not found (optional). offload wires itself into Claude Code's settings anyway; install Claude Code, then run ./install.sh again so setup can use the settings your version supports."
fi

target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in
  /*) ;;
  *) target_dir="$root/$target_dir" ;;
esac

say "building release binaries (the first build takes a few minutes)"
(cd "$root" && cargo build --release --locked --quiet -p offload -p offload-hook -p offload-statusline) ||
  fail "the build failed (see above)"
for b in "${binaries[@]}"; do
  [ -x "$target_dir/release/$b" ] || fail "the build did not produce $target_dir/release/$b"
done

if [ "$dry_run" = 1 ]; then
  for b in "${binaries[@]}"; do
    if cmp -s "$target_dir/release/$b" "$bindir/$b"; then
      say "would leave $bindir/$b (unchanged)"
    else
      say "would install $bindir/$b"
    fi
  done
  OFFLOAD_BIN_DIR="$bindir" "$target_dir/release/offload" setup ${setup_args[@]+"${setup_args[@]}"} ||
    fail "offload setup --dry-run failed (see above)"
  say "dry run: nothing was installed or changed."
  exit 0
fi

mkdir -p "$bindir"
for b in "${binaries[@]}"; do
  src="$target_dir/release/$b"
  if cmp -s "$src" "$bindir/$b"; then
    say "unchanged $bindir/$b"
    continue
  fi
  tmp=$(mktemp "$bindir/.$b.XXXXXX")
  cp "$src" "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bindir/$b"
  say "installed $bindir/$b"
done
say "$("$bindir/offload" --version)"

"$bindir/offload" setup ${setup_args[@]+"${setup_args[@]}"} ||
  fail "offload setup failed (see above). The binaries are installed; fix the problem and run ./install.sh again (or $bindir/offload setup)."

path_hint
say "done. Next: start a new Claude Code session, then check with  $(offload_cmd) doctor"
say "try:  $(offload_cmd) run 'summarise this repository' read-only ."
