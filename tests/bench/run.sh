#!/usr/bin/env bash
# The delivery benchmark: runs webhooks-worker against a real nginx receiver
# and a throwaway PostgreSQL on loopback, and prints one table of figures, each
# next to a baseline measured in the same run (the machine is shared and
# noisy, so only side-by-side numbers mean anything). tests/bench/README.md
# says what every figure means.
#
#   tests/bench/run.sh [--quick] [--big] [--out FILE] [--keep]
#
#   --quick     small counts (well under 2 minutes); for CI, so the tool does
#               not rot. Never fails on a figure, only when the tool breaks.
#   --big       also run the isolation scenario with 1,000,000 black-hole rows
#   --out FILE  also write the table to FILE
#   --keep      keep the work folder (logs, nginx access log) under /tmp
#   --only LIST run only these scenarios (comma-separated: throughput,
#               isolation,tenants,lease,caps,ingest,latency,e2e,rss), for iterating on one figure
#
# WEBHOOKS_BUILD_DIR names the build to measure; without it, the script
# installs the build's dependencies and builds <repo>/build itself first.
# Everything listens on 127.0.0.1 only; every wait has a deadline.
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) fails the script too
export LC_ALL=C  # "." as the decimal point, for $EPOCHREALTIME and awk

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${WEBHOOKS_BUILD_DIR:-$root/build}
api_bin=$build/services/api/webhooks-api
worker_bin=$build/services/worker/webhooks-worker
ctl_bin=$build/services/ctl/webhooksctl
loadgen_bin=$build/tests/bench/webhooks-loadgen
# The system's python when there is one: no version-manager shim to start on
# every call.
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
echo_module=/usr/lib/nginx/modules/ngx_http_echo_module.so

usage() { sed -n '/^#   tests/,/^# WEBHOOKS_BUILD_DIR/p' "$0" | sed 's/^# \{0,1\}//'; }

mode=full big=0 out="" keep=0 only=
while (($#)); do
  case $1 in
    --quick) mode=quick ;;
    --big) big=1 ;;
    --out) out=${2:?--out needs a file}; shift ;;
    --out=*) out=${1#--out=} ;;
    --keep) keep=1 ;;
    --only) only=${2:?--only needs a list}; shift ;;
    --only=*) only=${1#--only=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[[ -z $out || $out == /* ]] || out=$PWD/$out

# Counts. Quick mode only proves the tool works end to end; its figures are
# too small to compare with anything.
if [[ $mode == quick ]]; then
  tp_n=1000 wrk_secs=2
  iso_backlog=5000 iso_n=1000 iso_reps=1
  ten_subs=8 ten_backlog=500 ten_window=5
  lease_n=1000 lease_queue=20000 lease_reps=1
  two_n=1000
  ingest_n=1000 ingest_batches=4 pgbench_secs=2
  lat_rates=(100 1000) lat_counts=(100 500) cold_n=50
  e2e_one=2000 e2e_fan=400 rss_n=2000
  wait_secs=30 # longest wait for one run's deliveries
else
  tp_n=20000 wrk_secs=5
  iso_backlog=100000 iso_n=10000 iso_reps=3
  ten_subs=8 ten_backlog=2000 ten_window=5
  lease_n=10000 lease_queue=1000000 lease_reps=3
  two_n=20000
  ingest_n=20000 ingest_batches=100 pgbench_secs=5
  lat_rates=(100 1000 5000) lat_counts=(1000 5000 10000) cold_n=200
  e2e_one=100000 e2e_fan=20000 rss_n=8000
  wait_secs=300
fi
iso_big_backlog=1000000
slow_hold=0.05 # seconds the slow receiver holds each request (caps scenario)
hz=$(getconf CLK_TCK)

want() { [[ -z $only || ,$only, == *,$1,* ]]; } # want SCENARIO

log() { echo "bench: [${SECONDS}s] $*" >&2; }
die() { log "$*"; exit 1; }

# --- what the benchmark needs -----------------------------------------------

# Idempotent, like scripts/install-deps.sh: installs only what is missing.
# nginx-light would bring nginx plus the echo module; asking for the two
# directly works whichever nginx flavour is already there.
ensure_packages() {
  local missing=() p
  for p in nginx libnginx-mod-http-echo wrk curl openssl python3 postgresql-client-15; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] ||
      missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  log "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
ensure_packages
[[ -f $echo_module ]] || die "nginx echo module missing: $echo_module"
if [[ -z ${WEBHOOKS_BUILD_DIR:-} ]]; then
  # From a clean clone, one command: the build's dependencies and the four
  # binaries the benchmark runs (the load generator is built with the tests).
  "$root/scripts/install-deps.sh" >&2
  log "building the binaries in $build"
  cmake -S "$root" -B "$build" -G Ninja -DWEBHOOKS_BUILD_TESTS=ON >/dev/null
  cmake --build "$build" --target webhooks-api webhooks-worker webhooksctl webhooks-loadgen >/dev/null
fi
for b in "$api_bin" "$worker_bin" "$ctl_bin" "$loadgen_bin"; do
  [[ -x $b ]] || die "missing $b: build it, or set WEBHOOKS_BUILD_DIR to a build that has it"
done

# --- processes, and cleaning up after them ----------------------------------

work=$(mktemp -d /tmp/webhooks-bench.XXXXXX)
chmod 755 "$work" # the postgres user and nginx's workers (nobody) work in it
rows=$work/rows.tsv
: >"$rows"
api_pid="" bh_pid="" nginx_pid=""
worker_pids=() worker_logs=() worker_ports=()

alive() { # alive PID: running, and not a zombie waiting to be reaped
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s:0:1} != Z ]]
}

# stop_pid PID SECONDS [signalled]: SIGTERM (unless already sent: a second
# one may mean "hurry"), then SIGKILL if it is still there after SECONDS.
# Sets stop_rc to its exit status when it is a child of this shell.
stop_pid() {
  local pid=$1 end=$((${EPOCHREALTIME/./} + $2 * 1000000))
  stop_rc=0
  [[ ${3:-} == signalled ]] || kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && ((${EPOCHREALTIME/./} < end)); do sleep 0.05; done
  if alive "$pid"; then
    log "pid $pid ignored SIGTERM for $2 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || stop_rc=$?
}

# stop_workers SECONDS: stops the workers of the current run, all at once
# (a drain takes up to --shutdown_grace each). A worker is expected to exit 0
# after draining; anything else is logged, not fatal: it is the code under
# test misbehaving, not the benchmark.
stop_workers() {
  local grace=$1 i
  for i in "${!worker_pids[@]}"; do kill -TERM "${worker_pids[$i]}" 2>/dev/null || true; done
  for i in "${!worker_pids[@]}"; do
    stop_pid "${worker_pids[$i]}" "$grace" signalled
    ((stop_rc == 0)) || log "worker ${worker_logs[$i]##*/} exited with status $stop_rc"
  done
  worker_pids=() worker_logs=() worker_ports=()
}

cleanup() {
  local rc=$?
  set +e
  ((${#worker_pids[@]})) && stop_workers 5
  [[ -n $api_pid ]] && stop_pid "$api_pid" 15
  [[ -n $bh_pid ]] && stop_pid "$bh_pid" 5
  if [[ -n $nginx_pid ]]; then
    # Not our child (nginx daemonizes): poll until it is gone.
    kill -TERM "$nginx_pid" 2>/dev/null
    for _ in $(seq 1 100); do alive "$nginx_pid" || break; sleep 0.05; done
    alive "$nginx_pid" && kill -KILL "$nginx_pid"
  fi
  if [[ -d $work/pg ]]; then
    "$root/scripts/pg.sh" stop "$work/pg" >/dev/null 2>&1
    [[ -f $work/pg/datadir ]] && rm -rf "$(cat "$work/pg/datadir")"
  fi
  if [[ $rc -eq 0 && $keep -eq 0 ]]; then
    rm -rf "$work"
  else
    log "work folder kept: $work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# --- small helpers ------------------------------------------------------------

now_us() { now=${EPOCHREALTIME/./}; } # sets $now, microseconds
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; } # calc EXPR [DECIMALS]
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
# row SCENARIO FIGURE VALUE BASELINE RATIO NOTE: one line of the table
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:--}" "${5:--}" "${6:-}" >>"$rows"; }

psql_db() {
  PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 "$db_url" "$@"
}

# Polls until FILE has a line matching REGEX (a process announcing itself),
# and prints the first match of the extended regex's group.
wait_log() { # wait_log FILE SED_REGEX SECONDS PID
  local end=$((${EPOCHREALTIME/./} + $3 * 1000000)) v
  while ((${EPOCHREALTIME/./} < end)); do
    v=$(sed -nE "/$2/{s//\\1/p;q}" "$1" 2>/dev/null) || v=""
    [[ -n $v ]] && { echo "$v"; return 0; }
    alive "$4" || return 1
    sleep 0.05
  done
  return 1
}

# --- PostgreSQL ----------------------------------------------------------------

server_url=$("$root/scripts/pg.sh" start "$work/pg")
datadir=$work/pg/data
[[ -f $work/pg/datadir ]] && datadir=$(cat "$work/pg/datadir")

# pg_stat_statements (ships with postgresql-15) shows which statements get
# dearer with the backlog. It must be preloaded, which pg.sh does not do:
# ALTER SYSTEM and a restart (pg_ctl keeps the port). Tracking stays off
# except during the lease scenario, so it costs the other figures nothing.
pgss=0
if [[ -f /usr/share/postgresql/15/extension/pg_stat_statements.control ]]; then
  psql -X -q "$server_url" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$datadir" -l "$datadir/server.log" -w -t 60 \
    -m fast restart >/dev/null
  # Known only once the library is loaded.
  psql -X -q "$server_url" -c "ALTER SYSTEM SET pg_stat_statements.track = 'none'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  pgss=1
fi
psql -X -q "$server_url" -c "CREATE DATABASE bench"
db_url=${server_url%/postgres}/bench
((pgss)) && psql_db -c "CREATE EXTENSION pg_stat_statements"
postmaster_pid=$(head -n 1 "$datadir/postmaster.pid")

# --- the API, for creating subscriptions the way operators do ------------------

unset WEBHOOKS_SEALING_KEY_FILE WEBHOOKS_API_TOKEN_FILE WEBHOOKS_DATABASE_URL \
  WEBHOOKS_CA_BUNDLE WEBHOOKS_ALLOW_CIDRS WEBHOOKS_METRICS_ADDR WEBHOOKS_API_ADDR
WEBHOOKS_SEALING_KEY=$(openssl rand -base64 32)
WEBHOOKS_API_TOKEN=$(openssl rand -hex 24)
export WEBHOOKS_SEALING_KEY WEBHOOKS_API_TOKEN
(umask 077 && echo "bench $WEBHOOKS_API_TOKEN *" >"$work/api_tokens")
"$api_bin" migrate --database_url="$db_url" >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log" >&2; die "migrate failed"; }
# start_api NAME: starts webhooks-api on a free port, logging to NAME.log;
# sets api_pid, api_port.
start_api() {
  "$api_bin" serve --database_url="$db_url" --api_tokens_file="$work/api_tokens" \
    --grpc_addr=127.0.0.1:0 --metrics_addr=127.0.0.1:0 ${WEBHOOKS_BENCH_API_FLAGS:-} \
    >"$work/$1.log" 2>&1 &
  api_pid=$!
  api_port=$(wait_log "$work/$1.log" '.*serving gRPC on [^ ]* \(port ([0-9]+)\).*' 20 "$api_pid") ||
    { cat "$work/$1.log" >&2; die "webhooks-api did not start"; }
}
start_api api

create_sub() { # create_sub URL [TENANT [MAX_IN_FLIGHT]]: prints the new subscription's id
  "$ctl_bin" --addr="127.0.0.1:$api_port" CreateSubscription \
    "{\"tenant_id\":\"${2:-bench}\",\"subscription\":{\"target_url\":\"$1\",\"event_types\":[\"engagement_dispatched\"],\"max_in_flight\":${3:-0}}}" \
    >"$work/sub.json" || { cat "$work/sub.json" >&2; die "CreateSubscription failed"; }
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["subscription"]["id"])' "$work/sub.json"
}

# --- TLS material: a CA made now, and a certificate for 127.0.0.1/localhost ----

tls=$work/tls
mkdir -p "$tls"
(
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=webhooks bench CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/san.ext" -out "$tls/server.pem" 2>/dev/null
)
chmod 644 "$tls/ca.pem"

# --- the receivers -------------------------------------------------------------

# nginx, daemonized with its own prefix, config and pid file; worker_processes 1.
ngx=$work/nginx
mkdir -p "$ngx"
cp "$tls/server.pem" "$tls/server.key" "$ngx/" # read by the master (root) only
for _ in 1 2 3 4 5; do
  ngx_port=$("$PY" "$here/bench.py" freeport)
  sed -e "s|@DIR@|$ngx|g" -e "s|@PORT@|$ngx_port|g" -e "s|@SLOW_SECONDS@|$slow_hold|g" \
    -e "s|@LOAD_ECHO@|load_module $echo_module;|" "$here/nginx.conf.in" >"$ngx/nginx.conf"
  if nginx -e "$ngx/error.log" -p "$ngx" -c "$ngx/nginx.conf" 2>>"$ngx/start.log"; then
    nginx_pid=$(cat "$ngx/nginx.pid")
    break
  fi
  grep -q "Address already in use" "$ngx/start.log" || { cat "$ngx/start.log" >&2; die "nginx did not start"; }
done
[[ -n $nginx_pid ]] || die "nginx found no free port"
receiver=https://127.0.0.1:$ngx_port
curl -fsS -o /dev/null --max-time 5 --cacert "$tls/ca.pem" -X POST -d '{}' "$receiver/check" ||
  die "nginx does not answer on $receiver"

# The black hole: accepts and never answers; exits by itself after an hour.
"$PY" "$here/blackhole.py" --port-file "$work/blackhole.port" \
  --status-file "$work/blackhole.status" --lifetime 3600 &
bh_pid=$!
for _ in $(seq 1 100); do [[ -s $work/blackhole.port ]] && break; sleep 0.05; done
[[ -s $work/blackhole.port ]] || die "black hole did not start"
blackhole=https://127.0.0.1:$(cat "$work/blackhole.port")

# --- deliveries ------------------------------------------------------------------

# A ~1.5 KB engagement_dispatched body of the contract's shape (psql variables
# :tag and the series value g make each one distinct, like real events).
body_sql="'{\"event\":\"engagement_dispatched\",\"event_id\":\"evt_'||:'tag'||g||'\",\"occurred_at\":\"2026-11-26T14:03:11.512Z\",\"engagement\":{\"yess_id\":\"eng_'||:'tag'||g||'\",\"channel\":\"email\",\"action\":\"new_thread_email\",\"direction\":\"outbound\",\"sent_at\":\"2026-11-26T14:03:10Z\",\"email\":{\"subject\":\"Quick question about your Q4 pipeline review\",\"from\":\"alex.morgan@example.com\",\"to\":[\"jordan.lee@example.org\"],\"thread_id\":\"thr_'||g||'\",\"message_id\":\"<msg-'||g||'@mail.example.com>\",\"body_text\":\"'||repeat('Hi Jordan, following up on our conversation last week about the pipeline review. ', 13)||'\"}}}'"

# The same body for wrk.
body_file=$work/body.json
psql_db -v tag=wrk_ <<SQL | tr -d '\n' >"$body_file"
SELECT $body_sql FROM (SELECT 1 AS g) x;
SQL
body_bytes=$(stat -c %s "$body_file")

# queue SUBSCRIPTION TAG COUNT: COUNT due deliveries (of the subscription's
# tenant), written straight into the tables (publishing them through the API would take longer than the
# benchmark). Only the columns every schema version has.
queue() {
  psql_db -v sub="$1" -v tag="$2" -v n="$3" <<SQL
INSERT INTO events (id, tenant_id, type, idempotency_key, body, occurred_at)
SELECT 'evt_'||:'tag'||g, s.tenant_id, 'engagement_dispatched', 'key_'||:'tag'||g, $body_sql, now()
FROM generate_series(1, :n) g, subscriptions s WHERE s.id = :'sub';
INSERT INTO deliveries (tenant_id, event_id, subscription_id)
SELECT s.tenant_id, 'evt_'||:'tag'||g, s.id FROM generate_series(1, :n) g, subscriptions s WHERE s.id = :'sub';
SQL
}

# Fresh statistics and no autovacuum or checkpoint debt from the inserts, so
# that neither lands in a measurement.
settle() { psql_db -c "VACUUM ANALYZE" -c "CHECKPOINT"; }

# Between scenarios: no deliveries, events or attempts left (subscriptions
# stay; each run makes its own).
reset() { psql_db -c "TRUNCATE events CASCADE" -c "CHECKPOINT"; }

# Enables or disables a subscription (its lane follows, by trigger).
set_enabled() { psql_db -c "UPDATE subscriptions SET enabled = $2 WHERE id = '$1'" >/dev/null; }
# The median of numbers.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- workers -------------------------------------------------------------------

# start_worker NAME [FLAG...]: one webhooks-worker with the flags it needs to
# reach the loopback receivers, and a metrics port of its own, which it
# announces in its log (it delivers meanwhile: the clock is already running).
start_worker() {
  local name=$1 pid port
  shift
  "$worker_bin" --database_url="$db_url" --allow_cidrs=127.0.0.0/8 --ca_bundle="$tls/ca.pem" \
    --metrics_addr=127.0.0.1:0 "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  worker_pids+=("$pid")
  worker_logs+=("$work/$name.log")
  port=$(wait_log "$work/$name.log" '.*metrics on [^ ]* \(port ([0-9]+)\).*' 10 "$pid") || port=""
  # The counter is registered at start-up: if the page still lacks it after
  # a few tries (the endpoint may answer a moment after the log line), the
  # metric was renamed, and waiting for it would wait for ever.
  if [[ -n $port ]]; then
    local tries=0 page
    while :; do
      # Read the page whole first: `curl | grep -q` can fail on a closed pipe.
      page=$(curl -s --max-time 1 "http://127.0.0.1:$port/metrics") || page=""
      grep -q '^webhooks_deliveries_total{.*outcome="delivered"' <<<"$page" && break
      if ((++tries >= 40)) || ! alive "$pid"; then port="" && break; fi
      sleep 0.05
    done
  fi
  [[ -n $port ]] || log "$name: no delivered counter on its metrics port; counting in the database"
  worker_ports+=("$port")
}

# Deliveries the running workers have made, from their own counters: costs
# the database nothing, which matters when the database's CPU is the figure.
# Prints nothing when a worker's metrics port is unknown.
metric_delivered() {
  local port total=0 v
  for port in "${worker_ports[@]}"; do
    [[ -n $port ]] || return 0
    # A failed scrape counts 0 this time; a dead worker ends the wait anyway.
    v=$(curl -s --max-time 1 "http://127.0.0.1:$port/metrics" |
      awk '/^webhooks_deliveries_total\{.*outcome="delivered"/ { s += $2 } END { printf "%d", s }') || v=0
    total=$((total + v))
  done
  echo "$total"
}

sql_delivered() { # sql_delivered SUBSCRIPTION
  psql_db -c "SELECT count(*) FROM deliveries WHERE subscription_id = '$1' AND state = 'delivered'"
}

# wait_delivered TARGET SUBSCRIPTION [metrics]: polls until TARGET
# deliveries are made, with a deadline. By default "made" means written to the
# database (the workers' counters are polled first, by one process of
# bench.py, the database only to confirm); with "metrics", the workers'
# counters alone decide. Sets
# delivered (the count reached), t_end (µs) and wait_note (empty, or why the
# wait ended early). Never fails: a slow or broken worker is a figure.
wait_delivered() {
  local target=$1 sub=$2 how=${3:-db} start end m
  start=${EPOCHREALTIME/./}
  end=$((start + wait_secs * 1000000))
  delivered=0 wait_note=""
  local specs=() i why=""
  for i in "${!worker_pids[@]}"; do
    [[ -n ${worker_ports[$i]} ]] && specs+=("${worker_pids[$i]}:${worker_ports[$i]}")
  done
  if ((${#specs[@]} > 0 && ${#specs[@]} == ${#worker_pids[@]})); then
    # Every worker has a metrics port: one Python process polls them all.
    read -r m t_end why < <("$PY" "$here/bench.py" wait "$target" "$wait_secs" "${specs[@]}")
    delivered=$m
    if [[ $why == done && $how == db ]]; then
      # Counters count what was written: the database agrees at once.
      delivered=$(sql_delivered "$sub")
      ((delivered >= target)) || why="the database has fewer"
    fi
    case $why in
      done) log "  $delivered delivered in $(calc "($t_end - $start) / 1000000" 1) s" ;;
      exited)
        wait_note="a worker exited"
        log "a worker exited early; the end of its log:"
        for i in "${!worker_pids[@]}"; do tail -n 5 "${worker_logs[$i]}" >&2; done
        ;;
      *) wait_note="${why:-the poller failed}" ;;
    esac
    if [[ -n $wait_note ]]; then
      delivered=$(sql_delivered "$sub")
      wait_note="$wait_note: $delivered of $target delivered"
      log "  $wait_note"
    fi
    return 0
  fi
  while :; do
    m=$(metric_delivered)
    if [[ -z $m ]]; then m=$(sql_delivered "$sub"); fi # no metrics port: ask the database
    delivered=$m
    if ((m >= target)); then
      [[ $how == metrics ]] && break
      delivered=$(sql_delivered "$sub")
      ((delivered >= target)) && break
    fi
    local i
    for i in "${!worker_pids[@]}"; do
      if ! alive "${worker_pids[$i]}"; then
        wait_note="a worker exited"
        log "a worker exited early; the end of its log:"
        tail -n 5 "${worker_logs[$i]}" >&2
        break 2
      fi
    done
    if ((${EPOCHREALTIME/./} >= end)); then
      wait_note="timeout after ${wait_secs}s"
      break
    fi
    sleep 0.05
  done
  now_us
  t_end=$now
  if [[ -n $wait_note ]]; then
    delivered=$(sql_delivered "$sub")
    wait_note="$wait_note: $delivered of $target delivered"
    log "  $wait_note"
  else
    log "  $delivered delivered in $(calc "($t_end - $start) / 1000000" 1) s"
  fi
}

# CPU clock ticks so far: cpu_w (the running workers), cpu_pg (the postmaster
# and every backend, including those that already exited), cpu_ngx (nginx
# master and worker).
cpu_now() {
  local specs=() pid
  for pid in "${worker_pids[@]}"; do specs+=("self:$pid"); done
  local v
  read -r -a v < <("$PY" "$here/bench.py" cpu "tree:$postmaster_pid" "tree:$nginx_pid" "${specs[@]}")
  cpu_pg=${v[0]} cpu_ngx=${v[1]} cpu_w=0
  local i
  for ((i = 2; i < ${#v[@]}; i++)); do cpu_w=$((cpu_w + v[i])); done
}
us_per() { calc "$1 * 1000000 / $hz / ($2 > 0 ? $2 : 1)" 1; } # us_per TICKS COUNT

# Waits for nginx's buffered access log (flushed every second) to hold COUNT
# requests under PREFIX, then prints bench.py's summary of them.
log_summary() { # log_summary PREFIX COUNT [SECONDS, default 5]
  local end=$((${EPOCHREALTIME/./} + ${3:-5} * 1000000)) s
  while :; do
    s=$("$PY" "$here/bench.py" log "$ngx/access.log" "$1")
    ((${s%% *} >= $2)) && break
    ((${EPOCHREALTIME/./} >= end)) && break
    sleep 0.2
  done
  echo "$s"
}

if want throughput; then
# --- 1. throughput ---------------------------------------------------------------

log "1/8 throughput: $tp_n deliveries, one worker with default flags"
sub=$(create_sub "$receiver/fast")
queue "$sub" tp_ "$tp_n"
settle
cpu_now
pg0=$cpu_pg ngx0=$cpu_ngx
now_us
t0=$now
# Default flags: only what reaching loopback needs, and a free metrics port.
start_worker tp
wait_delivered "$tp_n" "$sub"
cpu_now
hwm_kib=$("$PY" "$here/bench.py" hwm "${worker_pids[0]}")
stop_workers 30
tp_rate=$(calc "$delivered * 1000000 / ($t_end - $t0)")
tp_w=$cpu_w tp_pg=$((cpu_pg - pg0)) tp_ngx=$((cpu_ngx - ngx0))
tp_all=$((tp_w + tp_pg + tp_ngx))
read -r fast_count _ _ _ _ fast_len < <(log_summary /fast "$delivered")

# The ceiling: wrk POSTing the same body to the same nginx.
cpu_now
ngx0=$cpu_ngx
wrk -t2 -c64 -d"${wrk_secs}s" --timeout 5s -s "$here/post.lua" "$receiver/wrk" -- "$body_file" \
  >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; die "wrk failed"; }
cpu_now
wrk_rate=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$work/wrk.out")
wrk_count=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
[[ -n $wrk_rate && -n $wrk_count ]] || { cat "$work/wrk.out" >&2; die "cannot read wrk's output"; }

note=${wait_note:-"baseline: wrk -t2 -c64 POST, same body, same nginx"}
row throughput "deliveries/s, 1 worker, default flags" "$tp_rate" "$wrk_rate" "$(ratio "$tp_rate" "$wrk_rate")" "$note"
row throughput "CPU-us/delivery, worker+postgres+nginx" "$(us_per "$tp_all" "$delivered")" "" "" \
  "all processes, utime+stime from /proc"
row throughput "  CPU-us/delivery, worker" "$(us_per "$tp_w" "$delivered")"
row throughput "  CPU-us/delivery, postgres" "$(us_per "$tp_pg" "$delivered")"
ngx_us=$(us_per "$tp_ngx" "$delivered")
ngx_wrk_us=$(us_per $((cpu_ngx - ngx0)) "$wrk_count")
row throughput "  CPU-us/delivery, nginx" "$ngx_us" "$ngx_wrk_us" "$(ratio "$ngx_us" "$ngx_wrk_us")" \
  "baseline: nginx per wrk request"
row throughput "worker peak RSS, MiB" "$(calc "$hwm_kib / 1024" 1)" "" "" "VmHWM"
row throughput "POSTs at nginx per delivery" "$(ratio "$fast_count" "$delivered")" "1.00" "" \
  "mean body $(calc "$fast_len") B (Content-Length at nginx); wrk's $body_bytes B"
reset

fi

if want isolation; then
# --- 2. isolation ------------------------------------------------------------------

# S2's delivery rate alone, then behind a backlog of due deliveries to an
# endpoint that never answers (queued first, so they are the oldest due).
# Identical flags in every run; a short --shutdown_grace so stopping the
# worker does not wait out requests the black hole will never answer. As in
# the lease scenario, a run lasts a second or two: "alone" (the backlog's
# subscription disabled) and "behind" (enabled) alternate iso_reps times,
# each with a fresh S2, and the medians are reported.
iso_measure() { # iso_measure S2 TAG: sets iso_rate, iso_note
  local s2=$1 tag=$2
  settle
  now_us
  local t0=$now
  start_worker "iso_$tag" --shutdown_grace=2s
  wait_delivered "$iso_n" "$s2"
  stop_workers 10
  iso_rate=$(calc "$delivered * 1000000 / ($t_end - $t0)")
  iso_note=$wait_note
}
iso_pairs() { # iso_pairs BACKLOG TAG: sets alone_rate, iso_rate, iso_note, iso_ratios
  local backlog=$1 tag=$2 s1 s2 rep alone=() behind=() notes=""
  iso_ratios=()
  s1=$(create_sub "$blackhole/hole")
  queue "$s1" "${tag}bh_" "$backlog"
  local order kind
  for ((rep = 1; rep <= iso_reps; rep++)); do
    # Alone first in odd pairs, behind first in even ones: neither is always
    # the one that runs on a warmer cache.
    order="alone behind"
    ((rep % 2 == 0)) && order="behind alone"
    for kind in $order; do
      if [[ $kind == alone ]]; then set_enabled "$s1" false; else set_enabled "$s1" true; fi
      s2=$(create_sub "$receiver/iso/$tag/$kind$rep")
      queue "$s2" "${tag}${kind}${rep}_" "$iso_n"
      iso_measure "$s2" "${tag}_${kind}_$rep"
      notes=${notes:-$iso_note}
      if [[ $kind == alone ]]; then alone+=("$iso_rate"); else behind+=("$iso_rate"); fi
    done
    iso_ratios+=("$(ratio "${behind[-1]}" "${alone[-1]}")")
  done
  set_enabled "$s1" false
  reset
  alone_rate=$(median "${alone[@]}") iso_rate=$(median "${behind[@]}") iso_note=$notes
}

log "2/8 isolation: $iso_n deliveries alone, then behind $iso_backlog to a black hole, $iso_reps times"
iso_pairs "$iso_backlog" backlog
row isolation "S2 deliveries/s, $iso_backlog black-hole due ahead" "$iso_rate" "$alone_rate" \
  "$(ratio "$iso_rate" "$alone_rate")" \
  "${iso_note:-"baseline: S2 alone; medians of $iso_reps alternating pairs (pairs: ${iso_ratios[*]}); target ratio >= 0.90"}"
if ((big)); then
  log "2/8 isolation (--big): behind $iso_big_backlog"
  iso_pairs "$iso_big_backlog" big
  row isolation "S2 deliveries/s, $iso_big_backlog black-hole due ahead" "$iso_rate" "$alone_rate" \
    "$(ratio "$iso_rate" "$alone_rate")" \
    "${iso_note:-"baseline: S2 alone; medians of $iso_reps alternating pairs (pairs: ${iso_ratios[*]}); target ratio >= 0.90"}"
fi
peak=$(sed -nE 's/.*peak=([0-9]+).*/\1/p' "$work/blackhole.status")
row isolation "black-hole connections held, peak" "$peak" "" "" "sockets the worker kept open to it"

fi

if want tenants; then
# --- 2b. tenants ---------------------------------------------------------------------

# Tenant "hog" has $ten_subs subscriptions to the black hole (caps of 64:
# twice a worker's 256 slots in all), $ten_backlog due each, queued first;
# tenant "bench"'s S2 has $iso_n. S2's rate with default flags
# (--max_tenant_share 0.5: hog holds at most 128 slots), next to S2 alone
# (hog's subscriptions disabled), and with --max_tenant_share=1 (no bound):
# hog then takes every slot and S2 waits for hog's requests to time out, so
# that run is cut after $ten_window s and its rate is what S2 got by then.
ten_run() { # ten_run TAG [FLAG...]: sets ten_rate, ten_note
  local tag=$1 s2
  shift
  s2=$(create_sub "$receiver/tenants/$tag" bench)
  queue "$s2" "ten_${tag}_" "$iso_n"
  settle
  now_us
  local t0=$now
  start_worker "ten_$tag" --shutdown_grace=2s "$@"
  wait_delivered "$iso_n" "$s2"
  stop_workers 10
  ten_rate=$(calc "$delivered * 1000000 / ($t_end - $t0)")
  ten_note=$wait_note
}
log "2b/8 tenants: $iso_n deliveries of one tenant behind $ten_subs x $ten_backlog of another to a black hole"
hogs=()
for ((i = 1; i <= ten_subs; i++)); do
  hogs+=("$(create_sub "$blackhole/hog$i" hog 64)")
  queue "${hogs[-1]}" "hog${i}_" "$ten_backlog"
done
for h in "${hogs[@]}"; do set_enabled "$h" false; done
ten_run alone
ten_alone=$ten_rate
for h in "${hogs[@]}"; do set_enabled "$h" true; done
ten_run shared
ten_shared=$ten_rate ten_shared_note=$ten_note
saved_wait=$wait_secs
wait_secs=$ten_window
ten_run unbounded --max_tenant_share=1
wait_secs=$saved_wait
ten_unbounded=$ten_rate
for h in "${hogs[@]}"; do set_enabled "$h" false; done
reset
row tenants "S2 deliveries/s, another tenant's $((ten_subs * ten_backlog)) black-hole due ahead" \
  "$ten_shared" "$ten_alone" "$(ratio "$ten_shared" "$ten_alone")" \
  "${ten_shared_note:-"default --max_tenant_share 0.5; baseline: S2 alone (the other tenant disabled); target ratio >= 0.90"}"
row tenants "the same with --max_tenant_share=1 (no bound), first ${ten_window}s" \
  "$ten_unbounded" "$ten_alone" "$(ratio "$ten_unbounded" "$ten_alone")" \
  "the other tenant holds every slot until its requests time out"

fi

if want lease; then
# --- 3. lease cost vs backlog -----------------------------------------------------

# LEASE_N deliveries of one subscription out of a queue of LEASE_N (small),
# and LEASE_N more of another out of a queue of LEASE_QUEUE (big):
# PostgreSQL's CPU per delivery should not follow the queue's length. One run
# lasts about a second, so a moment of noise on a shared machine decides a
# single pair: the pairs alternate, lease_reps times, and the medians are
# reported (the big queue is made once and disabled while a small one runs;
# each big run takes the next LEASE_N of it). Counting stops when the
# workers' counters reach LEASE_N, so the rest of the big queue costs nothing.
lease_measure() { # lease_measure SUB TAG: sets lease_pg_us, lease_rate, lease_note
  local sub=$1 tag=$2
  settle
  if ((pgss)); then
    psql_db -c "SELECT pg_stat_statements_reset()" >/dev/null
  fi
  cpu_now
  local pg0=$cpu_pg
  now_us
  local t0=$now
  start_worker "lease_$tag"
  wait_delivered "$lease_n" "$sub" metrics
  cpu_now
  if ((pgss)); then
    psql_db -F $'\t' -c "SELECT queryid, calls, round(mean_exec_time::numeric, 3),
        left(regexp_replace(query, '\s+', ' ', 'g'), 44)
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = current_database() AND query NOT ILIKE '%pg_stat_statements%'
      ORDER BY total_exec_time DESC LIMIT 100" >"$work/statements_${tag%%_*}.tsv"
  fi
  stop_workers 30
  lease_pg_us=$(us_per $((cpu_pg - pg0)) "$delivered")
  lease_rate=$(calc "$delivered * 1000000 / ($t_end - $t0)")
  lease_note=$wait_note
}

log "3/8 lease cost: $lease_n deliveries out of $lease_n, then $lease_n more out of $lease_queue, $lease_reps times"
if ((pgss)); then
  psql_db -c "ALTER SYSTEM SET pg_stat_statements.track = 'top'" -c "SELECT pg_reload_conf()" >/dev/null
  # The reload is asynchronous: wait until a new session sees it.
  for _ in $(seq 1 100); do
    [[ $(psql_db -c "SHOW pg_stat_statements.track") == top ]] && break
    sleep 0.05
  done
fi
big_sub=$(create_sub "$receiver/lease/big")
queue "$big_sub" big_ "$lease_queue"
set_enabled "$big_sub" false
small_pgs=() small_rates=() big_pgs=() big_rates=() pair_ratios=() small_note="" lease_notes=""
for ((rep = 1; rep <= lease_reps; rep++)); do
  small_sub=$(create_sub "$receiver/lease/small$rep")
  queue "$small_sub" "small${rep}_" "$lease_n"
  lease_measure "$small_sub" "small_$rep"
  small_pgs+=("$lease_pg_us") small_rates+=("$lease_rate")
  small_note=${small_note:-$lease_note}
  set_enabled "$big_sub" true
  lease_measure "$big_sub" "big_$rep"
  set_enabled "$big_sub" false
  big_pgs+=("$lease_pg_us") big_rates+=("$lease_rate")
  lease_notes=${lease_notes:-$lease_note}
  pair_ratios+=("$(ratio "$lease_pg_us" "${small_pgs[-1]}")")
done
lease_note=$lease_notes
reset
small_pg=$(median "${small_pgs[@]}") small_rate=$(median "${small_rates[@]}")
lease_pg_us=$(median "${big_pgs[@]}") lease_rate=$(median "${big_rates[@]}")
if ((pgss)); then
  psql_db -c "ALTER SYSTEM SET pg_stat_statements.track = 'none'" -c "SELECT pg_reload_conf()" >/dev/null
fi
lease_base_note=${small_note:-"baseline: $lease_n of $lease_n queued; medians of $lease_reps alternating pairs"}
row lease "PG CPU-us/delivery, $lease_n of $lease_queue" "$lease_pg_us" "$small_pg" \
  "$(ratio "$lease_pg_us" "$small_pg")" \
  "${lease_note:-"$lease_base_note (pairs: ${pair_ratios[*]}); target ratio <= 1.2"}"
row lease "deliveries/s, $lease_n of $lease_queue" "$lease_rate" "$small_rate" \
  "$(ratio "$lease_rate" "$small_rate")" "${lease_note:-$lease_base_note}"
if ((pgss)); then
  # The dearest statements of the big run, next to the same statements' mean
  # in the small run (matched by queryid).
  while IFS=$'\t' read -r qid calls mean text; do
    base=$(awk -F'\t' -v q="$qid" '$1 == q { print $3 }' "$work/statements_small.tsv")
    row lease "  mean ms: $text" "$mean" "${base:-}" "$(ratio "$mean" "${base:-0}")" "$calls calls"
  done < <(head -n 3 "$work/statements_big.tsv")
else
  row lease "statement means" "-" "" "" "pg_stat_statements not available"
fi

fi

if want caps; then
# --- 4. two workers and the per-subscription cap ------------------------------------

# Requests to a receiver that holds each one for $slow_hold s overlap, and
# nginx's log then shows how many a subscription really had in flight at
# once, across both workers. (Against the instant receiver they would hardly
# overlap, whatever the cap.)
log "4/8 caps: $two_n deliveries of one subscription, two workers, receiver holds ${slow_hold}s"
sub=$(create_sub "$receiver/slow/two")
queue "$sub" two_ "$two_n"
settle
now_us
t0=$now
start_worker two_a
start_worker two_b
wait_delivered "$two_n" "$sub"
stop_workers 30
two_rate=$(calc "$delivered * 1000000 / ($t_end - $t0)")
two_note=$wait_note
read -r two_count _ _ two_overlap two_ms _ < <(log_summary /slow/two "$delivered")
if [[ $(psql_db -c "SELECT count(*) FROM information_schema.columns
      WHERE table_name = 'subscriptions' AND column_name = 'max_in_flight'") -eq 1 ]]; then
  cap=$(psql_db -c "SELECT max_in_flight FROM subscriptions WHERE id = '$sub'")
  cap_note="cap: the subscription's max_in_flight"
else
  cap=16
  cap_note="cap: --per_subscription_concurrency default (no max_in_flight column)"
fi
row caps "max overlapping requests, 2 workers" "$two_overlap" "$cap" "$(ratio "$two_overlap" "$cap")" \
  "${two_note:-"$cap_note; from nginx's log; ratio <= 1.00 if the cap holds"}"
row caps "deliveries/s, 2 workers, ${slow_hold}s receiver" "$two_rate" "" "" \
  "$two_count requests logged, mean $(calc "$two_ms") ms"

fi

# webhooks-loadgen, publishing through the API (scenarios 5 and 6).
loadgen() { # loadgen ARGS...: the figures line; dies when the tool fails
  "$loadgen_bin" --addr="127.0.0.1:$api_port" "$@" >"$work/loadgen.out" 2>"$work/loadgen.err" ||
    { cat "$work/loadgen.out" "$work/loadgen.err" >&2; die "loadgen failed"; }
  cat "$work/loadgen.out"
}
field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"$2"; } # field NAME LINE

if want ingest; then
# --- 5. ingest: publishing through the API, next to pgbench's equivalent ------------

# No worker runs: this is the cost of accepting events. The equivalent for
# pgbench is the API's own statement shape, one statement per publish: the
# event (a body of the same size) and its fan-out to the tenant's enabled
# subscriptions, which here is one.
log "5/8 ingest: $ingest_n single publishes (8 clients) and $ingest_batches batches of 500, each beside pgbench"
ingest_sub=$(create_sub "$receiver/ingest" ingest)
pgb_body="{\"type\":\"engagement_dispatched\",\"data\":\"$(head -c 1400 /dev/zero | tr '\0' x)\"}"
pgb_fanout="FROM ev JOIN subscriptions s ON s.tenant_id = 'ingest' AND ev.type = ANY (s.event_types)"
cat >"$work/pgb_single.sql" <<SQL
\set r random(1, 1000000000000000)
WITH ev AS (INSERT INTO events (id, tenant_id, type, idempotency_key, body, occurred_at) VALUES ('evt_pgb_' || :r, 'pgbench', 'engagement_dispatched', 'pgb_' || :r, '$pgb_body', now()) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id, type) INSERT INTO deliveries (tenant_id, event_id, subscription_id) SELECT 'ingest', ev.id, s.id $pgb_fanout;
SQL
cat >"$work/pgb_batch.sql" <<SQL
\set r random(1, 1000000000000000)
WITH ev AS (INSERT INTO events (id, tenant_id, type, idempotency_key, body, occurred_at) SELECT 'evt_pgb_' || :r || '_' || g, 'pgbench', 'engagement_dispatched', 'pgb_' || :r || '_' || g, '$pgb_body', now() FROM generate_series(1, 500) g ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id, type) INSERT INTO deliveries (tenant_id, event_id, subscription_id) SELECT 'ingest', ev.id, s.id $pgb_fanout;
SQL
pgbench_tps() { # pgbench_tps SCRIPT: transactions/s, 8 clients, durable commits
  /usr/lib/postgresql/15/bin/pgbench -n -M prepared -c 8 -j 2 -T "$pgbench_secs" \
    -f "$1" "$db_url" >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; die "pgbench failed"; }
  awk '/^tps = / { printf "%.0f", $3 }' "$work/pgbench.out"
}

pgbench_n() { sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$work/pgbench.out"; }

settle
cpu_now
pg0=$cpu_pg
pgb_single=$(pgbench_tps "$work/pgb_single.sql")
cpu_now
pgb_pg_us=$(us_per $((cpu_pg - pg0)) "$(pgbench_n)")
pg0=$cpu_pg
api0=$("$PY" "$here/bench.py" cpu "self:$api_pid")
single=$(loadgen --tenant=ingest --clients=8 --count="$ingest_n" --prefix=ing1)
cpu_now
api1=$("$PY" "$here/bench.py" cpu "self:$api_pid")
single_rate=$(field events_per_s "$single")
single_n=$(field events "$single")
row ingest "events/s, PublishEvent, 8 clients" "$single_rate" "$pgb_single" \
  "$(ratio "$single_rate" "$pgb_single")" "baseline: pgbench, the same insert + fan-out, 8 clients; target ratio >= 0.85"
row ingest "  call latency p50 / p99, ms" "$(field p50_ms "$single") / $(field p99_ms "$single")"
row ingest "  CPU-us/event, api / postgres / loadgen" \
  "$(us_per $((api1 - api0)) "$single_n") / $(us_per $((cpu_pg - pg0)) "$single_n") / $(calc "$(field cpu_us "$single") / $single_n" 1)" \
  "" "" "all on the same 2 cores; pgbench's client costs next to nothing"
row ingest "  CPU-us/transaction, postgres under pgbench" "$pgb_pg_us" "" "" \
  "what the baseline's PostgreSQL pays per event, at its higher rate"
# The floor under PublishEvent: the same calls and bodies, refused by the API
# before it touches the database. No publish can cost the API and its client
# less than this.
floor=$(loadgen --tenant=ingest --clients=8 --count="$ingest_n" --prefix=floor --refused)
api2=$("$PY" "$here/bench.py" cpu "self:$api_pid")
floor_n=$(field events "$floor")
row ingest "calls/s, PublishEvent refused before the database, 8 clients" \
  "$(field events_per_s "$floor")" "" "" "the RPC layer alone: gRPC, auth, parsing, validation"
row ingest "  CPU-us/call, api / loadgen" \
  "$(us_per $((api2 - api1)) "$floor_n") / $(calc "$(field cpu_us "$floor") / $floor_n" 1)" "" "" \
  "the API's and its client's floor per publish, with no database work"
settle
pgb_batch=$(pgbench_tps "$work/pgb_batch.sql")
batch=$(loadgen --tenant=ingest --clients=8 --batch=500 --count=$((ingest_batches * 500)) --prefix=ing2)
batch_rate=$(field events_per_s "$batch")
row ingest "events/s, PublishEvents of 500, 8 clients" "$batch_rate" "$((pgb_batch * 500))" \
  "$(ratio "$batch_rate" "$((pgb_batch * 500))")" "baseline: pgbench, the same 500-row statement, 8 clients; target >= 30000/s"
row ingest "  call latency p50 / p99, ms" "$(field p50_ms "$batch") / $(field p99_ms "$batch")"
# Neither its backlog nor its subscription may reach the next scenario's worker.
psql_db -c "UPDATE subscriptions SET enabled = false WHERE id = '$ingest_sub'" >/dev/null
reset
fi

if want latency; then
# --- 6. latency: publish -> received, paced, one worker with default flags ----------

log "6/8 latency: the first $cold_n publishes after an API start, then publish -> received at ${lat_rates[*]} events/s"
lat_sub=$(create_sub "$receiver/lat" lat)
settle
start_worker lat
lat_seen=0
lat_row() { # lat_row LABEL EVENTS_FILE LOADGEN_LINE COUNT
  lat_seen=$((lat_seen + $4))
  # A rate above what the machine can publish and deliver leaves a backlog
  # behind the last publish: wait for it.
  log_summary /lat "$lat_seen" "$wait_secs" >/dev/null
  local l
  read -r -a l < <("$PY" "$here/bench.py" latency "$2" "$ngx/access.log")
  row latency "$1: publish->received p50 / p95 / p99, ms" "${l[2]} / ${l[3]} / ${l[4]}" "" "" \
    "max ${l[5]} ms; ${l[0]} received, ${l[1]} missing; call p50 / p99 $(field p50_ms "$3") / $(field p99_ms "$3") ms"
}
# A cold start first, before any other traffic: the API's first publishes
# after it starts (the worker is already running).
stop_pid "$api_pid" 15
start_api api_cold
line=$(loadgen --tenant=lat --clients=8 --rate=100 --count="$cold_n" --prefix=cold \
  --events_out="$work/cold.events")
lat_row "first $cold_n after start, 100/s" "$work/cold.events" "$line" "$cold_n"
for i in "${!lat_rates[@]}"; do
  r=${lat_rates[$i]} n=${lat_counts[$i]}
  line=$(loadgen --tenant=lat --clients=8 --rate="$r" --count="$n" --prefix="lat$r" \
    --events_out="$work/lat$r.events")
  lat_row "$r/s" "$work/lat$r.events" "$line" "$n"
done
stop_workers 30
reset
fi

if want e2e; then
# --- 7. end to end: publishing and delivering at once ---------------------------

# Batches of 500 from 4 publishers while one worker with default flags
# delivers; the clock runs from the first publish to the last delivery.
log "7/8 end to end: $e2e_one events to one subscription, then $e2e_fan fanned out to 5, published while delivered"
e2e_run() { # e2e_run LABEL TENANT EVENTS DELIVERIES SUB
  settle
  start_worker "e2e_$2"
  now_us
  t0=$now
  cpu_now
  local pg0=$cpu_pg ngx0=$cpu_ngx line
  api0=$("$PY" "$here/bench.py" cpu "self:$api_pid")
  "$loadgen_bin" --addr="127.0.0.1:$api_port" --tenant="$2" --clients=4 --batch=500 \
    --count="$3" --prefix="$2" >"$work/e2e_$2.out" 2>&1 &
  local lg=$!
  wait_delivered "$4" "$5" metrics
  wait "$lg" || { cat "$work/e2e_$2.out" >&2; die "loadgen failed"; }
  line=$(cat "$work/e2e_$2.out")
  cpu_now
  api1=$("$PY" "$here/bench.py" cpu "self:$api_pid")
  stop_workers 30
  local all=$((cpu_w + cpu_pg - pg0 + cpu_ngx - ngx0 + api1 - api0))
  row e2e "$1: deliveries/s" "$(calc "$delivered * 1000000 / ($t_end - $t0)")" "" "" \
    "${wait_note:-"published at $(field events_per_s "$line") events/s (PublishEvents of 500, 4 clients)"}"
  row e2e "  CPU-us/delivery, api+postgres+worker+nginx" "$(us_per "$all" "$delivered")" "" "" \
    "loadgen apart: $(calc "$(field cpu_us "$line") / ($delivered > 0 ? $delivered : 1)" 1)"
}
e2e_sub=$(create_sub "$receiver/e2e/one" e2e1)
e2e_run "$e2e_one events, 1 subscription" e2e1 "$e2e_one" "$e2e_one" "$e2e_sub"
reset
for k in 1 2 3 4 5; do e2e_sub=$(create_sub "$receiver/e2e/fan$k" e2e5); done
e2e_run "$e2e_fan events x 5 subscriptions" e2e5 "$e2e_fan" $((e2e_fan * 5)) "$e2e_sub"
reset
fi

if want rss; then
# --- 8. memory with 2,000 requests in flight --------------------------------------

# Four subscriptions of cap 500 to a receiver that holds each request a
# second (/hold/), one worker with --concurrency=2000.
log "8/8 memory: $rss_n deliveries, 4 subscriptions of cap 500, one worker with --concurrency=2000"
for k in 1 2 3 4; do
  sub=$(create_sub "$receiver/hold/rss$k" rss 500)
  queue "$sub" "rss${k}_" $((rss_n / 4))
done
settle
start_worker rss --concurrency=2000
wait_delivered "$rss_n" "$sub" metrics
hwm_kib=$("$PY" "$here/bench.py" hwm "${worker_pids[0]}")
stop_workers 30
read -r _ _ _ rss_overlap _ _ < <(log_summary /hold/rss "$delivered")
row rss "worker peak RSS, MiB" "$(calc "$hwm_kib / 1024" 1)" "" "" \
  "${wait_note:-"VmHWM; target <= 100 MiB with 2,000 in flight"}"
row rss "  most requests in flight at nginx" "$rss_overlap" "2000" "$(ratio "$rss_overlap" 2000)" \
  "from nginx's log"
reset
fi

# --- the table -------------------------------------------------------------------

{
  echo "webhooks delivery benchmark, $mode mode, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, build $build"
  "$PY" "$here/bench.py" table "$rows"
} >"$work/table.txt"
cat "$work/table.txt"
[[ -z $out ]] || cp "$work/table.txt" "$out"
