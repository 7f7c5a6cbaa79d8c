#!/usr/bin/env bash
# bench/replicas.sh: accepted/s and delivered/s of the relay on its spools, side by side,
# on loopback only. See bench/README.md.
#
#   S1  one relay, SQLite spool (the default)
#   P1  one relay, PostgreSQL spool
#   P2  two relays on the same PostgreSQL database, wrk's connections split over both
#
# PostgreSQL is a throwaway server started here (initdb in the work dir; as root it runs as
# the postgres user), with durable defaults (fsync on, synchronous_commit on), like the
# SQLite spool's synchronous=FULL.
#
# Usage:
#   bench/replicas.sh [--runs 3] [--duration 10] [--targets 3] [--payload FILE] [--conns 64]
#                     [--systems S1,P1,P2] [--no-build] [--keep]
#
# Environment: PORT_BASE (18100; relays +1..+4, postgres +9, sinks +11..), RELAY_LOG (warn),
# SETTLE_MAX (120 s). Every process this script starts is recorded by PID and stopped on exit.

set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

RUNS=3; DURATION=10; CONNS=64; TARGETS=3; PAYLOAD="$HERE/payload-5k.json"
SYSTEMS="S1,P1,P2"; BUILD=1; KEEP=0
PORT_BASE=${PORT_BASE:-18100}; RELAY_LOG=${RELAY_LOG:-warn}; SETTLE_MAX=${SETTLE_MAX:-120}

die() { echo "replicas.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --payload) PAYLOAD=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) awk 'NR>1 && /^$/{exit} NR>1' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -f "$PAYLOAD" ] || die "no payload file $PAYLOAD"
want() { [[ ",$SYSTEMS," == *",$1,"* ]]; }
command -v wrk >/dev/null || die "wrk is needed (apt-get install -y wrk)"
command -v curl >/dev/null || die "curl is needed"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || die "PostgreSQL is needed (apt-get install -y postgresql)"

if [ "$BUILD" = 1 ]; then
  (cd "$REPO" && cargo build --profile dist --bin switchboard) || die "build failed"
fi
RELAY_BIN=${RELAY_BIN:-$REPO/target/dist/switchboard}
SINK_BIN=${SINK_BIN:-$RELAY_BIN}   # its `sink` subcommand runs the sinks
[ -x "$RELAY_BIN" ] && [ -x "$SINK_BIN" ] || die "no release binaries (drop --no-build)"

OUT=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-replicas.XXXXXX")
PIDS=(); FAILED=0
AS_PG=(); [ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)
PG_PORT=$((PORT_BASE + 9)); PG_DATA="$OUT/pg/data"
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -f "$PG_DATA/postmaster.pid" ] && "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
  if [ "$KEEP" = 1 ] || [ "$FAILED" = 1 ]; then echo "work dir kept: $OUT" >&2; else rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
now() { echo "${EPOCHREALTIME/,/.}"; }
calc() { awk "BEGIN{printf \"%.${2:-0}f\", ($1)}"; }
wait_port() { local i; for i in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# ---- sinks and PostgreSQL -----------------------------------------------------------------
SINK_PORTS=(); for i in $(seq 1 "$TARGETS"); do SINK_PORTS+=($((PORT_BASE + 10 + i))); done
"$SINK_BIN" sink --quiet $(for p in "${SINK_PORTS[@]}"; do echo --listen "127.0.0.1:$p"; done) >"$OUT/sinks.log" 2>&1 &
PIDS+=($!)
for p in "${SINK_PORTS[@]}"; do wait_port "$p" || die "sinks did not start"; done
sink_counts() { local p out=""; for p in "${SINK_PORTS[@]}"; do
  out="$out $(curl -s --max-time 2 "http://127.0.0.1:$p/count" | sed -n 's/.*"requests": *\([0-9]*\).*/\1/p')"; done; echo $out; }
sinks_reset() { local p; for p in "${SINK_PORTS[@]}"; do curl -s -o /dev/null -X POST "http://127.0.0.1:$p/reset"; done; }

if want P1 || want P2; then
  mkdir -p "$OUT/pg"
  # the server runs as postgres: it must reach its directory through ours
  if [ "$(id -u)" = 0 ]; then chmod 755 "$OUT"; chown postgres:postgres "$OUT/pg"; fi
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale >"$OUT/initdb.log" 2>&1 \
    || { FAILED=1; die "initdb failed (see $OUT/initdb.log)"; }
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$OUT/pg/server.log" -w \
    -o "-p $PG_PORT -k $OUT/pg -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null \
    || { FAILED=1; die "postgres did not start (see $OUT/pg/server.log)"; }
fi
new_db() { # new_db NAME: an empty database, its URL
  PGOPTIONS=--client-min-messages=warning psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

# ---- relays ---------------------------------------------------------------------------------
write_routes() { # write_routes FILE PORT SPOOL
  local i all=""
  for i in $(seq 1 "$TARGETS"); do all+="${all:+, }t$i"; done
  {
    echo "server: {listen: \"127.0.0.1:$2\", admin_listen: \"off\", spool: \"$3\"}"
    echo "sources: {bench: {}}"
    echo "targets:"
    for i in $(seq 1 "$TARGETS"); do echo "  t$i: {url: \"http://127.0.0.1:${SINK_PORTS[$((i - 1))]}/t$i\"}"; done
    echo "routes:"
    echo "  - to: [$all]"
    echo "    transform: { omit: [assist.transcription, transcription] }"
  } >"$1"
}
RELAY_PIDS=()
start_relay() { # start_relay NAME PORT SPOOL
  local dir="$OUT/$1"; mkdir -p "$dir"
  write_routes "$dir/routes.yaml" "$2" "$3"
  (cd "$dir" && RUST_LOG=$RELAY_LOG exec "$RELAY_BIN" serve --config routes.yaml >"$dir/relay.log" 2>&1) &
  RELAY_PIDS+=($!); PIDS+=($!)
  wait_port "$2" || { FAILED=1; die "$1 did not start (see $dir/relay.log)"; }
}
stop_relays() { local p; for p in "${RELAY_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; RELAY_PIDS=(); }

# measure SYS PORT...: wrk on each port (connections split), then wait for the sinks
measure() {
  local sys=$1; shift
  local n=$# per=$((CONNS / $#)) port t0 t1 ok=0 non=0 res r out=() c cmin t_last prev
  sinks_reset
  t0=$(now)
  for port in "$@"; do
    wrk -t1 -c"$per" -d"${DURATION}s" --timeout 10s -s "$HERE/post-json.lua" \
      "http://127.0.0.1:$port/hooks/bench" -- "$PAYLOAD" >"$OUT/wrk-$sys-$port.log" 2>&1 &
    out+=($!)
  done
  for r in "${out[@]}"; do wait "$r"; done
  t1=$(now)
  for port in "$@"; do
    res=$(grep '^RESULT' "$OUT/wrk-$sys-$port.log" | tail -1)
    ok=$((ok + $(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$res") - $(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$res")))
    non=$((non + $(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$res")))
  done
  # delivered: until every sink has every accepted webhook (or nothing moved for 10 s)
  prev=""; t_last=$t1
  while :; do
    c=$(sink_counts); cmin=$(tr ' ' '\n' <<<"$c" | sort -n | head -1)
    [ "$c" != "$prev" ] && { prev=$c; t_last=$(now); }
    [ "${cmin:-0}" -ge "$ok" ] && break
    [ "$(calc "$(now) - $t_last >= 10")" = 1 ] && break
    [ "$(calc "$(now) - $t1 >= $SETTLE_MAX")" = 1 ] && break
    sleep 0.2
  done
  printf '  %-3s accepted %6s/s  (2xx %s, non2xx %s)  delivered %6s/s per target  (min %s of %s, %s targets)\n' \
    "$sys" "$(calc "$ok / ($t1 - $t0)")" "$ok" "$non" "$(calc "${cmin:-0} / ($t_last - $t0)")" "${cmin:-0}" "$ok" "$TARGETS" >&2
  echo "$sys,$(calc "$ok / ($t1 - $t0)"),$(calc "${cmin:-0} / ($t_last - $t0)"),$ok,$non" >>"$OUT/runs.csv"
  [ "${cmin:-0}" -ge "$ok" ] || FAILED=1
}

echo "# switchboard replicas bench: $(date -u +%FT%TZ), $(nproc) cores; ${DURATION}s x $RUNS runs, wrk -c$CONNS, $TARGETS targets, $(basename "$PAYLOAD")" >&2
echo "system,accepted_s,delivered_s,accepted,non2xx" >"$OUT/runs.csv"
for r in $(seq 1 "$RUNS"); do
  if want S1; then start_relay S1 $((PORT_BASE + 1)) "$OUT/S1/spool/switchboard.db"; measure S1 $((PORT_BASE + 1)); stop_relays; fi
  if want P1; then start_relay P1 $((PORT_BASE + 2)) "$(new_db p1_$r)"; measure P1 $((PORT_BASE + 2)); stop_relays; fi
  if want P2; then
    db=$(new_db p2_$r)
    start_relay P2a $((PORT_BASE + 3)) "$db"; start_relay P2b $((PORT_BASE + 4)) "$db"
    measure P2 $((PORT_BASE + 3)) $((PORT_BASE + 4)); stop_relays
  fi
done
echo >&2
echo "median of $RUNS runs:" >&2
median() { sort -n | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]}'; }
for s in S1 P1 P2; do
  acc=$(awk -F, -v s="$s" 'NR>1 && $1==s {print $2}' "$OUT/runs.csv" | median)
  del=$(awk -F, -v s="$s" 'NR>1 && $1==s {print $3}' "$OUT/runs.csv" | median)
  [ -n "$acc" ] && printf '  %-3s accepted %6s/s  delivered %6s/s per target\n' "$s" "$acc" "$del" >&2
done
