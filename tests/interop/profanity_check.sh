#!/usr/bin/env bash
# Manual interop check with Profanity (libstrophe), driven through tmux.
# Not run in CI. Needs: profanity, tmux, a built waxwing binary.
#
#   cargo build -p waxwing
#   tests/interop/profanity_check.sh [path/to/waxwing]
#
# Starts its own server in a temporary directory on 127.0.0.1:$PORT (STARTTLS)
# and 127.0.0.1:$DIRECT_PORT (direct TLS), creates alice and bob, then:
#   alice logs in over STARTTLS   (/connect ... tls force),
#   bob   logs in over direct TLS (/connect ... tls legacy),
# both accept the self-signed certificate with /tls allow, alice sends a
# message to bob's full JID, bob must see it, and both /disconnect; the
# server log must show both sessions closed by the client.
# Every wait is bounded; exit status 0 on success. Set KEEP=1 to keep the
# temporary directory (server log, profanity logs).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WAXWING="${1:-$ROOT/target/debug/waxwing}"
PORT="${PORT:-15222}"
DIRECT_PORT="${DIRECT_PORT:-15223}"
WAIT="${WAIT:-20}"            # seconds allowed for each expected screen
# SASL mechanisms the server offers (config auth.mechanisms), e.g.
# MECHANISMS='"SCRAM-SHA-256"' to make libstrophe use SCRAM-SHA-256. Default: all.
MECHANISMS="${MECHANISMS:-}"
PASSWORD="interop-pass-1"

for tool in profanity tmux "$WAXWING"; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not found" >&2; exit 2; }
done

WORK="$(mktemp -d /tmp/waxwing-profanity.XXXXXX)"
SOCK="waxwing-prof-$$"        # private tmux server, killed on exit
SERVER_PID=""
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; server_log | tail -n 30 >&2; exit 1; }
server_log() { sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log"; }
screen() { tmux -L "$SOCK" capture-pane -p -J -S -500 -t "$1"; }

# wait_for SOURCE PATTERN DESCRIPTION: SOURCE is a tmux session name or "log".
# (grep without -q: an early exit would SIGPIPE the producer and, with
# pipefail, turn a match into a failure.)
wait_for() {
    local src="$1" pattern="$2" what="$3" deadline=$((SECONDS + WAIT))
    while [ $SECONDS -lt $deadline ]; do
        if [ "$src" = log ]; then
            server_log | grep -E -- "$pattern" >/dev/null && return 0
        else
            screen "$src" | grep -E -- "$pattern" >/dev/null && return 0
        fi
        sleep 0.3
    done
    if [ "$src" != log ]; then echo "--- screen of $src" >&2; screen "$src" | grep -v '^\s*$' | tail -n 25 >&2; fi
    fail "timed out after ${WAIT}s waiting for: $what"
}
type_in() { tmux -L "$SOCK" send-keys -t "$1" -l -- "$2"; tmux -L "$SOCK" send-keys -t "$1" Enter; }

cat >"$WORK/waxwing.toml" <<EOF
data_dir = "$WORK/data"
[c2s]
listen = ["127.0.0.1:$PORT"]
direct_tls_listen = ["127.0.0.1:$DIRECT_PORT"]
EOF
if [ -n "$MECHANISMS" ]; then printf '[auth]\nmechanisms = [%s]\n' "$MECHANISMS" >>"$WORK/waxwing.toml"; fi

"$WAXWING" --config "$WORK/waxwing.toml" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_for log "waxwing started" "server start"
"$WAXWING" --config "$WORK/waxwing.toml" user add alice@localhost "$PASSWORD" >/dev/null
"$WAXWING" --config "$WORK/waxwing.toml" user add bob@localhost "$PASSWORD" >/dev/null

start_profanity() { # NAME
    local home="$WORK/$1"
    mkdir -p "$home"
    tmux -L "$SOCK" new-session -d -s "$1" -x 220 -y 50 \
        "env HOME=$home XDG_CONFIG_HOME=$home/.config XDG_DATA_HOME=$home/.local/share TERM=xterm-256color profanity -l DEBUG"
    wait_for "$1" "Type /help for help" "profanity ($1) to start"
}

login() { # NAME PORT TLS-MODE
    local user="$1" port="$2" mode="$3"
    type_in "$user" "/connect $user@localhost server 127.0.0.1 port $port tls $mode"
    wait_for "$user" "Enter password" "$user's password prompt"
    type_in "$user" "$PASSWORD"
    wait_for "$user" "Use '/tls allow'" "$user's self-signed certificate prompt"
    type_in "$user" "/tls allow"
    wait_for "$user" "$user@localhost/[^ ]+ logged in successfully" "$user logged in"
}

start_profanity alice
start_profanity bob
login alice "$PORT" force
login bob "$DIRECT_PORT" legacy

wait_for log "session bound jid=bob@localhost/" "bob's session in the server log"
BOB_JID="$(server_log | grep -oE 'session bound jid=bob@localhost/[^ ]+' | tail -n 1 | cut -d= -f2)"
ALICE_JID="$(server_log | grep -oE 'session bound jid=alice@localhost/[^ ]+' | tail -n 1 | cut -d= -f2)"
BODY="hello bob, this is alice $$"
type_in alice "/msg $BOB_JID $BODY"
wait_for bob "chat message: $ALICE_JID" "bob notified of alice's message"
type_in bob "/win 2"
wait_for bob "$ALICE_JID: $BODY" "message body in bob's chat window"

type_in alice "/disconnect"
type_in bob "/disconnect"
wait_for alice "alice@localhost logged out successfully" "alice logged out"
wait_for bob "bob@localhost logged out successfully" "bob logged out"
wait_for log "session closed by the client jid=$ALICE_JID" "server: alice closed cleanly"
wait_for log "session closed by the client jid=$BOB_JID" "server: bob closed cleanly"
type_in alice "/quit"
type_in bob "/quit"

echo "alice ($ALICE_JID) over STARTTLS: $(server_log | grep -oE 'authenticated jid=alice@localhost mechanism="[^"]+"' | tail -n 1)"
echo "bob   ($BOB_JID) over direct TLS: $(server_log | grep -oE 'authenticated jid=bob@localhost mechanism="[^"]+"' | tail -n 1)"
echo "message delivered to the full JID; both streams closed cleanly"
echo OK
