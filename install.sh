#!/usr/bin/env bash
# Installs offload: builds the release binaries and puts `offload`, `offload-hook` and
# `offload-statusline` into ${PREFIX:-$HOME/.local}/bin. Safe to re-run: it rebuilds only what
# changed and replaces the binaries atomically (a running hook is never left half-written).
#
#   ./install.sh            build and install
#   PREFIX=/opt/offload ./install.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=${PREFIX:-$HOME/.local}
bindir="$prefix/bin"
binaries=(offload offload-hook offload-statusline)

say() { printf 'offload install: %s\n' "$*"; }
fail() { printf 'offload install: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 ||
  fail "cargo is required but was not found. Install Rust (https://rustup.rs), open a new shell, and run ./install.sh again."

say "building release binaries (first build takes a few minutes)"
(cd "$root" && cargo build --release --locked --quiet -p offload -p offload-hook -p offload-statusline) ||
  fail "the build failed (see above)"

mkdir -p "$bindir"
for b in "${binaries[@]}"; do
  src="$root/target/release/$b"
  [ -x "$src" ] || fail "the build did not produce $src"
  tmp=$(mktemp "$bindir/.$b.XXXXXX")
  cp "$src" "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bindir/$b"
  say "installed $bindir/$b"
done

"$bindir/offload" --version

if command -v codex >/dev/null 2>&1 || [ -n "${CODEX_BIN:-}" ]; then
  say "codex: found (${CODEX_BIN:-$(command -v codex)})"
else
  say "codex: not found. Install the Codex CLI (npm install -g @openai/codex) or set CODEX_BIN; until then every 'offload run' ends as 'missing'."
fi

case ":$PATH:" in
  *":$bindir:"*) ;;
  *) say "note: $bindir is not on your PATH; add it, e.g.  export PATH=\"$bindir:\$PATH\"" ;;
esac

say "done. Try:  offload run \"summarise this repository\" read-only ."
