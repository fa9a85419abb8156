#!/usr/bin/env bash
# Waxwing, Prosody and ejabberd side by side on this machine, in one run.
#
#   bench/compare.sh                 # everything, then bench/RESULTS.md
#   ROUNDS=1 IDLE_USERS=2000 bench/compare.sh   # a quicker look
#   SERVERS=waxwing SCENARIOS=presence bench/compare.sh   # one server, one scenario
#
# Installs what it needs (Debian's prosody and ejabberd, a release build of
# waxwing and waxwing-bench), gives the three servers the same domain
# (localhost), the same self-signed ECDSA P-256 certificate, the same users and
# the same TLS settings, then for each round runs every scenario against each
# server in turn (the order alternates between rounds), with the server pinned
# to CPU 0 and the load generator to CPU 1. Each server runs alone.
# The machine is shared and noisy: look at the spread, not one figure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-/tmp/waxwing-compare}"
ROUNDS="${ROUNDS:-2}"
SERVERS="${SERVERS:-waxwing prosody ejabberd}"
PORT="${PORT:-15222}"
LOGIN_USERS="${LOGIN_USERS:-2000}"
LOGIN_CONCURRENCY="${LOGIN_CONCURRENCY:-50}"
IDLE_USERS="${IDLE_USERS:-10000}"
PAIRS="${PAIRS:-50}"
WINDOW="${WINDOW:-32}"
RATE="${RATE:-2000}"
DURATION="${DURATION:-10}"
PRESENCE_USERS="${PRESENCE_USERS:-500}"
PRESENCE_CONTACTS="${PRESENCE_CONTACTS:-20}"
# Which scenarios run_round runs, in this order: idle login messages presence.
SCENARIOS="${SCENARIOS:-idle login messages presence}"
PASSWORD="bench-password"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"

# Every server (and the load generator) needs a file descriptor per session.
ulimit -n "$(ulimit -Hn)"

USERS=$(( IDLE_USERS > LOGIN_USERS ? IDLE_USERS : LOGIN_USERS ))
USERS=$(( USERS > 2 * PAIRS ? USERS : 2 * PAIRS ))
USERS=$(( USERS > PRESENCE_USERS ? USERS : PRESENCE_USERS ))
RESULTS="$WORK/results.jsonl"
WAXWING="$ROOT/target/release/waxwing"
BENCH="$ROOT/target/release/waxwing-bench"

log() { printf '\n== %s\n' "$*" >&2; }

install() {
    local missing=()
    command -v prosody >/dev/null || missing+=(prosody)
    command -v ejabberdctl >/dev/null || missing+=(ejabberd)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v openssl >/dev/null || missing+=(openssl)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Debian starts the packaged services on install; they would hold the ports and the CPU.
    pkill -x prosody 2>/dev/null || true
    pkill -f '^/usr/bin/lua.* /usr/bin/prosody' 2>/dev/null || true
    ejabberdctl stop >/dev/null 2>&1 || true
    log "building waxwing and waxwing-bench (release)"
    (cd "$ROOT" && cargo build --release -q -p waxwing -p waxwing-bench)
}

prepare() {
    mkdir -p "$WORK/certs"
    if [ ! -f "$WORK/certs/localhost.pem" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -keyout "$WORK/certs/localhost.key" -out "$WORK/certs/localhost.crt" \
            -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
        cat "$WORK/certs/localhost.key" "$WORK/certs/localhost.crt" > "$WORK/certs/localhost.pem"
        chmod 644 "$WORK/certs/"*
    fi
    mkdir -p "$WORK/waxwing" "$WORK/prosody/data" "$WORK/ejabberd/spool" "$WORK/ejabberd/logs"
    cat > "$WORK/waxwing/waxwing.toml" <<TOML
data_dir = "$WORK/waxwing/data"
log_level = "warn"
# What the other two run here (rosters, presence, disco, ping, registration):
# no archive, no carbons, no last activity. Waxwing archives every message by
# default, and that is measured separately (RESULTS.md, "Archiving on and off").
modules = ["legacy_session", "ping", "disco", "roster", "presence", "message", "offline", "register"]
[[hosts]]
domain = "localhost"
certificate = "$WORK/certs/localhost.crt"
key = "$WORK/certs/localhost.key"
[c2s]
listen = ["127.0.0.1:$PORT"]
direct_tls_listen = []
idle_timeout_secs = 3600
[auth]
# The load generator logs in thousands of times from one address.
max_failures = 1000000
TOML
    sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$PORT#g" "$ROOT/bench/servers/prosody.cfg.lua" > "$WORK/prosody/prosody.cfg.lua"
    sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$PORT#g" "$ROOT/bench/servers/ejabberd.yml" > "$WORK/ejabberd/ejabberd.yml"
    printf 'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\nEJABBERD_PID_PATH=%s/ejabberd/ejabberd.pid\n' "$WORK" > "$WORK/ejabberd/ejabberdctl.cfg"
    chown -R ejabberd "$WORK/ejabberd"
}

# As the ejabberd user directly: ejabberdctl run by root goes through `su`,
# whose PAM limits drop the open-files limit back to 1024, and ejabberd would
# refuse connections past about a thousand.
ejabberdctl_() {
    setpriv --reuid ejabberd --regid ejabberd --init-groups env HOME="$WORK/ejabberd" ejabberdctl --config "$WORK/ejabberd/ejabberd.yml" --ctl-config "$WORK/ejabberd/ejabberdctl.cfg" \
        --spool "$WORK/ejabberd/spool" --logs "$WORK/ejabberd/logs" --node wxbench@localhost "$@"
}

SERVER_PID=""
SERVER_NAME=""
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

start_server() {
    local name=$1
    # A server left over from an interrupted run would silently be measured instead.
    if port_in_use; then echo "port $PORT is already in use; stop whatever listens there" >&2; return 1; fi
    SERVER_NAME=$name
    case $name in
        waxwing) taskset -c "$SERVER_CPU" "$WAXWING" --config "$WORK/waxwing/waxwing.toml" serve 2>"$WORK/waxwing/server.log" & ;;
        prosody) taskset -c "$SERVER_CPU" prosody --config "$WORK/prosody/prosody.cfg.lua" -F >"$WORK/prosody/out.log" 2>&1 & ;;
        ejabberd) taskset -c "$SERVER_CPU" setpriv --reuid ejabberd --regid ejabberd --init-groups \
                      env HOME="$WORK/ejabberd" ejabberdctl --config "$WORK/ejabberd/ejabberd.yml" \
                      --ctl-config "$WORK/ejabberd/ejabberdctl.cfg" --spool "$WORK/ejabberd/spool" \
                      --logs "$WORK/ejabberd/logs" --node wxbench@localhost foreground >"$WORK/ejabberd/out.log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 1 120); do
        if port_in_use; then sleep 1; return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name exited at start" >&2; return 1; }
        sleep 0.5
    done
    echo "$name did not start listening on $PORT" >&2
    return 1
}

stop_server() {
    local name=$1
    if [ "$name" = ejabberd ]; then
        # The Erlang node outlives its launcher script: stop it and wait until it is gone.
        ejabberdctl_ stop >/dev/null 2>&1 || true
        for _ in $(seq 1 120); do pgrep -f 'beam.smp.*wxbench@localhost' >/dev/null || break; sleep 0.5; done
        pkill -9 -f 'beam.smp.*wxbench@localhost' 2>/dev/null || true
    fi
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    # The port must be free before the next server starts.
    for _ in $(seq 1 60); do port_in_use || return 0; sleep 0.5; done
}

# Never leave a server behind, whatever happens.
cleanup() { if [ -n "$SERVER_PID" ]; then stop_server "$SERVER_NAME"; fi; }
trap cleanup EXIT

# SCRAM-SHA-1 because it is the one SCRAM all three offer (Prosody 0.12's
# internal_hashed store keeps SHA-1 keys only).
MECHANISM="${MECHANISM:-SCRAM-SHA-1}"
bench() {
    taskset -c "$BENCH_CPU" "$BENCH" "$@" --host 127.0.0.1 --port "$PORT" --domain localhost \
        --password "$PASSWORD" --insecure --mechanism "$MECHANISM"
}

register_users() {
    local name=$1
    [ -f "$WORK/$name/.registered-$USERS" ] && return 0
    log "registering $USERS users on $name"
    start_server "$name"
    case $name in
        # Waxwing has no in-band registration yet: the admin command, on the database.
        waxwing) stop_server "$name"
                 bench register --users "$USERS" \
                     --command "$WAXWING --config $WORK/waxwing/waxwing.toml user add {user}@{domain} {password}" >/dev/null ;;
        *) bench register --users "$USERS" >/dev/null; stop_server "$name" ;;
    esac
    touch "$WORK/$name/.registered-$USERS"
}

run_round() {
    local round=$1 name=$2
    log "round $round: $name"
    start_server "$name"
    local tag="--label $name" scenario
    # Idle first (the order of $SCENARIOS is kept): memory per session is only
    # meaningful on a fresh process (a heap that already grew for other
    # scenarios absorbs new sessions).
    for scenario in $SCENARIOS; do
        case $scenario in
            idle) bench idle --users "$IDLE_USERS" --concurrency "$LOGIN_CONCURRENCY" --pid "$SERVER_PID" $tag | tee -a "$RESULTS" || echo "$name: scenario failed" >&2 ;;
            login) bench login --users "$LOGIN_USERS" --concurrency "$LOGIN_CONCURRENCY" $tag | tee -a "$RESULTS" || echo "$name: scenario failed" >&2 ;;
            messages)
                bench messages --pairs "$PAIRS" --window "$WINDOW" --duration "$DURATION" $tag | tee -a "$RESULTS" || echo "$name: scenario failed" >&2
                bench messages --pairs "$PAIRS" --rate "$RATE" --duration "$DURATION" $tag | tee -a "$RESULTS" || echo "$name: scenario failed" >&2 ;;
            # The first run also subscribes the users to each other (unmeasured);
            # later runs find the rosters complete.
            presence)
                bench presence --users "$PRESENCE_USERS" --contacts "$PRESENCE_CONTACTS" --duration "$DURATION" \
                    --concurrency "$LOGIN_CONCURRENCY" $tag | tee -a "$RESULTS" || echo "$name: scenario failed" >&2
                bench presence --users "$PRESENCE_USERS" --contacts "$PRESENCE_CONTACTS" --duration "$DURATION" \
                    --concurrency "$LOGIN_CONCURRENCY" --relogin $tag | tee -a "$RESULTS" || echo "$name: scenario failed" >&2 ;;
            *) echo "unknown scenario $scenario (SCENARIOS: idle login messages presence)" >&2 ;;
        esac
    done
    stop_server "$name"
}

install
prepare
for name in $SERVERS; do register_users "$name"; done
: > "$RESULTS"
order=($SERVERS)
for round in $(seq 1 "$ROUNDS"); do
    for name in "${order[@]}"; do run_round "$round" "$name"; done
    # Alternate the order so no server always runs first (or right after another).
    order=($(printf '%s\n' "${order[@]}" | tac))
done
log "writing bench/RESULTS.md"
python3 "$ROOT/bench/report.py" "$RESULTS" > "$ROOT/bench/RESULTS.md"
cp "$RESULTS" "$ROOT/bench/results.jsonl"   # the raw figures behind the tables
cat "$ROOT/bench/RESULTS.md"
