#!/usr/bin/env bash
# Runs Prosody's own protocol scripts (../shared/conformance/scansion) against
# Waxwing. Every script starts from a fresh server: the reset command stops
# the server, puts back a data directory in which every account the scripts
# use already exists (password "password"), and starts it again. Production
# authentication is untouched: the accounts are ordinary accounts, created
# with `waxwing user add`.
#
#   tests/scansion/run.sh                 # the scripts this server must pass (passing.txt)
#   tests/scansion/run.sh --all           # every script, with a pass count
#   tests/scansion/run.sh basic blocking  # some scripts (by name)
#   tests/scansion/run.sh reset           # (used by the runner) restart with clean state
#
# Environment: WAXWING_BIN (default target/debug/waxwing, built if missing),
# SCANSION_DIR (default ../shared/conformance/scansion next to the checkout),
# SCANSION_WORK (default target/scansion), SCANSION_PORT (default 35222).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${WAXWING_BIN:-$root/target/debug/waxwing}"
suite="${SCANSION_DIR:-$root/../shared/conformance/scansion}"
work="${SCANSION_WORK:-$root/target/scansion}"
port="${SCANSION_PORT:-35222}"
config="$work/waxwing.toml"

stop() {
  if [ -f "$work/pid" ]; then
    pid="$(cat "$work/pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$work/pid"
  fi
}

wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "waxwing did not start; see $work/server.log" >&2
  tail -20 "$work/server.log" >&2
  return 1
}

start() {
  "$bin" --config "$config" serve >>"$work/server.log" 2>&1 &
  echo $! >"$work/pid"
  wait_port
}

reset() {
  stop
  rm -rf "$work/data"
  cp -a "$work/template" "$work/data"
  start
}

# Builds the template data directory once per run: config, accounts, certificate.
prepare() {
  [ -x "$bin" ] || (cd "$root" && cargo build -q -p waxwing)
  stop
  rm -rf "$work" && mkdir -p "$work"
  cat >"$config" <<TOML
# The server the scripts were written for (specs/prosody.cfg.lua), in Waxwing's terms.
data_dir = "$work/data"
log_level = "warn"
admins = ["admin@localhost"]

[c2s]
listen = ["127.0.0.1:$port"]
direct_tls_listen = []

[auth]
# The accounts are throwaway; fewer PBKDF2 rounds make the 27 of them quick to create.
scram_iterations = 4096

[contact_info]
abuse = ["mailto:abuse@localhost", "xmpp:abuse@localhost"]
admin = ["mailto:admin@localhost", "xmpp:admin@localhost"]
feedback = ["http://localhost/feedback.html", "mailto:feedback@localhost", "xmpp:feedback@localhost"]
sales = ["xmpp:sales@localhost"]
security = ["xmpp:security@localhost"]
status = ["gopher://status.localhost"]
support = ["https://localhost/support.html", "xmpp:support@localhost"]
TOML
  # Every localpart any script logs in with or writes to: Prosody ran them
  # with `authentication = "insecure"`, where every account exists, so a
  # message to someone@localhost is stored offline rather than bounced.
  users="$( (sed -n 's/^[[:space:]]*jid:[[:space:]]*\([^@[:space:]]*\)@localhost.*/\1/p' "$suite"/specs/*.scs
             grep -oh "to=[\"'][a-z0-9._-]*@localhost" "$suite"/specs/*.scs | sed 's/^to=.//; s/@localhost$//') | sort -u)"
  for user in $users; do
    "$bin" --config "$config" user add "$user@localhost" password >/dev/null
  done
  # One start makes the self-signed certificate, so each reset need not.
  start
  stop
  mv "$work/data" "$work/template"
  echo "scansion: $(echo "$users" | wc -w) accounts ready in $work/template" >&2
}

if [ "${1:-}" = reset ]; then
  reset
  exit 0
fi

[ -d "$suite/specs" ] || { echo "no scansion suite at $suite (set SCANSION_DIR)" >&2; exit 2; }
prepare
trap stop EXIT

args=()
if [ "${1:-}" = --all ]; then
  shift
  args+=("$suite/specs")
elif [ $# -gt 0 ] && [[ "$1" != -* ]]; then
  while [ $# -gt 0 ] && [[ "$1" != -* ]]; do args+=("$suite/specs/${1%.scs}.scs"); shift; done
else
  while read -r name _; do
    [ -n "$name" ] && [[ "$name" != \#* ]] && args+=("$suite/specs/$name.scs")
  done <"$here/passing.txt"
fi

python3 "$suite/run.py" --host 127.0.0.1 --port "$port" \
  --reset-cmd "SCANSION_WORK='$work' SCANSION_PORT='$port' WAXWING_BIN='$bin' '$here/run.sh' reset" \
  --json "$work/results.json" "$@" "${args[@]}"
