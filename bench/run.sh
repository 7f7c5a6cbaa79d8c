#!/usr/bin/env bash
# bench/run.sh: Switchboard side by side with its ingress ceiling and nginx's
# mirror fan-out, on loopback only, in one run. See bench/README.md.
#
#   A   `switchboard sink` answering 202 itself: the ingress ceiling (no fan-out)
#   B   nginx: proxy_pass to sink 1 + mirror to sinks 2..N (keepalive upstreams)
#   R   switchboard, generated routes.yaml (topic / has / catch-all with omit), commit_batch 512
#   R1  the same relay with commit_batch: 1 (group commit off)
#
# Usage:
#   bench/run.sh [--runs 3] [--duration 10] [--targets 1|3|10] [--payload FILE]
#                [--systems A,B,R,R1] [--conns 64] [--wrk-threads 2]
#                [--latency] [--latency-only --latency-rate N] [--no-build] [--no-warmup]
#                [--out DIR] [--keep]
#
#   --targets N     sinks, nginx mirrors and relay targets (default 3)
#   --payload FILE  body to POST (default bench/payload-5k.json; also bench/payload-2k.json,
#                   tests/fixtures/large-transcription.json for the 200 KB point)
#   --latency       after the throughput runs: p50/p99 at half of R's median accepted/s,
#                   paced with wrk's delay() (see post-json.lua), for B, R and R1
#   --latency-rate N  use N req/s as "R's peak" (with --latency-only: skip throughput)
#   --keep          keep the work dir (logs, configs, spools, runs.csv); default: removed
#                   unless something failed
#
# Environment: PORT_BASE (18000; A=+0 B=+1 R=+2 R1=+3, relay admin +4 +5, sinks +11..+10+N), NGINX_WORKERS (2),
# RELAY_LOG (RUST_LOG of the relays, default info: the product default, one line per
# webhook and per delivery), SETTLE_MAX (120 s), RELAY_BIN (skip lookup), SINK_BIN (the
# switchboard binary whose `sink` runs the sinks; default RELAY_BIN),
# RELAY_SERVER_EXTRA (lines added under `server:` of the relays' routes.yaml, e.g.
# $'  window: 1024' to try a setting).
# Ports must be free: the script checks and stops otherwise.
#
# Every process this script starts is recorded by PID and stopped on exit (trap);
# nothing else is signalled.

set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

RUNS=3; DURATION=10; CONNS=64; WRK_THREADS=2; TARGETS=3
PAYLOAD="$HERE/payload-5k.json"; SYSTEMS="A,B,R,R1"
LATENCY=0; LATENCY_ONLY=0; LATENCY_RATE=""; BUILD=1; WARMUP=1; KEEP=0; OUT=""
PORT_BASE=${PORT_BASE:-18000}; NGINX_WORKERS=${NGINX_WORKERS:-2}
RELAY_LOG=${RELAY_LOG:-info}; SETTLE_MAX=${SETTLE_MAX:-120}

die() { echo "run.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --payload) PAYLOAD=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --wrk-threads) WRK_THREADS=$2; shift 2 ;;
    --latency) LATENCY=1; shift ;;
    --latency-only) LATENCY=1; LATENCY_ONLY=1; shift ;;
    --latency-rate) LATENCY_RATE=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-warmup) WARMUP=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) awk 'NR>1 && /^$/{exit} NR>1' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$TARGETS" in ''|*[!0-9]*) die "--targets needs a number" ;; esac
[ "$TARGETS" -ge 1 ] && [ "$TARGETS" -le 50 ] || die "--targets must be 1..50"
[ -f "$PAYLOAD" ] || die "no payload file $PAYLOAD"
PAYLOAD=$(cd "$(dirname "$PAYLOAD")" && pwd)/$(basename "$PAYLOAD")
want() { [[ ",$SYSTEMS," == *",$1,"* ]]; }
if [ "$LATENCY_ONLY" = 1 ] && [ -z "$LATENCY_RATE" ]; then die "--latency-only needs --latency-rate N"; fi

# ---- tools ------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=()
have wrk || missing+=(wrk)
have curl || missing+=(curl)
if want B; then have nginx || missing+=(nginx); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get ..." >&2
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null; } \
    || die "could not install ${missing[*]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v python3 >/dev/null || die "python3 is needed (routes generation)"

# ---- build -------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  echo "building: cargo build --profile dist --bin switchboard" >&2
  (cd "$REPO" && cargo build --profile dist --bin switchboard) || die "build failed"
fi
TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') || TARGET_DIR="$REPO/target"
RELAY_BIN=${RELAY_BIN:-$TARGET_DIR/dist/switchboard}
SINK_BIN=${SINK_BIN:-$RELAY_BIN}
[ -x "$RELAY_BIN" ] || die "no relay binary at $RELAY_BIN"
[ -x "$SINK_BIN" ] || die "no sink binary at $SINK_BIN"

# ---- ports -------------------------------------------------------------------------
PORT_A=$((PORT_BASE + 0)); PORT_B=$((PORT_BASE + 1)); PORT_R=$((PORT_BASE + 2)); PORT_R1=$((PORT_BASE + 3))
ADMIN_R=$((PORT_BASE + 4)); ADMIN_R1=$((PORT_BASE + 5))   # the relays' admin listeners (metrics)
SINK_PORTS=(); for i in $(seq 1 "$TARGETS"); do SINK_PORTS+=($((PORT_BASE + 10 + i))); done
port_busy() {
  if command -v ss >/dev/null; then [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ] && return 0; fi
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for p in "$PORT_A" "$PORT_B" "$PORT_R" "$PORT_R1" "$ADMIN_R" "$ADMIN_R1" "${SINK_PORTS[@]}"; do
  port_busy "$p" && die "port $p is in use (set PORT_BASE to a free range)"
done

# ---- work dir and process bookkeeping: only PIDs started here are ever signalled ----
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
mkdir -p "$OUT"
CSV="$OUT/runs.csv"; LAT_CSV="$OUT/latency.csv"; FAILED=0
PIDS=()
stop_pid() { # stop_pid PID: TERM, wait up to 15 s, then KILL
  local pid=$1 i p keep=()
  if kill -TERM "$pid" 2>/dev/null; then
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  for p in "${PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done; PIDS=("${keep[@]}")
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  if [ "$KEEP" = 1 ] || [ "$FAILED" = 1 ]; then echo "work dir kept: $OUT" >&2
  else rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # wait_port PORT PID [SECONDS]: the process is alive and the port accepts
  local port=$1 pid=$2 t=${3:-30} i
  for i in $(seq 1 $((t * 10))); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

CLK_TCK=$(getconf CLK_TCK)
tree_pids() { echo "$1"; ps -o pid= --ppid "$1" 2>/dev/null; }
cpu_ticks() { # utime+stime of PID and its direct children (nginx workers)
  local s=0 p f
  for p in $(tree_pids "$1"); do
    f=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) || continue
    s=$((s + ${f:-0}))
  done
  echo "$s"
}
mem_mb() { # mem_mb PID VmRSS|VmHWM: summed over PID and its direct children, MB
  local s=0 p k
  for p in $(tree_pids "$1"); do
    k=$(awk -v f="$2:" '$1==f{print $2}' "/proc/$p/status" 2>/dev/null); s=$((s + ${k:-0}))
  done
  awk -v k="$s" 'BEGIN{printf "%.1f", k/1024}'
}
now() { echo "${EPOCHREALTIME/,/.}"; }
calc() { awk "BEGIN{printf \"%.${2:-3}f\", ($1)}"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ---- sinks ---------------------------------------------------------------------------
COUNT_URLS=(); for p in "${SINK_PORTS[@]}"; do COUNT_URLS+=("http://127.0.0.1:$p/count"); done
sink_counts() { # the sinks' request counts, space-separated, in port order
  local u out=""
  for u in "${COUNT_URLS[@]}"; do
    out="$out $(curl -s --max-time 2 "$u" | sed -n 's/.*"requests": *\([0-9]*\).*/\1/p')"
  done
  echo $out
}
sinks_reset() { local p; for p in "${SINK_PORTS[@]}"; do curl -s --max-time 2 -o /dev/null -X POST "http://127.0.0.1:$p/reset"; done; }
# settle EXPECTED T_END: wait until the counts stop moving; prints "T_LAST_CHANGE COUNT..."
# Done when every sink has >= EXPECTED and nothing moved for 1 s, or nothing moved for
# 8 s (a stall: retries back off up to 5 s at first), or after SETTLE_MAX seconds.
settle() {
  local expected=$1 t_end=$2 prev="" cur t t_last all c
  t_last=$t_end
  while :; do
    cur=$(sink_counts); t=$(now)
    if [ "$cur" != "$prev" ]; then t_last=$t; prev=$cur; fi
    all=1; for c in $cur; do [ "$c" -ge "$expected" ] || all=0; done
    [ "$(echo "$cur" | wc -w)" -eq "$TARGETS" ] || all=0
    if [ "$all" = 1 ] && [ "$(calc "$t - $t_last >= 1.0" 0)" = 1 ]; then break; fi
    if [ "$(calc "$t - $t_last >= 8" 0)" = 1 ]; then break; fi
    if [ "$(calc "$t - $t_end >= $SETTLE_MAX" 0)" = 1 ]; then break; fi
    sleep 0.1
  done
  echo "$t_last $cur"
}

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# switchboard bench: $(date -u +%FT%TZ)  host $(nproc) cores, load $START_LOAD" >&2
echo "# runs=$RUNS duration=${DURATION}s wrk -t$WRK_THREADS -c$CONNS targets=$TARGETS payload=$(basename "$PAYLOAD") ($(wc -c <"$PAYLOAD") bytes) systems=$SYSTEMS work=$OUT" >&2
echo "# git $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO" && git diff --quiet 2>/dev/null || echo '+dirty'); $(wrk -v 2>&1 | head -1 | cut -c1-40); $("$NGINX" -v 2>&1)" >&2

"$SINK_BIN" sink --quiet $(for p in "${SINK_PORTS[@]}"; do echo --listen "127.0.0.1:$p"; done) >"$OUT/sinks.log" 2>&1 &
SINKS_PID=$!; PIDS+=("$SINKS_PID")
for p in "${SINK_PORTS[@]}"; do wait_port "$p" "$SINKS_PID" 10 || { FAILED=1; die "sinks did not start (see $OUT/sinks.log)"; }; done

# ---- A: the sink answering 202 ----------------------------------------------------------
declare -A PID URL CHECK IDLE_RSS
if want A; then
  "$SINK_BIN" sink --quiet --listen "127.0.0.1:$PORT_A" --status 202 >"$OUT/A.log" 2>&1 &
  PID[A]=$!; PIDS+=("${PID[A]}")
  wait_port "$PORT_A" "${PID[A]}" 10 || { FAILED=1; die "A: sink did not start (see $OUT/A.log)"; }
  URL[A]="http://127.0.0.1:$PORT_A/hooks/bench"; CHECK[A]=0
fi

# ---- B: nginx mirror fan-out ---------------------------------------------------------------
if want B; then
  NGX="$OUT/nginx"; mkdir -p "$NGX/tmp"
  ups=""; mirrors=""; locs=""
  for i in $(seq 1 "$TARGETS"); do
    ups+="    upstream sink$i { server 127.0.0.1:${SINK_PORTS[$((i - 1))]}; keepalive 128; keepalive_requests 1000000; }"$'\n'
    if [ "$i" -gt 1 ]; then
      mirrors+="            mirror /_mirror$i;"$'\n'
      locs+="        location = /_mirror$i {
            internal;
            proxy_set_header Connection \"\";
            proxy_set_header X-Target sink$i;
            proxy_pass http://sink$i\$request_uri;
        }"$'\n'
    fi
  done
  conf=$(<"$HERE/nginx-fanout.conf.tmpl")
  conf=${conf//@WORKERS@/$NGINX_WORKERS}; conf=${conf//@PORT@/$PORT_B}
  conf=${conf//@UPSTREAMS@/$ups}; conf=${conf//@MIRRORS@/$mirrors}; conf=${conf//@MIRROR_LOCATIONS@/$locs}
  printf '%s\n' "$conf" >"$NGX/nginx.conf"
  "$NGINX" -p "$NGX/" -e stderr -c nginx.conf >"$OUT/B.log" 2>&1 &
  PID[B]=$!; PIDS+=("${PID[B]}")
  wait_port "$PORT_B" "${PID[B]}" 10 || { FAILED=1; die "B: nginx did not start (see $OUT/B.log)"; }
  URL[B]="http://127.0.0.1:$PORT_B/hooks/bench"; CHECK[B]=1
fi

# ---- R, R1: the relay ----------------------------------------------------------------------
# The payload's first topic and where topics live (payload-5k: assist.topics; sipgate
# layout: assist.summary.topics).
read -r TOPIC_PATH TOPIC < <(python3 - "$PAYLOAD" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
a = doc.get("assist") or {}
s = a.get("summary")
for path, topics in (("assist.topics[*]", a.get("topics")),
                     ("assist.summary.topics[*]", s.get("topics") if isinstance(s, dict) else None)):
    if isinstance(topics, list) and topics and isinstance(topics[0], str):
        print(path, json.dumps(topics[0]))
        break
else:
    print("assist.summary.topics[*]", '"no-topic-in-payload"')
EOF
)
write_routes() { # write_routes FILE PORT COMMIT_BATCH SPOOL [ADMIN_PORT]
  local f=$1 i all=""
  for i in $(seq 1 "$TARGETS"); do all+="${all:+, }t$i"; done
  {
    echo "# generated by bench/run.sh"
    echo "server:"
    echo "  listen: 127.0.0.1:$2"
    echo "  spool: $4"
    echo "  commit_batch: $3"
    [ -n "${5:-}" ] && echo "  admin_listen: 127.0.0.1:$5"
    [ -n "${RELAY_SERVER_EXTRA:-}" ] && printf '%s\n' "$RELAY_SERVER_EXTRA"
    echo "sources:"
    echo "  bench:"
    echo "    fields:"
    echo "      topics: \"$TOPIC_PATH\""
    echo "targets:"
    for i in $(seq 1 "$TARGETS"); do
      echo "  t$i:"
      echo "    url: http://127.0.0.1:${SINK_PORTS[$((i - 1))]}/t$i"
    done
    echo "routes:"
    echo "  - name: by-topic"
    echo "    when: { topic: $TOPIC }"
    echo "    to: [t1]"
    echo "  - name: has-summary"
    echo "    when: { has: assist.summary }"
    echo "    to: [t$([ "$TARGETS" -ge 2 ] && echo 2 || echo 1)]"
    echo "  # every target gets every webhook (first matching route wins per target)"
    echo "  - name: catch-all"
    echo "    to: [$all]"
    echo "    transform: { omit: [assist.transcription, transcription] }"
  } >"$f"
}
start_relay() { # start_relay NAME PORT COMMIT_BATCH ADMIN_PORT
  local name=$1 dir="$OUT/$1"
  mkdir -p "$dir"
  # admin_listen (metrics, status API) on its own port; a relay without that key gets none
  write_routes "$dir/routes.yaml" "$2" "$3" "$dir/spool/switchboard.db" "$4"
  if ! "$RELAY_BIN" check --config "$dir/routes.yaml" >"$dir/check.log" 2>&1 && grep -q admin_listen "$dir/check.log"; then
    write_routes "$dir/routes.yaml" "$2" "$3" "$dir/spool/switchboard.db"
  fi
  "$RELAY_BIN" check --config "$dir/routes.yaml" >"$dir/check.log" 2>&1 \
    || { FAILED=1; cat "$dir/check.log" >&2; die "$name: config rejected"; }
  (cd "$dir" && RUST_LOG=$RELAY_LOG exec "$RELAY_BIN" serve --config routes.yaml >"$OUT/$name.log" 2>&1) &
  PID[$name]=$!; PIDS+=("${PID[$name]}")
  wait_port "$2" "${PID[$name]}" 30 || { FAILED=1; die "$name: relay did not start (see $OUT/$name.log)"; }
  URL[$name]="http://127.0.0.1:$2/hooks/bench"; CHECK[$name]=1
}
want R && start_relay R "$PORT_R" 512 "$ADMIN_R"
want R1 && start_relay R1 "$PORT_R1" 1 "$ADMIN_R1"
sleep 1
for s in R R1; do
  if [ -n "${PID[$s]:-}" ]; then IDLE_RSS[$s]=$(mem_mb "${PID[$s]}" VmRSS); echo "# $s idle RSS ${IDLE_RSS[$s]} MB (pid ${PID[$s]})" >&2; fi
done
[ -n "${PID[R]:-}" ] && echo "# routes (R): $(grep -c '^  - name' "$OUT/R/routes.yaml") routes, topic $TOPIC at $TOPIC_PATH; see $OUT/R/routes.yaml" >&2

# ---- one measurement ---------------------------------------------------------------------
kv() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2"; }
# measure SYS RUN DELAY_MS(0 = unpaced) CSVFILE: prints one line, appends one CSV row
measure() {
  local sys=$1 run=$2 delay=$3 csv=$4 pid=${PID[$1]} url=${URL[$1]} check=${CHECK[$1]}
  local c0 c1 c2 t0 t1 res load
  load=$(load1)
  [ "$check" = 1 ] && sinks_reset
  c0=$(cpu_ticks "$pid"); t0=$(now)
  res=$(WRK_DELAY_MS=$delay timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s \
        -s "$HERE/post-json.lua" "$url" -- "$PAYLOAD" 2>&1 | tee -a "$OUT/wrk.log" | grep '^RESULT' | tail -1)
  t1=$(now); c1=$(cpu_ticks "$pid")
  if [ -z "$res" ]; then
    echo "  $sys run $run: wrk gave no result (see $OUT/wrk.log)" >&2; FAILED=1; return
  fi
  local n non2xx errs secs ok acc p50 p99 max
  n=$(kv requests "$res"); non2xx=$(kv non2xx "$res"); errs=$(kv errors "$res"); secs=$(kv secs "$res")
  p50=$(kv p50_ms "$res"); p99=$(kv p99_ms "$res"); max=$(kv max_ms "$res")
  ok=$((n - non2xx)); acc=$(calc "$ok / $secs" 0)
  local deliv="-" lag="-" cmin="-" cmax="-" verdict="-" settled counts c t_last
  if [ "$check" = 1 ]; then
    settled=$(settle "$ok" "$t1"); t_last=${settled%% *}; counts=${settled#* }
    [ "$counts" = "$settled" ] && counts=""
    cmin=""; cmax=""
    for c in $counts; do
      { [ -z "$cmin" ] || [ "$c" -lt "$cmin" ]; } && cmin=$c
      { [ -z "$cmax" ] || [ "$c" -gt "$cmax" ]; } && cmax=$c
    done
    if [ "$(echo "$counts" | wc -w)" -ne "$TARGETS" ]; then verdict=NO-COUNT; FAILED=1
    elif [ "$cmin" -ge "$ok" ]; then verdict=ok
    else verdict="SHORT$((cmin - ok))"; [[ "$sys" == R* ]] && FAILED=1
    fi
    lag=$(calc "$t_last - $t1" 2)
    deliv=$(calc "${cmin:-0} / ($t_last - $t0)" 0)
  fi
  c2=$(cpu_ticks "$pid")
  local cores cpu_us rss hwm
  cores=$(calc "($c1 - $c0) / $CLK_TCK / ($t1 - $t0)" 2)
  cpu_us=$(calc "($c2 - $c0) / $CLK_TCK * 1000000 / ($ok > 0 ? $ok : 1)" 0)
  rss=$(mem_mb "$pid" VmRSS); hwm=$(mem_mb "$pid" VmHWM)
  printf '  %-3s run %s  accepted %7s/s  p50 %8s ms  p99 %8s ms  2xx=%s non2xx=%s err=%s  sinks min/max %s/%s %s  deliv %s/s  lag %ss  cores %s  cpu %s us/req  rss %s MB (peak %s)  load %s\n' \
    "$sys" "$run" "$acc" "$p50" "$p99" "$ok" "$non2xx" "$errs" "$cmin" "$cmax" "$verdict" "$deliv" "$lag" "$cores" "$cpu_us" "$rss" "$hwm" "$load" >&2
  echo "$sys,$run,$acc,$p50,$p99,$max,$ok,$non2xx,$errs,$cmin,$cmax,$verdict,$deliv,$lag,$cores,$cpu_us,$rss,$hwm,$load,$delay" >>"$csv"
}
HEADER="system,run,accepted_s,p50_ms,p99_ms,max_ms,accepted,non2xx,errors,sink_min,sink_max,check,delivered_s,lag_s,cores,cpu_us_per_req,rss_mb,peak_rss_mb,load1,delay_ms"

ORDER=(); for s in A B R R1; do want "$s" && [ -n "${PID[$s]:-}" ] && ORDER+=("$s"); done
median() { sort -g | awk '{a[NR]=$1} END{if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col_median() { # col_median CSV SYS COLUMN
  awk -F, -v s="$2" -v c="$3" 'NR>1 && $1==s && $c!="" && $c!="-" {print $c}' "$1" | median
}

# ---- throughput: runs interleaved A B R R1, A B R R1, ... ------------------------------------
if [ "$LATENCY_ONLY" = 0 ]; then
  echo "$HEADER" >"$CSV"
  if [ "$WARMUP" = 1 ]; then
    echo "# warm-up: 2 s per system (not counted)" >&2
    for s in "${ORDER[@]}"; do
      timeout 40 wrk -t"$WRK_THREADS" -c"$CONNS" -d2s -s "$HERE/post-json.lua" "${URL[$s]}" -- "$PAYLOAD" >/dev/null 2>&1
      [ "${CHECK[$s]}" = 1 ] && settle 0 "$(now)" >/dev/null
    done
  fi
  for r in $(seq 1 "$RUNS"); do
    for s in "${ORDER[@]}"; do measure "$s" "$r" 0 "$CSV"; done
  done
fi

# ---- latency at half of R's peak ----------------------------------------------------------------
if [ "$LATENCY" = 1 ]; then
  peak=${LATENCY_RATE:-}
  if [ -z "$peak" ] && [ -f "$CSV" ]; then peak=$(col_median "$CSV" R 3); fi
  if [ -z "$peak" ] || [ "$peak" = "-" ]; then
    echo "# latency: skipped (no R throughput measured; give --latency-rate N)" >&2
  else
    rate=$(calc "$peak / 2" 0)
    [ "$rate" -ge 1 ] || rate=1
    echo "$HEADER" >"$LAT_CSV"
    echo "# latency: target $rate req/s (half of R's $peak), wrk -c$CONNS paced by delay(); p99 without coordinated-omission correction" >&2
    declare -A DELAY
    for s in B R R1; do
      want "$s" && [ -n "${PID[$s]:-}" ] || continue
      # pilot: the cycle of a connection is delay + latency; measure the latency share, then correct
      d0=$(calc "$CONNS * 1000 / $rate" 2)
      res=$(WRK_DELAY_MS=$d0 timeout 40 wrk -t"$WRK_THREADS" -c"$CONNS" -d3s -s "$HERE/post-json.lua" "${URL[$s]}" -- "$PAYLOAD" 2>&1 | grep '^RESULT')
      r0=$(kv rps "$res")
      [ "${CHECK[$s]}" = 1 ] && settle 0 "$(now)" >/dev/null
      if [ -n "$r0" ] && [ "$(calc "$r0 > 0" 0)" = 1 ]; then
        DELAY[$s]=$(awk -v d0="$d0" -v c="$CONNS" -v r0="$r0" 'BEGIN{d = d0 - (c * 1000 / r0 - d0); if (d < 0) d = 0; printf "%.2f", d}')
      else DELAY[$s]=$d0; fi
      echo "#   $s: pilot ${r0:-?} req/s at delay $d0 ms -> delay ${DELAY[$s]} ms" >&2
    done
    for r in $(seq 1 "$RUNS"); do
      for s in B R R1; do
        [ -n "${DELAY[$s]:-}" ] && measure "$s" "$r" "${DELAY[$s]}" "$LAT_CSV"
      done
    done
  fi
fi

# ---- summary ------------------------------------------------------------------------------------
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
summary() { # summary CSV TITLE
  local csv=$1 s
  echo
  echo "$2"
  printf '%-4s %11s %9s %9s %12s %8s %6s %10s %9s %9s  %s\n' system "accepted/s" "p50 ms" "p99 ms" "delivered/s" "lag s" cores "cpu us/req" "idle MB" "peak MB" check
  for s in A B R R1; do
    awk -F, -v s="$s" 'NR>1 && $1==s' "$csv" | grep -q . || continue
    local checks
    checks=$(awk -F, -v s="$s" 'NR>1 && $1==s {print $12}' "$csv" | sort | uniq -c | awk '{printf "%s%s x%s", (NR>1?", ":""), $2, $1}')
    printf '%-4s %11s %9s %9s %12s %8s %6s %10s %9s %9s  %s\n' "$s" \
      "$(col_median "$csv" "$s" 3)" "$(col_median "$csv" "$s" 4)" "$(col_median "$csv" "$s" 5)" \
      "$(col_median "$csv" "$s" 13)" "$(col_median "$csv" "$s" 14)" "$(col_median "$csv" "$s" 15)" \
      "$(col_median "$csv" "$s" 16)" "${IDLE_RSS[$s]:--}" \
      "$(awk -F, -v s="$s" 'NR>1 && $1==s {print $18}' "$csv" | sort -g | tail -1)" "$checks"
  done
}
ratio() { # ratio CSV SYS1 SYS2 COLUMN
  local a b; a=$(col_median "$1" "$2" "$4"); b=$(col_median "$1" "$3" "$4")
  if [ "$a" = "-" ] || [ "$b" = "-" ] || [ "$(calc "$b == 0" 0)" = 1 ]; then echo "-"; else calc "$a / $b" 2; fi
}
{
  if [ -f "$CSV" ] && [ "$LATENCY_ONLY" = 0 ]; then
    echo
    echo "Per run (throughput): $CSV"
    column -s, -t <"$CSV" 2>/dev/null || cat "$CSV"
    summary "$CSV" "Medians of $RUNS x ${DURATION}s, wrk -t$WRK_THREADS -c$CONNS, $(basename "$PAYLOAD") ($(wc -c <"$PAYLOAD") B), $TARGETS targets:"
    echo
    echo "R/B  accepted/s $(ratio "$CSV" R B 3)   delivered/s $(ratio "$CSV" R B 13)   cpu us/req $(ratio "$CSV" R B 16)"
    echo "R1/R accepted/s $(ratio "$CSV" R1 R 3)   delivered/s $(ratio "$CSV" R1 R 13)   cpu us/req $(ratio "$CSV" R1 R 16)   (R1 = commit_batch 1: group commit off)"
    echo "R/A  accepted/s $(ratio "$CSV" R A 3)   (A = the sink answering 202 itself: the ingress ceiling)"
  fi
  if [ -f "$LAT_CSV" ]; then
    echo
    echo "Per run (latency, paced): $LAT_CSV"
    column -s, -t <"$LAT_CSV" 2>/dev/null || cat "$LAT_CSV"
    summary "$LAT_CSV" "Latency at ~half of R's peak, target $rate req/s (paced wrk -c$CONNS, medians of $RUNS x ${DURATION}s; accepted/s is the achieved rate):"
    for s in B R R1; do
      a=$(col_median "$LAT_CSV" "$s" 3); [ "$a" = "-" ] && continue
      pct=$(calc "100 * $a / $rate" 0)
      if [ "$pct" -lt 90 ]; then echo "  $s reached only $pct% of the target rate: it is saturated there, so its latency is that of overload, not of half load"
      else echo "  $s reached $pct% of the target rate"; fi
    done
  fi
  echo
  echo "cores = CPU of the system under test during wrk (nginx: master + workers); cpu us/req = its CPU from wrk start"
  echo "until the sinks settled, per accepted request; delivered/s = fewest requests at one sink / (wrk start -> counts settled);"
  echo "lag = wrk end -> last count change (0.1 s polls); peak MB = VmHWM (cumulative over runs); check ok = every sink got >= wrk's 2xx."
  echo "load average at start: $START_LOAD; at end: $END_LOAD ($(nproc) cores; wrk, sinks and the system under test share them)"
}
[ "$FAILED" = 1 ] && echo "run.sh: some runs failed or were short (see above); work dir kept" >&2
exit 0
