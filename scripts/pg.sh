#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for local runs and tests.
#
#   scripts/pg.sh start STATE_DIR   start (or reuse) a cluster; prints its URL
#   scripts/pg.sh stop STATE_DIR    stop it
#   scripts/pg.sh url STATE_DIR     print the URL of a running cluster
#   scripts/pg.sh restart STATE_DIR pg_ctl restart -m fast (same port)
#   scripts/pg.sh down STATE_DIR    stop it fast, keeping its port for "up"
#   scripts/pg.sh up STATE_DIR      start it again on the same port
#
# restart, down and up are for fault tests: clients see the server go away
# and come back at the same address.
#
# The server listens on 127.0.0.1 only, on a free port, with no Unix socket.
# STATE_DIR/url holds the connection URL. Data lives in STATE_DIR/data, or,
# when the server's user cannot reach that folder (root running from a home
# directory the postgres user cannot enter), in a folder under /tmp that
# STATE_DIR/datadir points to. As root the server runs as the postgres user,
# since initdb and postgres refuse to run as root.
set -euo pipefail

cmd=${1:-}
state=${2:-}
[[ -n "$cmd" && -n "$state" ]] || { echo "usage: $0 start|stop|url STATE_DIR" >&2; exit 2; }

pgbin=/usr/lib/postgresql/15/bin
[[ -x "$pgbin/pg_ctl" ]] || { echo "PostgreSQL 15 is not installed (run scripts/install-deps.sh)" >&2; exit 1; }

as_server() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

datadir() {
  if [[ -f "$state/datadir" ]]; then cat "$state/datadir"; else echo "$state/data"; fi
}

running() {
  local d; d=$(datadir)
  [[ -f "$d/PG_VERSION" ]] && as_server "$pgbin/pg_ctl" -D "$d" status >/dev/null 2>&1
}

start() {
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  if running && [[ -f "$state/url" ]]; then cat "$state/url"; return 0; fi

  local d; d=$(datadir)
  if [[ ! -f "$d/PG_VERSION" ]]; then
    d="$state/data"
    mkdir -p "$d"
    if [[ $(id -u) -eq 0 ]]; then
      chown postgres: "$d"
      if ! runuser -u postgres -- test -w "$d"; then
        d=$(mktemp -d /tmp/webhooks-pg.XXXXXX)
        chown postgres: "$d"
        echo "$d" > "$state/datadir"
      fi
    fi
    as_server "$pgbin/initdb" -D "$d" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$state/initdb.log" 2>&1 || { cat "$state/initdb.log" >&2; exit 1; }
    # Throwaway clusters trade durability for speed; never use these settings
    # for data you keep.
    cat >>"$d/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
  fi

  local log="$d/server.log"
  for _ in $(seq 1 20); do
    local port=$((20000 + RANDOM % 40000))
    if as_server "$pgbin/pg_ctl" -D "$d" -l "$log" -w -t 30 -o "-p $port" start >/dev/null 2>&1; then
      echo "postgresql://postgres@127.0.0.1:$port/postgres" > "$state/url"
      cat "$state/url"
      return 0
    fi
    # A port taken by someone else: try another. Anything else: report it.
    if ! tail -n 20 "$log" 2>/dev/null | grep -q "could not bind\|Address already in use"; then
      tail -n 20 "$log" >&2 || true
      exit 1
    fi
  done
  echo "no free port found for PostgreSQL" >&2
  exit 1
}

stop() {
  [[ -d "$state" ]] || return 0
  local d; d=$(datadir)
  if running; then as_server "$pgbin/pg_ctl" -D "$d" -m fast -w stop >/dev/null; fi
  rm -f "$state/url"
}

# Fault-test controls: the URL (and so the port) stays.
restart() {
  running || { echo "not running: $state" >&2; exit 1; }
  as_server "$pgbin/pg_ctl" -D "$(datadir)" -m fast -w -t 30 restart >/dev/null
}
down() {
  running || { echo "not running: $state" >&2; exit 1; }
  as_server "$pgbin/pg_ctl" -D "$(datadir)" -m fast -w stop >/dev/null
}
up() {
  [[ -f "$state/url" ]] || { echo "no URL kept in $state" >&2; exit 1; }
  local port; port=$(sed -E 's|.*:([0-9]+)/.*|\1|' "$state/url")
  local d; d=$(datadir)
  as_server "$pgbin/pg_ctl" -D "$d" -l "$d/server.log" -w -t 30 -o "-p $port" start >/dev/null
}

case "$cmd" in
  start) start ;;
  restart) restart ;;
  down) down ;;
  up) up ;;
  stop) stop ;;
  url) running && cat "$state/url" ;;
  *) echo "unknown command: $cmd" >&2; exit 2 ;;
esac
